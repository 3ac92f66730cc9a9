"""Frozen calibrated formatbooks, registered on import (quant.formatbook() imports this module lazily).

Each entry is a named constant with its provenance, produced by `quant.learn.learn_formatbook(...)` (through
quant/calibrate.py) and printed by `quant.learn.freeze_source(book)`, pasted below with the calibration settings
that reproduce it (`sim calibrate-book --out FILE` writes both; tests/test_study.py checks the book's shape and
provenance, and a slow test re-runs the calibration and compares every dialect).

dialect8-b16 / dialect16-b16 [ours]: books for block 16 learned from scratch (no base book; the 16-dialect book
extends the 8-dialect one, as greedy search does) on the same kind of calibration data cut into blocks of 16, for
the bit-fair dialect variants (docs/formats.md#shared-exponents); reproduce with `python3 -m bench.bitfair_books`.
dialectfp4-32-b16 / dialectfp4-64-b16 [ours]: DialectFP4 (ids 0-15 unchanged) extended on the same blocks of 16;
reproduce with `python3 -m bench.bitfair_books --base dialectfp4 --sizes 32,64`.

dialectfp4-32 [ours]: the default D=32 book of SemanticDialect (docs/formats.md#dialectfp4-32) -- DialectFP4's 16 dialects
(ids 0-15 unchanged) plus 16 grids chosen greedily to minimize lut_argmin error on the inputs of the FULL
linears of the shipped tiny VDiT, sampled in FP on CALIBRATION prompts only (never the evaluation prompts).
"""
from __future__ import annotations

from .formatbooks import Dialect, Formatbook, register_formatbook  # noqa: F401  (used by pasted entries)

# dialectfp4-32 calibration: 390000 blocks of 32 from vdit/checkpoints/tiny.safetensors; reproduce with
# `sim calibrate-book --out FILE` (tests/test_study.py, marked slow, checks it).
DIALECTFP4_32_CALIBRATION = {
    'prompts': 24,
    'steps': 10,
    'seeds': [0],
    'guidance': 6.0,
    'row_stride': 128,
    'recipe': 'semanticdialect',
    'size': 32,
    'base': 'dialectfp4',
    'name': 'dialectfp4-32',
    'checkpoint_sha256': '0c091835df38e719dda36df69c0bda23ab6edc9eda85c906d54804cc9ba75335',
}
# dialectfp4-32: 32 dialects.
# Provenance: [ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base dialectfp4 (16 dialects) + 16 learned; lut_argmin calibration error 11729029 -> 9332289 (quarter-units^2) on 390000 blocks of 32: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 24 calibration prompts, seeds [0], 10 steps, guidance 6.0; inputs of 40 FULL linears, 400 calls, every 128th row
_DIALECTFP4_32_DIALECTS = (
    ('d0', (0, 1, 2, 3, 4, 6, 11, 15)),
    ('d1', (0, 1, 2, 3, 4, 6, 9, 15)),
    ('d2', (0, 1, 2, 3, 4, 6, 11, 14)),
    ('d3', (0, 1, 2, 3, 4, 6, 9, 14)),
    ('d4', (0, 1, 2, 3, 4, 6, 10, 13)),
    ('d5', (0, 1, 2, 3, 4, 6, 8, 13)),
    ('d6', (0, 1, 2, 3, 4, 6, 10, 12)),
    ('d7', (0, 1, 2, 3, 4, 6, 8, 12)),
    ('d8', (0, 1, 2, 3, 4, 6, 9, 11)),
    ('d9', (0, 1, 2, 3, 4, 6, 7, 11)),
    ('d10', (0, 1, 2, 3, 4, 6, 9, 10)),
    ('d11', (0, 1, 2, 3, 4, 6, 7, 10)),
    ('d12', (0, 1, 2, 3, 4, 6, 8, 9)),
    ('d13', (0, 1, 2, 3, 4, 6, 7, 9)),
    ('d14', (0, 1, 2, 3, 4, 6, 7, 8)),
    ('d15', (0, 1, 2, 3, 4, 5, 6, 8)),
    ('d16', (0, 1, 3, 5, 7, 9, 11, 14)),
    ('d17', (0, 2, 4, 6, 8, 10, 12, 15)),
    ('d18', (0, 1, 2, 3, 5, 7, 9, 11)),
    ('d19', (0, 1, 2, 3, 4, 5, 7, 10)),
    ('d20', (0, 1, 2, 4, 6, 8, 10, 13)),
    ('d21', (0, 1, 2, 3, 5, 6, 8, 10)),
    ('d22', (0, 1, 2, 3, 5, 7, 9, 13)),
    ('d23', (0, 1, 2, 3, 5, 7, 10, 15)),
    ('d24', (0, 1, 2, 4, 5, 7, 9, 12)),
    ('d25', (0, 1, 2, 3, 4, 5, 7, 9)),
    ('d26', (0, 1, 3, 5, 7, 9, 12, 15)),
    ('d27', (0, 2, 4, 5, 7, 9, 11, 14)),
    ('d28', (0, 1, 3, 4, 6, 8, 10, 14)),
    ('d29', (0, 1, 2, 3, 4, 5, 8, 11)),
    ('d30', (0, 1, 2, 4, 5, 6, 8, 10)),
    ('d31', (0, 1, 3, 5, 6, 8, 10, 12)),
)
DIALECTFP4_32 = register_formatbook(Formatbook(
    'dialectfp4-32',
    tuple(Dialect(n, h) for n, h in _DIALECTFP4_32_DIALECTS),
    provenance='[ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base dialectfp4 (16 dialects) + 16 learned; lut_argmin calibration error 11729029 -> 9332289 (quarter-units^2) on 390000 blocks of 32: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 24 calibration prompts, seeds [0], 10 steps, guidance 6.0; inputs of 40 FULL linears, 400 calls, every 128th row',
))

