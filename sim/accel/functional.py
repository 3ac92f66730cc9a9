"""The accelerator's functional back end, built from a design (ArchSpec): quantized GEMMs on the PE array's
datapath (datapath_pe.py) and online activation quantization on the LUT unit (datapath_frontend.py,
datapath_lut.py), returning the same bits as the NumPy reference (quant/gemm.py, quant/selectors.py).

    be = backend_for(load_arch("edge-large"))       # or quant.get_backend("accel", arch=spec_or_name)
    quant.quantize(x, "dialectfp4-32", backend=be.name)   # be.name ("accel:edge-large") is registered in quant
    quant.qgemm(qx, qw, backend=be)                 # the object itself is accepted too

The plain back end "accel" (this module's `quantize`, `select_encode`, `qgemm`) is the `edge` design
(configs/arch/edge.yaml).  A design the model cannot represent raises SpecError naming the field: at
construction (a selector kind without a datapath model, a two-stage unit with an odd book size, sub-books that do
not divide the book), or at the call that needs it (a selector the LUT unit does not run, a book larger than the
LUT unit or the edge decoder ROM, a MAC mode the array lacks, a SeDA sub-book larger than the member table).
`check_recipe` runs the recipe-level checks up front.

Not modelled, delegated to the format's reference path: exact_mse selection (an offline weight selector; the
accelerator receives such weights encoded; also MXFP4's fixed RNE rounding) and the scale-and-round quantizers of
NVFP4 / INT / MXFP8 formats (`act_quantizers`).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

import quant
from quant.blocks import as_blocks
from quant.errors import QuantError
from quant.exponents import sharing_of, split_knobs
from quant.gemm import qgemm_with
from quant.qtensor import QTensor, pack_nibbles
from quant.registry import DialectFormat, get_format
from quant.selectors import get_selector

from .datapath_frontend import FrontEnd, front_end
from .datapath_lut import ONLINE_SELECTORS, LutUnitModel
from .datapath_pe import accumulate, edge_decode, lane_mode
from .schema import SpecError
from .spec import ArchSpec, load_arch

DEFAULT_DESIGN = "edge"          # = sim.defaults.ARCH (tests/test_cli_errors.py checks they agree)
NAME_PREFIX = "accel"
# the design fields the datapath reads (for reports and `describe`)
FIELDS_READ = ("pe_array.rows", "pe_array.cols", "pe_array.dataflow", "pe_array.mac_modes",
               "global_buffer.{inputs,weights,outputs}.size_bytes (tiling)", "global_buffer.double_buffered",
               "decode_lut.max_dialects", "lut_unit.selector", "lut_unit.book_size", "lut_unit.banks",
               "lut_unit.sub_books")


class AccelBackend:
    """quant's back-end protocol (select_encode, qgemm, quantize) on the datapath of one design."""

    def __init__(self, arch: ArchSpec, name: str):
        self.arch, self.name = arch, name
        self.lut = LutUnitModel(arch)

    def __repr__(self):
        return f"AccelBackend({self.name!r}, design from {self.arch.source_file})"

    def __str__(self):
        return self.name

    def describe(self) -> dict:
        pe, lu = self.arch.pe_array, self.arch.lut_unit
        return {"name": self.name, "design": self.arch.name, "source": self.arch.source_file,
                "array": f"{pe.rows}x{pe.cols} {pe.dataflow}", "mac_modes": dict(pe.mac_modes),
                "decode": f"array edge, dialect ROM of {self.arch.decode_lut.max_dialects} rows",
                "lut_unit": {"selector": lu.selector, "book_size": lu.book_size, "banks": lu.banks,
                             "sub_books": lu.sub_books}, "fields_read": list(FIELDS_READ)}

    # ---- LUT unit ----
    def select_encode(self, selector: str, xb, e, book, allowed=None, **knobs):
        """quant's protocol on blocks xb (R, nb, B) with the reference's exponents e: (dialect ids, codes)."""
        name = get_selector(selector).name
        if name not in ONLINE_SELECTORS:
            return _host_select_encode(name, xb, e, book, allowed, knobs)
        try:
            fe = front_end(np.asarray(xb, dtype=np.float32), exponents=np.asarray(e, dtype=np.int64))
        except ValueError:
            raise QuantError("accel select_encode: some given block exponent is below the block's own "
                             "(quant.blocks.block_exponent); the LUT unit's front end never aligns below it") from None
        return self._select(name, fe, book, allowed, knobs)

    def quantize(self, x, f, selector=None, block=None, tensor="x", nonfinite="raise", allowed=None, **knobs):
        """`quant.quantize(..., backend=this)`: online dialect selection on the LUT unit, else the format's path."""
        f = get_format(f)
        plain = dict(selector=selector, block=block, backend=self, tensor=tensor, nonfinite=nonfinite,
                     allowed=allowed, **knobs)
        if not isinstance(f, DialectFormat) or f.fixed_selector:
            return f.quantize(x, **plain)                     # not on the LUT unit (and the format's own errors)
        sel = get_selector(selector or f.default_selector).name
        if sel not in ONLINE_SELECTORS:
            return f.quantize(x, **plain)
        block = block or f.default_block
        sharing = sharing_of(block, knobs, f"format {f.name}")
        xb = as_blocks(x, block, tensor, nonfinite)
        if xb.shape[0] == 0:                                  # no rows: the empty tensor every back end returns
            return f.quantize(x, **{**plain, "backend": "reference"})
        fe = front_end(xb, None if sharing.trivial else sharing)
        dialect, codes = self._select(sel, fe, f.book, allowed, split_knobs(knobs)[0])
        return f.make_qtensor(np.shape(x), block, pack_nibbles(codes.reshape(xb.shape[0], -1)), dialect, fe.e,
                              sel, knobs)

    def _select(self, name: str, fe: FrontEnd, book, allowed, knobs):
        return self.lut.select(name, fe, book, allowed=allowed, threshold=knobs.get("threshold", 1))

    # ---- PE array ----
    def qgemm(self, qx: QTensor, qw: QTensor, bias=None, residual: QTensor | None = None, residual_rows=None):
        """Y = X W^T (+ residual rows, own accumulator) (+ bias), float32 (M, N), bit-identical to the reference."""
        return qgemm_with(lambda a, b: accumulate(self.arch, a, b), qx, qw, bias, residual, residual_rows)

    def decode(self, qt: QTensor) -> np.ndarray:
        """The edge decoder's signed element integers (R, nb * block) for a tensor on this design."""
        return edge_decode(self.arch, qt, lane_mode(self.arch, qt, "operand"))

    # ---- up-front checks ----
    def check_recipe(self, recipe):
        """Raise SpecError (naming the field) when this design cannot run `recipe` (a name, YAML or Recipe)."""
        from .recipes import get_recipe
        from .specialize import check_runs
        hw = get_recipe(recipe)
        if not hw.quantizes_activations:
            return
        check_runs(self.arch, hw, {hw.mac_mode} | {x.mac_mode for _, x, _ in hw.attention})
        if hw.dialect_online:
            self.lut.check_call(hw.online, get_format(hw.act_format).book)
        books = [get_format(f).book.size for f in (hw.weight_format, hw.act_format)
                 if hw.mac_mode == "dialect4" and isinstance(get_format(f), DialectFormat)]
        if books and max(books) > self.arch.decode_lut.max_dialects:
            raise SpecError(self.arch.source_file, "decode_lut.max_dialects",
                            f"recipe {hw.name} decodes books of up to {max(books)} dialects; the edge decoder ROM "
                            f"holds {self.arch.decode_lut.max_dialects}; valid: max_dialects >= {max(books)}")
        if hw.seda and self.arch.lut_unit.selector == "seda":
            need, cap = hw.book_size // hw.sub_books, self.lut.book_size // self.lut.sub_books
            if need > cap:
                raise SpecError(self.arch.source_file, "lut_unit.sub_books",
                                f"recipe {hw.name} restricts to sub-books of {need} dialects; the member table "
                                f"holds {cap}; valid: sub_books <= {self.lut.book_size // need}")


