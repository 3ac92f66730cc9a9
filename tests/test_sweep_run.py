"""Sweeps end to end on the real accelerator model (tiny workload): results, resume after a kill, worker death."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.sweep import ResultStore, parse_sweep, run_sweep

SPEC = {"version": 1, "name": "t", "evaluator": "accel",
        "base": {"workload": "tiny", "arch": "edge", "recipe": "semanticdialect"},
        "space": {"arch_overrides.pe_array.rows": [8, 16, 32], "arch_overrides.pe_array.cols": [8, 16],
                  "recipe": ["semanticdialect", "mxfp4"]},
        "objectives": {"latency_s": "min", "energy_j": "min"}}


def _rows(store_path):
    with sqlite3.connect(store_path) as db:
        return {pid: (json.loads(cfg), json.loads(met)) for pid, cfg, met in
                db.execute("SELECT point_id, config, metrics FROM points WHERE status='done'")}


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    res = run_sweep(parse_sweep(SPEC), out, executor="inline", progress=False)
    assert res.n_points == 12 and res.n_evaluated == 12 and res.n_failed == 0
    return _rows(out / "results.sqlite")


def test_results_are_stored_and_a_rerun_redoes_nothing(tmp_path, reference_run):
    spec = parse_sweep(SPEC)
    run_sweep(spec, tmp_path, executor="local", workers=2, progress=False)
    again = run_sweep(spec, tmp_path, executor="local", workers=2, progress=False)
    assert again.n_skipped == 12 and again.n_evaluated == 0
    assert _rows(tmp_path / "results.sqlite") == reference_run
    latencies = {cfg["arch_overrides"]["pe_array"]["rows"]: m["latency_s"] for cfg, m in reference_run.values()
                 if cfg["recipe"] == "mxfp4" and cfg["arch_overrides"]["pe_array"]["cols"] == 16}
    assert latencies[32] < latencies[8]  # a bigger array is faster on the same workload


def test_store_refuses_a_different_sweep(tmp_path):
    run_sweep(parse_sweep(dict(SPEC, space={"recipe": ["mxfp4"]})), tmp_path, executor="inline", progress=False)
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(parse_sweep(SPEC), tmp_path, executor="inline", progress=False)


def _sweep_cmd(spec_path, out, *extra):
    return [sys.executable, "-m", "sim", "sweep", str(spec_path), "--out", str(out), "--no-progress", "--chunk", "1",
            *extra]


def _write_spec(tmp_path, spec=SPEC):
    import yaml
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def _count_done(store):
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM points WHERE status='done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


# the kill test needs a sweep slow enough for the kill to land mid-way: the per-point evaluator (no caches) on the
# full-size workload, 24 points (the cached evaluator finishes the 12 tiny points in well under a second)
KILL_SPEC = dict(SPEC, evaluator="accel-per-point", base=dict(SPEC["base"], workload="opensora2-256px"),
                 space=dict(SPEC["space"], **{"arch_overrides.pe_array.cols": [8, 16, 24, 32]}))


def test_killed_sweep_resumes_without_redoing_or_losing_points(tmp_path):
    ref = tmp_path / "ref"
    run_sweep(parse_sweep(KILL_SPEC), ref, executor="inline", progress=False)
    reference_run = _rows(ref / "results.sqlite")
    spec_path, out = _write_spec(tmp_path, KILL_SPEC), tmp_path / "out"
    proc = subprocess.Popen(_sweep_cmd(spec_path, out, "--executor", "inline"), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while _count_done(out / "results.sqlite") < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = _count_done(out / "results.sqlite")
    assert 3 <= n_before < 24, "the kill must land mid-sweep"
    rerun = subprocess.run(_sweep_cmd(spec_path, out, "--executor", "inline"), capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{n_before} already done, {24 - n_before} evaluated" in rerun.stdout
    assert _rows(out / "results.sqlite") == reference_run


def test_ray_worker_killed_mid_sweep_is_retried(tmp_path, reference_run):
    pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    spec_path, out = _write_spec(tmp_path), tmp_path / "out"
    proc = subprocess.Popen(_sweep_cmd(spec_path, out, "--executor", "ray", "--workers", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed, deadline = None, time.time() + 180
    while killed is None and time.time() < deadline and proc.poll() is None:
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if cmd.startswith("ray::evaluate_chunk") and _count_done(out / "results.sqlite") >= 1:
                p.kill()
                killed = p.info["pid"]
                break
        time.sleep(0.02)
    stdout, _ = proc.communicate(timeout=300)
    assert killed is not None, f"no Ray worker was caught mid-task:\n{stdout}"
    assert proc.returncode == 0, stdout
    assert _rows(out / "results.sqlite") == reference_run


def test_ray_tune_search_is_seeded_and_resumes(tmp_path):
    pytest.importorskip("ray")
    spec = parse_sweep(dict(SPEC, search={"kind": "tune", "samples": 3, "seed": 1},
                            space={"arch_overrides.pe_array.rows": [8, 16, 32],
                                   "arch_overrides.global_buffer.weights.size_bytes":
                                       {"min": 65536, "max": 1048576, "log": True, "int": True}}))
    first = run_sweep(spec, tmp_path, progress=False, workers=2)
    assert first.n_evaluated == 3 and first.n_failed == 0
    again = run_sweep(spec, tmp_path, progress=False, workers=2)
    assert again.n_evaluated == 0 and again.n_skipped == 3
    frame = ResultStore(tmp_path / "results.sqlite").frame()
    assert len(frame) == 3 and (frame["latency_s"] > 0).all()
