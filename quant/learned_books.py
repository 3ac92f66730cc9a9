"""Frozen calibrated formatbooks, registered on import (quant.formatbook() imports this module lazily).

Each entry is a named constant with its provenance, produced by `quant.learn.learn_formatbook(...)` and printed
by `quant.learn.freeze_source(book)`; paste that block below.  No book is registered yet: the default D=32 book
is learned from VDiT activations in a later step, and a book learned from arbitrary data must not pose as it.
"""
from __future__ import annotations

from .formatbooks import Dialect, Formatbook, register_formatbook  # noqa: F401  (used by pasted entries)