def _host_select_encode(name, xb, e, book, allowed, knobs):
    from quant.reference_backend import select_encode
    return select_encode(name, xb, e, book, allowed=allowed, **knobs)


def _design_key(arch: ArchSpec) -> str:
    return hashlib.sha1(repr(arch).encode()).hexdigest()[:8]


def backend_for(arch) -> AccelBackend:
    """The functional back end of a design (an ArchSpec, a shipped design name or a YAML path), registered in
    quant's back-end registry as `accel:<design name>` (with `#<digest>` when another design holds that name)."""
    arch = arch if isinstance(arch, ArchSpec) else load_arch(arch)
    return _bound(arch)


@lru_cache(maxsize=64)
def _bound(arch: ArchSpec) -> AccelBackend:
    name = f"{NAME_PREFIX}:{arch.name}"
    if name in quant.backend_names():
        held = quant.get_backend(name)
        if not (isinstance(held, AccelBackend) and held.arch == arch):
            name = f"{name}#{_design_key(arch)}"
    be = AccelBackend(arch, name)
    quant.register_backend(name, be)
    return be


def default_backend() -> AccelBackend:
    return backend_for(DEFAULT_DESIGN)


# ---- the plain back end "accel" (quant's module protocol): the edge design -----------------------------------
def select_encode(selector: str, xb, e, book, allowed=None, **knobs):
    return default_backend().select_encode(selector, xb, e, book, allowed=allowed, **knobs)


def quantize(x, f, **kwargs):
    return default_backend().quantize(x, f, **kwargs)


def qgemm(qx: QTensor, qw: QTensor, bias=None, residual: QTensor | None = None, residual_rows=None):
    return default_backend().qgemm(qx, qw, bias=bias, residual=residual, residual_rows=residual_rows)


def decode(qt: QTensor) -> np.ndarray:
    return default_backend().decode(qt)
