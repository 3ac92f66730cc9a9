"""Frozen calibrated formatbooks.  Each is a named constant with its provenance; `quant.learn_formatbook`
produces new ones, and `python -m quant.learn_cli` regenerates this file's entries from calibration data."""
from __future__ import annotations