# dialect8-b16, dialect16-b16, dialectfp4-32-b16 and dialectfp4-64-b16 calibration: 936000 blocks of 16 from
# vdit/checkpoints/tiny.safetensors;
# reproduce with `python3 -m bench.bitfair_books` (prints the same source).
DIALECT_B16_CALIBRATION = {
    'prompts': 12,
    'steps': 6,
    'seeds': [0],
    'guidance': 6.0,
    'row_stride': 32,
    'recipe': 'nvfp4',
    'block': 16,
    'checkpoint_sha256': '0c091835df38e719dda36df69c0bda23ab6edc9eda85c906d54804cc9ba75335',
}
# dialect8-b16: 8 dialects.
# Provenance: [ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base (none) (0 dialects) + 8 learned; lut_argmin calibration error nan -> 12711029 (quarter-units^2) on 936000 blocks of 16: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 12 calibration prompts, seeds [0], 6 steps, guidance 6.0; inputs of 40 FULL linears, 240 calls, every 32th row
_DIALECT8_B16_DIALECTS = (
    ('d0', (0, 1, 3, 5, 7, 9, 11, 14)),
    ('d1', (0, 1, 2, 4, 6, 8, 10, 13)),
    ('d2', (0, 1, 2, 3, 4, 5, 7, 9)),
    ('d3', (0, 2, 3, 4, 6, 8, 11, 15)),
    ('d4', (0, 1, 2, 3, 5, 7, 10, 12)),
    ('d5', (0, 2, 4, 5, 7, 9, 12, 15)),
    ('d6', (0, 1, 2, 3, 5, 6, 8, 10)),
    ('d7', (0, 1, 2, 3, 4, 6, 9, 11)),
)
DIALECT8_B16 = register_formatbook(Formatbook(
    'dialect8-b16',
    tuple(Dialect(n, h) for n, h in _DIALECT8_B16_DIALECTS),
    provenance='[ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base (none) (0 dialects) + 8 learned; lut_argmin calibration error nan -> 12711029 (quarter-units^2) on 936000 blocks of 16: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 12 calibration prompts, seeds [0], 6 steps, guidance 6.0; inputs of 40 FULL linears, 240 calls, every 32th row',
))

