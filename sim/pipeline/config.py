"""`sim run` configuration: versioned YAML -> validated frozen RunConfig (unknown keys and bad values name the
file and the field).  The embedded default is configs/run/default.yaml."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from sim import defaults
from sim.accel.schema import SpecError, load_yaml


ROOT = defaults.ROOT
DEFAULT_RUN = ROOT / "configs" / "run" / "default.yaml"
CONFIG_VERSION = 1
SHIPPED_MODELS = defaults.SHIPPED_MODELS


class RunConfigError(ValueError):
    pass


@dataclass(frozen=True)
class RunConfig:
    """model: shipped checkpoint name or .safetensors path; recipe: the recipe under study; compare_recipes: more
    recipes for the side-by-side table; arch: design name or YAML path; full_backend: the back end that runs the
    whole sampling (its video is the one measured); check_backends: back ends cross-checked bit for bit against
    it on a slice (slice_steps denoising steps of slice_prompts prompts; a back end running in an interpreter,
    i.e. Triton without a GPU, runs interpreter_layer_calls calls of it picked by call kind, the rest of its run on
    full_backend: sim/pipeline/coverage.py); workloads:
    shape-only workloads for the latency/energy estimate; outliers: also run with function-preserving outlier injection (stress mode);
    verify_arch: the design the accel back end's functional datapath is built from, as given (`sim verify --arch`);
    None = `arch` specialized for each recipe (sim.accel.specialize), so every recipe can be checked;
    codesign_recipes: baselines compared with the run's recipes on format-specialized designs of `arch`
    (`sim compare` on codesign_workload at equal codesign_normalize, quality from the committed study);
    workers: processes for the run's two independent stages: 2 runs the cross-check slice in a second process
    beside the quality sampling (each pinned to one thread), 1 runs them one after the other; same numbers."""
    model: str = defaults.MODEL
    recipe: str = defaults.RECIPE
    compare_recipes: tuple = ()
    arch: str = defaults.ARCH
    full_backend: str = defaults.BACKEND
    check_backends: tuple = defaults.CHECK_BACKENDS
    slice_steps: int = 3
    slice_prompts: int = 1
    interpreter_layer_calls: int = 9
    prompts: int = 2
    steps: int = 10
    guidance: float = 6.0
    seed: int = 0
    workloads: tuple = defaults.RUN_WORKLOADS
    outliers: bool = False
    verify_arch: str | None = None
    codesign_recipes: tuple = ("int4_g32", "w8a8")
    codesign_workload: str = defaults.WORKLOAD
    codesign_normalize: str = "area"
    workers: int = 2
    source: str = "<defaults>"

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in fields(self) if f.name != "source"}

    @property
    def recipes(self) -> tuple:
        return (self.recipe,) + tuple(r for r in self.compare_recipes if r != self.recipe)

    @property
    def codesign_all(self) -> tuple:
        return tuple(dict.fromkeys(self.recipes + self.codesign_recipes))

    def checkpoint_path(self) -> Path:
        p = defaults.checkpoint_path(self.model)
        if not p.exists():
            raise RunConfigError(f"{self.source}: field 'model': no checkpoint {p} (shipped models: "
                                 f"{', '.join(SHIPPED_MODELS)}, or a .safetensors path)")
        return p


_POSITIVE = ("slice_steps", "slice_prompts", "prompts", "steps", "interpreter_layer_calls", "workers")


def load_run_config(path=None, **overrides) -> RunConfig:
    path = Path(path) if path else DEFAULT_RUN
    try:
        raw = load_yaml(path)          # one YAML reader for every spec file: names the file, line and column
    except SpecError as exc:
        raise RunConfigError(str(exc)) from None
    if raw.pop("version", None) != CONFIG_VERSION:
        raise RunConfigError(f"{path}: field 'version': must be {CONFIG_VERSION}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "steps" in given and "slice_steps" not in given and isinstance(given["steps"], int):
        # a shorter run (`sim run --steps 2`) shrinks the cross-check slice with it instead of failing
        raw["slice_steps"] = min(raw.get("slice_steps", RunConfig.slice_steps), given["steps"])
    raw.update(given)
    return parse_run_config(raw, str(path))


def parse_run_config(raw: dict, source: str) -> RunConfig:
    names = {f.name: f for f in fields(RunConfig) if f.name != "source"}
    for k in raw:
        if k not in names:
            raise RunConfigError(f"{source}: field '{k}': unknown key; valid keys: {', '.join(sorted(names))}")
    cfg = RunConfig(source=source)
    for k, v in raw.items():
        default = getattr(cfg, k)
        if isinstance(default, tuple):
            v = tuple(v) if isinstance(v, (list, tuple)) else tuple(x for x in str(v).split(",") if x)
        elif isinstance(default, bool):
            if not isinstance(v, bool):
                raise RunConfigError(f"{source}: field '{k}': must be true or false, got {v!r}")
        elif isinstance(default, (int, float)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or (isinstance(default, int) and v != int(v)):
                raise RunConfigError(f"{source}: field '{k}': must be a number, got {v!r}")
            v = type(default)(v)
            if k in _POSITIVE and v < 1:
                raise RunConfigError(f"{source}: field '{k}': must be at least 1, got {v}")
        cfg = replace(cfg, **{k: v})
    if cfg.slice_prompts > cfg.prompts or cfg.slice_steps > cfg.steps:
        raise RunConfigError(f"{source}: field 'slice_steps'/'slice_prompts': the cross-check slice must fit in "
                             f"the run ({cfg.steps} steps, {cfg.prompts} prompts)")
    return _check_names(cfg)


def _check_names(cfg: RunConfig) -> RunConfig:
    import quant
    from sim import preflight
    from sim.accel.workload import workload_names
    src = cfg.source
    for field_, names in (("recipe", (cfg.recipe,)), ("compare_recipes", cfg.compare_recipes),
                          ("codesign_recipes", cfg.codesign_recipes)):
        for r in names:
            if r not in quant.recipe_names():
                raise RunConfigError(f"{src}: field '{field_}': unknown recipe {r!r}; valid: "
                                     f"{', '.join(quant.recipe_names())}")
    if cfg.codesign_normalize not in ("area", "throughput"):
        raise RunConfigError(f"{src}: field 'codesign_normalize': got {cfg.codesign_normalize!r}; valid: area, "
                             f"throughput")
    for field_, names in (("full_backend", (cfg.full_backend,)), ("check_backends", cfg.check_backends)):
        for b in names:
            if b not in quant.backend_names():
                raise RunConfigError(f"{src}: field '{field_}': unknown back end {b!r}; valid: "
                                     f"{', '.join(quant.backend_names())}")
    for w in cfg.workloads + (cfg.codesign_workload,):
        if w not in workload_names():
            raise RunConfigError(f"{src}: field 'workloads': unknown workload {w!r}; valid: {', '.join(workload_names())}")
    for field_, arch in (("arch", cfg.arch), ("verify_arch", cfg.verify_arch)):
        if arch is None:
            continue
        try:                      # loaded and validated in full now, not at the estimate stage
            preflight.arch(arch, f"field '{field_}'")
        except preflight.InputError as exc:  # names the design file and its field
            raise RunConfigError(f"{src}: {exc}") from None
    try:                          # the checkpoint's header and derived config, before any sampling
        preflight.checkpoint(cfg.model, "field 'model'")
    except preflight.InputError as exc:
        raise RunConfigError(f"{src}: {exc}") from None
    if "accel" in cfg.check_backends + (cfg.full_backend,):
        try:                      # the functional datapath must represent the design: checked now, not mid-run
            accel_backend(cfg, cfg.recipe)
        except SpecError as exc:  # names the design file, the field and the valid choices
            where = "--arch (verify_arch)" if cfg.verify_arch else "arch"
            raise RunConfigError(f"{src}: {where}: {exc}") from None
    return cfg


def accel_backend(cfg: RunConfig, recipe: str):
    """The accel back end of this run for `recipe`: built from `verify_arch` as given, or from `arch`
    specialized for the recipe; refuses (SpecError naming the field) a design it cannot represent."""
    from sim.accel.functional import backend_for
    from sim.accel.spec import load_arch
    from sim.accel.specialize import specialize
    spec = load_arch(cfg.verify_arch) if cfg.verify_arch else specialize(load_arch(cfg.arch), recipe)
    be = backend_for(spec)
    be.check_recipe(recipe)
    return be
