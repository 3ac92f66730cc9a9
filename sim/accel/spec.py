"""Accelerator architecture specs in three layers: versioned YAML (configs/arch/*.yaml) -> schema validation
(unknown keys rejected, errors name file, field and valid range) -> frozen dataclasses with units in field names.

    spec = load_arch("edge")            # a shipped name, or a path to a YAML file
    spec.pe_array.rows, spec.clock_mhz, spec.global_buffer.inputs.size_bytes
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .schema import Field, ListOf, MapOf, SpecError, load_yaml, validate

SPEC_VERSION = 1
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
ARCH_DIR = CONFIG_DIR / "arch"
DATAFLOWS = ("os", "ws", "is")     # output-, weight-, input-stationary (sim/accel/mapping.py)
# PE datapath modes: which operand pair a MAC consumes (recipes name the mode they need; see recipes.py)
MAC_MODES = ("dialect4", "e2m1", "fp4_scaled", "int4", "int8", "fp8", "w4a16", "fp16")
# the LUT unit's selector kind ("seda": LUT argmin restricted to a sub-formatbook; "none": no LUT unit)
LUT_SELECTORS = ("lut_argmin", "two_stage", "seda", "none")
# scale-and-round online quantizers for non-dialect activation formats (sim/accel/recipes.py SCALE_QUANTIZERS)
ACT_QUANTIZERS = ("e2m1_round", "nvfp4_scale", "int_scale", "e4m3_round")
# elements per cycle of one scale-and-round unit unless the design says otherwise; the energy table's
# act_quantizer.* areas are for a unit of this width
ACT_QUANTIZER_LANES = 8
BIG = 2 ** 40
# the PE accumulates in float32 (the arithmetic contract), so partial sums occupy 4 bytes in the output buffer
PSUM_BYTES = 4
# smallest unit of K a tile can hold: one quantization block
MIN_TILE_K = 32
# widest operand element a tile may hold (FP16 attention / FP-kept layers), for the "fits any tile" check
MAX_OPERAND_BYTES = 2

_BUFFER = {
    "size_bytes": Field(int, 1, BIG, doc="capacity"),
    "banks": Field(int, 1, 4096, default=1),
    "ports": Field(int, 1, 4, default=1),
    "access_bits": Field(int, 8, 4096, default=64, doc="bits per SRAM access (energy is per access)"),
    "read_energy_pj": Field(float, 0, 1e6, nullable=True, default=None,
                            doc="override per access at this node; null = interpolated from the energy table"),
    "write_energy_pj": Field(float, 0, 1e6, nullable=True, default=None),
}
ARCH_SCHEMA = {
    "version": Field(int, choices=(SPEC_VERSION,)),
    "name": Field(str),
    "description": Field(str, default=""),
    "clock_mhz": Field(float, 1, 1e5),
    "technology": {
        "node_nm": Field(int, 1, 1000),
        "energy_table": Field(str, default="horowitz45"),
    },
    "pe_array": {
        "rows": Field(int, 1, 4096),
        "cols": Field(int, 1, 4096),
        "dataflow": Field(str, choices=DATAFLOWS, default="os"),
        # dataflows the array switches between at run time, the mapper choosing one per GEMM (Gemmini's array
        # runs OS and WS); empty = only `dataflow`
        "dataflows": ListOf(Field(str, choices=DATAFLOWS), min_items=0),
        "pipeline_depth_cycles": Field(int, 0, 64, default=0,
                                       doc="extra latency per fold: decode, adder tree, block scaler stages"),
        "shadow_registers": Field(bool, default=False,
                                  doc="a second accumulator / stationary-operand register per PE (Gemmini's PE "
                                      "pair): consecutive folds overlap their fill and drain (mapping.py)"),
        "drain_cycles_per_row": Field(int, 0, 64, default=0,
                                      doc="cycles per array row to write a fold's results out before the next fold "
                                          "starts (0: overlapped, SCALE-Sim's convention; the RTL PE array: 1)"),
        "mac_modes": MapOf({"macs_per_cycle": Field(int, 1, 1024, doc="K elements per PE per cycle")},
                           keys=MAC_MODES),
    },
    "decode_lut": {"max_dialects": Field(int, 1, 256, default=32)},
    "lut_unit": {
        "selector": Field(str, choices=LUT_SELECTORS, default="lut_argmin"),
        "book_size": Field(int, 1, 256, doc="largest formatbook D the ERR/IDX tables hold"),
        "banks": Field(int, 1, 256, doc="dialect banks evaluated in parallel"),
        "units": Field(int, 1, 1024, default=1, doc="LUT units working on different blocks in parallel"),
        "sub_books": Field(int, 1, 64, default=4, doc="SeDA sub-formatbooks (selector seda)"),
    },
    "act_quantizers": MapOf({"units": Field(int, 1, 1024, doc="units working on different blocks in parallel"),
                             "lanes": Field(int, 1, 1024, default=ACT_QUANTIZER_LANES, doc="elements per cycle per unit")},
                            keys=ACT_QUANTIZERS, min_items=0),
    "specialized_for": Field(str, nullable=True, default=None,
                             doc="a recipe name: the design becomes sim.accel.specialize(this design, recipe)"),
    "vector_unit": {
        "lanes": Field(int, 1, 65536),
        "overlap_attention": Field(bool, default=False,
                                   doc="softmax / column sums of attention tile j run while the PE array computes "
                                       "tile j+1 (FlashAttention-style tile pipeline; sim/accel/attention.py)"),
    },
    "global_buffer": {
        "double_buffered": Field(bool, default=True),
        "inputs": dict(_BUFFER), "weights": dict(_BUFFER), "outputs": dict(_BUFFER),
    },
    "dram": {
        "bandwidth_gbps": Field(float, 1e-3, 1e5, doc="GB/s (1e9 bytes per second)"),
        "energy_pj_per_byte": Field(float, 0, 1e5),
    },
}


@dataclass(frozen=True)
class PeArray:
    rows: int
    cols: int
    dataflow: str
    pipeline_depth_cycles: int
    mac_modes: tuple          # ((mode, macs_per_cycle), ...)
    drain_cycles_per_row: int = 0
    dataflows: tuple = ()     # run-time switchable dataflows; () = `dataflow` only
    shadow_registers: bool = False

    @property
    def mapper_dataflows(self) -> tuple:
        """The dataflows the mapper may choose from per GEMM, the default `dataflow` first."""
        rest = tuple(d for d in self.dataflows if d != self.dataflow)
        return (self.dataflow, *rest)

    @property
    def drain_cycles(self) -> int:
        """Cycles after a fold's last product until its results are out (serial row drain)."""
        return self.drain_cycles_per_row * self.rows

    def macs_per_cycle(self, mode: str) -> int:
        table = dict(self.mac_modes)
        if mode not in table:
            raise SpecError("", "pe_array.mac_modes", f"this design has no MAC mode {mode!r}; it has "
                            f"{', '.join(table)} (add the mode to the arch YAML or choose another recipe)")
        return table[mode]


