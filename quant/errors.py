"""Error types whose messages say what was wrong, where, and what to do."""
from __future__ import annotations


class QuantError(ValueError):
    """Base class for bad input to the quantization library."""


class UnknownNameError(QuantError, KeyError):
    def __init__(self, kind: str, name, valid):
        self.kind, self.name, self.valid = kind, name, list(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(map(str, self.valid))}")

    def __str__(self):  # KeyError would otherwise quote the message
        return self.args[0]


class NonFiniteError(QuantError):
    def __init__(self, tensor: str, row: int, block: int, value):
        self.tensor, self.row, self.block = tensor, row, block
        super().__init__(
            f"non-finite value {value!r} in tensor {tensor!r} at row {row}, block {block} "
            f"(pass nonfinite='saturate' to clamp to the format's largest magnitude instead)"
        )


class ShapeError(QuantError):
    pass