# dialect16-b16: 16 dialects.
# Provenance: [ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base (none) (0 dialects) + 16 learned; lut_argmin calibration error nan -> 11521473 (quarter-units^2) on 936000 blocks of 16: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 12 calibration prompts, seeds [0], 6 steps, guidance 6.0; inputs of 40 FULL linears, 240 calls, every 32th row
_DIALECT16_B16_DIALECTS = (
    ('d0', (0, 1, 3, 5, 7, 9, 11, 14)),
    ('d1', (0, 1, 2, 4, 6, 8, 10, 13)),
    ('d2', (0, 1, 2, 3, 4, 5, 7, 9)),
    ('d3', (0, 2, 3, 4, 6, 8, 11, 15)),
    ('d4', (0, 1, 2, 3, 5, 7, 10, 12)),
    ('d5', (0, 2, 4, 5, 7, 9, 12, 15)),
    ('d6', (0, 1, 2, 3, 5, 6, 8, 10)),
    ('d7', (0, 1, 2, 3, 4, 6, 9, 11)),
    ('d8', (0, 1, 2, 4, 5, 7, 10, 15)),
    ('d9', (0, 1, 2, 3, 4, 6, 8, 13)),
    ('d10', (0, 2, 4, 6, 8, 10, 12, 15)),
    ('d11', (0, 1, 2, 4, 5, 7, 8, 11)),
    ('d12', (0, 2, 3, 5, 7, 9, 11, 13)),
    ('d13', (0, 1, 3, 4, 6, 7, 8, 10)),
    ('d14', (0, 1, 3, 5, 8, 10, 13, 15)),
    ('d15', (0, 1, 3, 4, 5, 6, 8, 12)),
)
DIALECT16_B16 = register_formatbook(Formatbook(
    'dialect16-b16',
    tuple(Dialect(n, h) for n, h in _DIALECT16_B16_DIALECTS),
    provenance='[ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base (none) (0 dialects) + 16 learned; lut_argmin calibration error nan -> 11521473 (quarter-units^2) on 936000 blocks of 16: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 12 calibration prompts, seeds [0], 6 steps, guidance 6.0; inputs of 40 FULL linears, 240 calls, every 32th row',
))

# dialectfp4-32-b16: 32 dialects.
# Provenance: [ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base dialectfp4 (16 dialects) + 16 learned; lut_argmin calibration error 15130373 -> 10810681 (quarter-units^2) on 936000 blocks of 16: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 12 calibration prompts, seeds [0], 6 steps, guidance 6.0; inputs of 40 FULL linears, 240 calls, every 32th row
_DIALECTFP4_32_B16_DIALECTS = (
    ('d0', (0, 1, 2, 3, 4, 6, 11, 15)),
    ('d1', (0, 1, 2, 3, 4, 6, 9, 15)),
    ('d2', (0, 1, 2, 3, 4, 6, 11, 14)),
    ('d3', (0, 1, 2, 3, 4, 6, 9, 14)),
    ('d4', (0, 1, 2, 3, 4, 6, 10, 13)),
    ('d5', (0, 1, 2, 3, 4, 6, 8, 13)),
    ('d6', (0, 1, 2, 3, 4, 6, 10, 12)),
    ('d7', (0, 1, 2, 3, 4, 6, 8, 12)),
    ('d8', (0, 1, 2, 3, 4, 6, 9, 11)),
    ('d9', (0, 1, 2, 3, 4, 6, 7, 11)),
    ('d10', (0, 1, 2, 3, 4, 6, 9, 10)),
    ('d11', (0, 1, 2, 3, 4, 6, 7, 10)),
    ('d12', (0, 1, 2, 3, 4, 6, 8, 9)),
    ('d13', (0, 1, 2, 3, 4, 6, 7, 9)),
    ('d14', (0, 1, 2, 3, 4, 6, 7, 8)),
    ('d15', (0, 1, 2, 3, 4, 5, 6, 8)),
    ('d16', (0, 1, 3, 5, 7, 9, 11, 14)),
    ('d17', (0, 2, 4, 6, 8, 10, 12, 15)),
    ('d18', (0, 1, 2, 4, 5, 7, 9, 11)),
    ('d19', (0, 1, 3, 5, 6, 8, 10, 13)),
    ('d20', (0, 2, 3, 5, 7, 9, 12, 15)),
    ('d21', (0, 1, 2, 3, 5, 7, 8, 10)),
    ('d22', (0, 1, 2, 4, 5, 7, 10, 13)),
    ('d23', (0, 1, 3, 5, 6, 8, 11, 15)),
    ('d24', (0, 2, 3, 4, 5, 6, 8, 10)),
    ('d25', (0, 1, 3, 4, 5, 7, 9, 12)),
    ('d26', (0, 2, 4, 6, 8, 11, 13, 15)),
    ('d27', (0, 2, 3, 5, 7, 9, 11, 13)),
    ('d28', (0, 1, 2, 4, 6, 8, 10, 14)),
    ('d29', (0, 1, 2, 3, 4, 5, 6, 9)),
    ('d30', (0, 1, 3, 5, 7, 10, 13, 15)),
    ('d31', (0, 1, 2, 3, 4, 5, 8, 11)),
)
DIALECTFP4_32_B16 = register_formatbook(Formatbook(
    'dialectfp4-32-b16',
    tuple(Dialect(n, h) for n, h in _DIALECTFP4_32_B16_DIALECTS),
    provenance='[ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base dialectfp4 (16 dialects) + 16 learned; lut_argmin calibration error 15130373 -> 10810681 (quarter-units^2) on 936000 blocks of 16: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 12 calibration prompts, seeds [0], 6 steps, guidance 6.0; inputs of 40 FULL linears, 240 calls, every 32th row',
))