@dataclass(frozen=True)
class DecodeLut:
    max_dialects: int


@dataclass(frozen=True)
class LutUnit:
    selector: str
    book_size: int
    banks: int
    units: int
    sub_books: int


@dataclass(frozen=True)
class VectorUnit:
    lanes: int
    overlap_attention: bool = False


@dataclass(frozen=True)
class Buffer:
    name: str
    size_bytes: int
    banks: int
    ports: int
    access_bits: int
    read_energy_pj: float | None
    write_energy_pj: float | None


@dataclass(frozen=True)
class GlobalBuffer:
    double_buffered: bool
    inputs: Buffer
    weights: Buffer
    outputs: Buffer

    def usable_bytes(self, buf: Buffer) -> int:
        """Bytes one tile may occupy (half the buffer when double-buffered)."""
        return buf.size_bytes // 2 if self.double_buffered else buf.size_bytes

    @property
    def total_bytes(self) -> int:
        return self.inputs.size_bytes + self.weights.size_bytes + self.outputs.size_bytes


@dataclass(frozen=True)
class Dram:
    bandwidth_gbps: float
    energy_pj_per_byte: float


@dataclass(frozen=True)
class Technology:
    node_nm: int
    energy_table: str


@dataclass(frozen=True)
class ArchSpec:
    name: str
    description: str
    source_file: str
    clock_mhz: float
    technology: Technology
    pe_array: PeArray
    decode_lut: DecodeLut
    lut_unit: LutUnit
    vector_unit: VectorUnit
    global_buffer: GlobalBuffer
    dram: Dram
    act_quantizers: tuple = ()      # ((kind, units, lanes), ...)
    specialized_for: str | None = None

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bandwidth_gbps * 1e9 / (self.clock_mhz * 1e6)

    @property
    def peak_macs_per_cycle(self) -> dict:
        pes = self.pe_array.rows * self.pe_array.cols
        return {m: pes * t for m, t in self.pe_array.mac_modes}


