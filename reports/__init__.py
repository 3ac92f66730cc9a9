"""reports: tidy tables -> CSV, figures -> PDF, and the run manifest.  Reads results; computes nothing new."""
from .io import atomic_write_bytes, atomic_write_csv, atomic_write_json, atomic_write_text
from .manifest import build_manifest

__all__ = ["atomic_write_bytes", "atomic_write_csv", "atomic_write_json", "atomic_write_text", "build_manifest"]