# dialectfp4-64-b16: 64 dialects.
# Provenance: [ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base dialectfp4 (16 dialects) + 48 learned; lut_argmin calibration error 15130373 -> 9933101 (quarter-units^2) on 936000 blocks of 16: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 12 calibration prompts, seeds [0], 6 steps, guidance 6.0; inputs of 40 FULL linears, 240 calls, every 32th row
_DIALECTFP4_64_B16_DIALECTS = (
    ('d0', (0, 1, 2, 3, 4, 6, 11, 15)),
    ('d1', (0, 1, 2, 3, 4, 6, 9, 15)),
    ('d2', (0, 1, 2, 3, 4, 6, 11, 14)),
    ('d3', (0, 1, 2, 3, 4, 6, 9, 14)),
    ('d4', (0, 1, 2, 3, 4, 6, 10, 13)),
    ('d5', (0, 1, 2, 3, 4, 6, 8, 13)),
    ('d6', (0, 1, 2, 3, 4, 6, 10, 12)),
    ('d7', (0, 1, 2, 3, 4, 6, 8, 12)),
    ('d8', (0, 1, 2, 3, 4, 6, 9, 11)),
    ('d9', (0, 1, 2, 3, 4, 6, 7, 11)),
    ('d10', (0, 1, 2, 3, 4, 6, 9, 10)),
    ('d11', (0, 1, 2, 3, 4, 6, 7, 10)),
    ('d12', (0, 1, 2, 3, 4, 6, 8, 9)),
    ('d13', (0, 1, 2, 3, 4, 6, 7, 9)),
    ('d14', (0, 1, 2, 3, 4, 6, 7, 8)),
    ('d15', (0, 1, 2, 3, 4, 5, 6, 8)),
    ('d16', (0, 1, 3, 5, 7, 9, 11, 14)),
    ('d17', (0, 2, 4, 6, 8, 10, 12, 15)),
    ('d18', (0, 1, 2, 4, 5, 7, 9, 11)),
    ('d19', (0, 1, 3, 5, 6, 8, 10, 13)),
    ('d20', (0, 2, 3, 5, 7, 9, 12, 15)),
    ('d21', (0, 1, 2, 3, 5, 7, 8, 10)),
    ('d22', (0, 1, 2, 4, 5, 7, 10, 13)),
    ('d23', (0, 1, 3, 5, 6, 8, 11, 15)),
    ('d24', (0, 2, 3, 4, 5, 6, 8, 10)),
    ('d25', (0, 1, 3, 4, 5, 7, 9, 12)),
    ('d26', (0, 2, 4, 6, 8, 11, 13, 15)),
    ('d27', (0, 2, 3, 5, 7, 9, 11, 13)),
    ('d28', (0, 1, 2, 4, 6, 8, 10, 14)),
    ('d29', (0, 1, 2, 3, 4, 5, 6, 9)),
    ('d30', (0, 1, 3, 5, 7, 10, 13, 15)),
    ('d31', (0, 1, 2, 3, 4, 5, 8, 11)),
    ('d32', (0, 1, 2, 4, 5, 7, 9, 15)),
    ('d33', (0, 2, 4, 6, 7, 9, 11, 14)),
    ('d34', (0, 1, 2, 3, 5, 7, 9, 12)),
    ('d35', (0, 1, 3, 4, 5, 7, 8, 10)),
    ('d36', (0, 1, 3, 5, 6, 7, 9, 11)),
    ('d37', (0, 1, 2, 3, 4, 5, 7, 14)),
    ('d38', (0, 2, 4, 5, 7, 8, 10, 12)),
    ('d39', (0, 2, 3, 5, 6, 8, 9, 11)),
    ('d40', (0, 2, 3, 5, 8, 10, 12, 14)),
    ('d41', (0, 1, 3, 4, 6, 8, 10, 15)),
    ('d42', (0, 1, 2, 4, 5, 6, 8, 10)),
    ('d43', (0, 1, 2, 4, 6, 9, 12, 15)),
    ('d44', (0, 2, 3, 4, 5, 7, 9, 13)),
    ('d45', (0, 1, 3, 4, 6, 8, 10, 12)),
    ('d46', (0, 2, 4, 5, 7, 9, 11, 15)),
    ('d47', (0, 2, 4, 5, 6, 7, 9, 10)),
    ('d48', (0, 1, 2, 4, 5, 6, 8, 12)),
    ('d49', (0, 1, 2, 3, 4, 5, 7, 10)),
    ('d50', (0, 1, 3, 4, 6, 8, 11, 14)),
    ('d51', (0, 2, 3, 5, 6, 8, 10, 15)),
    ('d52', (0, 1, 2, 4, 5, 7, 8, 9)),
    ('d53', (0, 1, 2, 3, 5, 6, 8, 11)),
    ('d54', (0, 1, 2, 3, 5, 8, 13, 15)),
    ('d55', (0, 1, 2, 4, 6, 7, 9, 13)),
    ('d56', (0, 2, 4, 7, 9, 11, 13, 15)),
    ('d57', (0, 1, 3, 5, 7, 10, 12, 14)),
    ('d58', (0, 2, 3, 4, 5, 7, 9, 11)),
    ('d59', (0, 2, 4, 6, 8, 9, 11, 13)),
    ('d60', (0, 1, 3, 5, 7, 8, 11, 13)),
    ('d61', (0, 1, 2, 3, 5, 6, 7, 9)),
    ('d62', (0, 1, 2, 3, 4, 5, 7, 12)),
    ('d63', (0, 1, 2, 4, 6, 8, 10, 11)),
)
DIALECTFP4_64_B16 = register_formatbook(Formatbook(
    'dialectfp4-64-b16',
    tuple(Dialect(n, h) for n, h in _DIALECTFP4_64_B16_DIALECTS),
    provenance='[ours] learn_formatbook: greedy search over 6435 8-level half-unit grids; base dialectfp4 (16 dialects) + 48 learned; lut_argmin calibration error 15130373 -> 9933101 (quarter-units^2) on 936000 blocks of 16: VDiT checkpoint vdit/checkpoints/tiny.safetensors sha256 0c091835df38e719, FP sampling of the first 12 calibration prompts, seeds [0], 6 steps, guidance 6.0; inputs of 40 FULL linears, 240 calls, every 32th row',
))
