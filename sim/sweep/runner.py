"""Run a sweep: hand points to workers (Ray by default, a local Ray instance unless --address names a cluster),
store each result as it arrives, skip points already finished in the store.

Executors (sim/sweep/executor.py, shared with `sim study`): "ray" (chunks of points as Ray tasks, retried when a
worker dies), "local" (a process pool on this machine), "inline" (the driver itself).
A `tune` search runs through Ray Tune; each trial looks its point up in the store first.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .evaluators import evaluate_chunk
from .executor import EXECUTORS, local_pool, open_pool, ray_init, ray_module  # noqa: F401 (local_pool re-exported)
from .spec import SweepSpec, point_id
from .store import ResultStore


@dataclass(frozen=True)
class SweepRun:
    store_path: str
    n_points: int
    n_skipped: int          # already finished before this run
    n_evaluated: int
    n_failed: int
    seconds: float
    workers: int
    executor: str

    @property
    def points_per_second(self) -> float:
        return self.n_evaluated / self.seconds if self.seconds > 0 else float("nan")


def spec_fingerprint(spec: SweepSpec) -> str:
    d = asdict(spec)
    d.pop("source")
    return json.dumps(d, sort_keys=True, default=str)


def run_sweep(spec: SweepSpec, out_dir, executor: str = "ray", workers: int | None = None, address: str | None = None,
              chunk: int = 16, progress: bool = True) -> SweepRun:
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    from reports.io import run_lock
    workers = workers or os.cpu_count() or 1
    out_dir = Path(out_dir)
    with run_lock(out_dir):      # a second sweep into the same folder is refused, not interleaved
        return _run_locked(spec, out_dir, executor, workers, address, chunk, progress)


def _run_locked(spec, out_dir, executor, workers, address, chunk, progress) -> SweepRun:
    store = ResultStore(out_dir / "results.sqlite")
    try:
        store.bind_spec(spec_fingerprint(spec))
        t0 = time.perf_counter()
        if spec.search_kind == "tune":
            n_pts, skipped, evaluated, failed = _run_tune(spec, store, workers, address, out_dir)
        else:
            n_pts, skipped, evaluated, failed = _run_points(spec, store, executor, workers, address, chunk, progress)
        return SweepRun(str(store.path), n_pts, skipped, evaluated, failed, time.perf_counter() - t0, workers, executor)
    finally:
        store.close()


def _todo(spec: SweepSpec, store: ResultStore):
    done = store.done_ids()
    seen, todo = set(), []
    for cfg in spec.points():
        pid = point_id(cfg)
        if pid not in done and pid not in seen:
            seen.add(pid)
            todo.append((pid, cfg))
    n_unique = len({point_id(c) for c in spec.points()})
    return todo, n_unique


def _run_points(spec, store, executor, workers, address, chunk, progress):
    todo, n_unique = _todo(spec, store)
    chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
    bar = _progress(len(todo), progress, spec.name)
    counts = {"ok": 0, "failed": 0}

    def consume(results):
        for pid, cfg, metrics, secs, err in results:
            store.record(pid, cfg, metrics, secs, err)
            counts["ok" if err is None else "failed"] += 1
            bar.update(1)

    with open_pool(executor, workers, address) as pool:
        for i, c in enumerate(chunks):
            pool.submit(i, evaluate_chunk, spec.evaluator, c)
        for _, results in pool.completed():
            consume(results)
    bar.close()
    return n_unique, n_unique - len(todo), counts["ok"], counts["failed"]


def _run_tune(spec, store, workers, address, out_dir):
    ray = ray_module()
    from ray import tune
    from .tune_space import tune_param_space

    ray_init(ray, workers, address)
    done = {pid: store.get(pid) for pid in store.done_ids()}

    def trainable(params, _done=done, _spec=spec):
        from .spec import resolve
        cfg = resolve(_spec.base, params)
        pid = point_id(cfg)
        if pid in _done:
            return dict(_done[pid], point_id=pid, cached=True)
        (_, _, metrics, secs, err), = evaluate_chunk(_spec.evaluator, [(pid, cfg)])
        if err is not None:
            raise RuntimeError(err)
        return dict(metrics, point_id=pid, cached=False, seconds=secs, resolved_config=json.dumps(cfg))

    metric, mode = next(iter(spec.objectives.items()))
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space=tune_param_space(spec),
        tune_config=tune.TuneConfig(num_samples=spec.samples, metric=metric, mode=mode,
                                    max_concurrent_trials=workers, search_alg=_search_alg(spec)),
        run_config=tune.RunConfig(storage_path=str(Path(out_dir).resolve() / "tune"), name=spec.name,
                                  verbose=0),
    )
    results = tuner.fit()
    evaluated = failed = skipped = 0
    for r in results:
        m = dict(r.metrics or {})
        if r.error is not None or "point_id" not in m:
            failed += 1
            continue
        if m.get("cached"):
            skipped += 1
            continue
        cfg = json.loads(m.pop("resolved_config"))
        clean = {k: v for k, v in m.items() if k in _metric_keys(spec, m)}
        store.record(m["point_id"], cfg, clean, float(m.get("seconds", 0.0)))
        evaluated += 1
    return evaluated + skipped + failed, skipped, evaluated, failed


def _search_alg(spec):
    """Seeded random search (so a rerun proposes the same points and finds them in the store)."""
    from ray.tune.search.basic_variant import BasicVariantGenerator
    return BasicVariantGenerator(random_state=spec.seed)


def _metric_keys(spec, m):
    # Tune adds bookkeeping fields (time_this_iter_s, trial_id, ...); keep the evaluator's own metrics only
    from .evaluators import metric_names
    return set(metric_names(spec.evaluator)) | set(spec.objectives)


def _progress(total, enabled, name):
    from tqdm import tqdm
    return tqdm(total=total, desc=f"sweep {name}", unit="pt", disable=not enabled, mininterval=0.5)