def arch_names() -> list:
    return sorted(p.stem for p in ARCH_DIR.glob("*.yaml"))


def resolve_arch_path(name_or_path) -> Path:
    """A shipped design name (`edge`) or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    if name_or_path in arch_names():
        return ARCH_DIR / f"{name_or_path}.yaml"
    raise SpecError(name_or_path, "", f"no such design or file; shipped designs: {', '.join(arch_names())}")


def load_arch(name_or_path="edge", overrides: dict | None = None) -> ArchSpec:
    """Load a design; `overrides` (nested dict, e.g. {"pe_array": {"rows": 32}}) is merged over the YAML before
    validation, so a sweep point is checked exactly like a file (errors name the file and the field)."""
    path = resolve_arch_path(name_or_path)
    raw = load_yaml(path)
    if overrides:
        raw = _merged(raw, overrides)
    data = validate(raw, ARCH_SCHEMA, path)
    spec = _build(data, str(path) + (" (with sweep overrides)" if overrides else ""))
    if spec.specialized_for:
        from .specialize import specialize
        spec = specialize(spec, spec.specialized_for)
    check_fits_a_tile(spec)
    return spec


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _build(d: dict, source: str) -> ArchSpec:
    pe = d["pe_array"]
    gb = d["global_buffer"]
    bufs = {k: Buffer(k, **gb[k]) for k in ("inputs", "weights", "outputs")}
    return ArchSpec(
        name=d["name"], description=d["description"], source_file=source, clock_mhz=d["clock_mhz"],
        technology=Technology(**d["technology"]),
        pe_array=PeArray(pe["rows"], pe["cols"], pe["dataflow"], pe["pipeline_depth_cycles"],
                         tuple((m, v["macs_per_cycle"]) for m, v in pe["mac_modes"].items()),
                         pe["drain_cycles_per_row"], _dataflows(pe, source), pe["shadow_registers"]),
        decode_lut=DecodeLut(**d["decode_lut"]), lut_unit=LutUnit(**d["lut_unit"]),
        vector_unit=VectorUnit(**d["vector_unit"]),
        global_buffer=GlobalBuffer(gb["double_buffered"], **bufs), dram=Dram(**d["dram"]),
        act_quantizers=tuple((k, v["units"], v["lanes"]) for k, v in d["act_quantizers"].items()),
        specialized_for=d["specialized_for"])


def _dataflows(pe: dict, source: str) -> tuple:
    listed = tuple(dict.fromkeys(pe["dataflows"]))
    if listed and pe["dataflow"] not in listed:
        raise SpecError(source, "pe_array.dataflows", f"{list(listed)} must include the default dataflow "
                        f"{pe['dataflow']!r}")
    return listed


def check_fits_a_tile(spec: ArchSpec):
    """The smallest tile (one array fold, one block of K, widest operands) must fit every buffer."""
    pe, gb = spec.pe_array, spec.global_buffer
    need = {"inputs": pe.rows * MIN_TILE_K * MAX_OPERAND_BYTES,
            "weights": pe.cols * MIN_TILE_K * MAX_OPERAND_BYTES,
            "outputs": pe.rows * pe.cols * PSUM_BYTES}
    for name, n in need.items():
        buf = getattr(gb, name)
        have = gb.usable_bytes(buf)
        if have < n:
            factor = 2 if gb.double_buffered else 1
            raise SpecError(spec.source_file, f"global_buffer.{name}.size_bytes",
                            f"{buf.size_bytes} bytes is too small for any tile: the smallest tile needs {n} bytes"
                            f"{' per half (double-buffered)' if factor == 2 else ''}, so size_bytes must be >= "
                            f"{n * factor} for a {pe.rows}x{pe.cols} array")
