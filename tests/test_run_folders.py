"""Run folders: a run replaces its output folder whole or not at all, a folder in use by another run is refused
with a lock, and local sweep workers exit when their driver dies."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.io import RUN_MARKER, OutputFolderError, run_lock, staged_folder
from reports.run_report import write_run

ROOT = Path(__file__).resolve().parent.parent


def _tree(folder: Path) -> dict:
    """The files of a folder, without the staged-run marker."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != RUN_MARKER}


def _siblings(out: Path) -> list:
    return sorted(p.name for p in out.parent.iterdir())


def _write(out, tables):
    return write_run(out, tables, {"config": {"recipe": "r"}}, {"FP\nprompt": np.zeros((2, 4, 4, 3))}, ["note"])


def test_staged_folder_replaces_whole_and_cleans_up(tmp_path):
    out = tmp_path / "run"
    with staged_folder(out) as tmp:
        (tmp / "a.csv").write_text("first")
        (tmp / "only_first.csv").write_text("x")
        assert not out.exists() and (tmp_path / "run.lock").exists()
    assert _tree(out) == {"a.csv": b"first", "only_first.csv": b"x"} and (out / RUN_MARKER).exists()
    with staged_folder(out) as tmp:
        (tmp / "a.csv").write_text("second")
        assert _tree(out)["a.csv"] == b"first"          # the earlier run stays until the new one is complete
    assert _tree(out) == {"a.csv": b"second"}          # no file of the earlier run survives beside the new ones
    assert _siblings(out) == ["run"]                    # no temp folder, no set-aside folder, no lock file
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_failure_mid_write_keeps_earlier_run_and_leaves_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "run"
    tables = {"summary": pd.DataFrame({"workload": ["tiny"], "recipe": ["a"], "latency_s": [1.0]}),
              "quality": pd.DataFrame({"recipe": ["a"], "psnr_db": [30.0]})}
    paths = _write(out, tables)
    assert paths["pdf"] == out / "report.pdf" and paths["pdf"].exists()
    before = _tree(out)

    import reports.run_report as run_report

    def crash(folder):   # the CSVs and the manifest of the new run are written when the PDF fails
        assert (Path(folder) / "summary.csv").exists()
        raise RuntimeError("crash while building the PDF")

    monkeypatch.setattr(run_report, "build_pdf", crash)
    changed = {"summary": pd.DataFrame({"workload": ["tiny"], "recipe": ["b"], "latency_s": [2.0]}), "extra": pd.DataFrame({"x": [1]})}
    with pytest.raises(RuntimeError, match="crash while building"):
        _write(out, changed)
    assert _tree(out) == before
    assert _siblings(out) == ["run"]


def test_codesign_writer_failure_keeps_earlier_folder(tmp_path, monkeypatch):
    from sim.pipeline import codesign
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "codesign.csv").write_text("earlier\n")
    (out / "codesign_meta.json").write_text("{}")
    monkeypatch.setattr(codesign, "comparison_tables", lambda cmp: {"codesign": pd.DataFrame({"r": [1]})})

    class Cmp:
        meta = {"workload": "tiny"}

    def crash(folder):
        raise RuntimeError("crash in the co-design PDF")

    import reports.codesign_report as codesign_report
    monkeypatch.setattr(codesign_report, "build_codesign_pdf", crash)
    with pytest.raises(RuntimeError, match="co-design PDF"):
        codesign.write_comparison(Cmp(), out)
    assert _tree(out) == {"codesign.csv": b"earlier\n", "codesign_meta.json": b"{}"} and _siblings(out) == ["cmp"]
    paths = codesign.write_comparison(Cmp(), out, pdf=False)
    assert paths == [out / "codesign.csv", out / "codesign_meta.json"]
    assert sorted(_tree(out)) == ["codesign.csv", "codesign_meta.json"] and _siblings(out) == ["cmp"]


HOLDER = """
import sys, time
from reports.io import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def held_folder(tmp_path):
    """An output folder whose lock another process (a real second run) holds."""
    out = tmp_path / "busy"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield out, proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_second_run_into_a_busy_folder_is_refused_naming_folder_and_pid(held_folder):
    out, pid = held_folder
    with pytest.raises(OutputFolderError) as err:
        with staged_folder(out):
            pytest.fail("the body must not run")
    msg = str(err.value)
    assert str(out) in msg and f"pid {pid}" in msg
    assert not out.exists() and sorted(p.name for p in out.parent.iterdir()) == ["busy.lock"]


def test_run_refused_at_start_when_folder_busy(held_folder, monkeypatch):
    import sim.pipeline.output as output
    out, pid = held_folder
    monkeypatch.setattr(output, "run_pipeline", lambda *a, **k: pytest.fail("work started on a busy folder"))
    with pytest.raises(OutputFolderError, match=f"pid {pid}"):
        output.execute(object(), out)


def test_cli_refuses_busy_folder_in_one_line(held_folder):
    out, pid = held_folder
    proc = subprocess.run([sys.executable, "-m", "sim", "compare", "--workload", "tiny", "--recipes", "mxfp4",
                           "--no-quality", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and f"pid {pid}" in lines[0]


def test_lock_is_reentrant_in_one_process_and_released(tmp_path):
    out = tmp_path / "run"
    with run_lock(out):
        with staged_folder(out) as tmp:
            (tmp / "f").write_text("x")
    assert _siblings(out) == ["run"]
    with run_lock(out):                     # free again
        pass


def test_leftovers_of_a_dead_run_are_recovered(tmp_path):
    out = tmp_path / "run"
    (tmp_path / "run.tmp-999999").mkdir()          # a run killed while writing
    old = tmp_path / "run.old-999998"              # a run killed between the two renames of a swap
    old.mkdir()
    (old / "a.csv").write_text("complete earlier run")
    (old / RUN_MARKER).write_text("")
    (tmp_path / "run.tmp-notes").mkdir()           # not ours: left alone
    with staged_folder(out) as tmp:
        assert _tree(out) == {"a.csv": b"complete earlier run"}
        (tmp / "a.csv").write_text("new")
    assert _tree(out) == {"a.csv": b"new"}
    assert _siblings(out) == ["run", "run.tmp-notes"]


def test_a_folder_that_is_not_a_run_is_never_swapped_away(tmp_path):
    out = tmp_path / "src"
    out.mkdir()
    (out / "model.py").write_text("precious")
    with pytest.raises(OutputFolderError, match="does not hold an earlier run"):
        with staged_folder(out):
            pytest.fail("the body must not run")
    assert _tree(out) == {"model.py": b"precious"} and _siblings(out) == ["src"]
    legacy = tmp_path / "legacy"                  # a run folder written before the marker existed
    legacy.mkdir()
    (legacy / "manifest.json").write_text("{}")
    with staged_folder(legacy) as tmp:
        (tmp / "manifest.json").write_text("{\"new\": 1}")
    assert _tree(legacy) == {"manifest.json": b'{"new": 1}'}


def test_run_into_a_folder_that_is_not_a_run_is_refused_before_work(tmp_path, monkeypatch):
    import sim.pipeline.output as output
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setattr(output, "run_pipeline", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(OutputFolderError, match="does not hold an earlier run"):
        output.execute(object(), tmp_path)
    assert _tree(tmp_path) == {"notes.txt": b"mine"}


def test_out_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "run"
    out.write_text("not a folder")
    with pytest.raises(OutputFolderError, match="not a folder"):
        with staged_folder(out):
            pass
    assert out.read_text() == "not a folder"


DRIVER = """
import os, sys, time
from pathlib import Path
from sim.sweep.runner import local_pool

def hold(folder):
    Path(folder, str(os.getpid())).write_text("")
    time.sleep(120)

if __name__ == "__main__":
    folder = sys.argv[1]
    pool = local_pool(2)
    for _ in range(2):
        pool.submit(hold, folder)
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    print("ready", flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"          # a zombie has exited; only its reaping is pending


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_local_sweep_workers_exit_when_driver_is_killed(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    pids = tmp_path / "pids"
    pids.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    driver = subprocess.Popen([sys.executable, str(script), str(pids)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              text=True)
    workers = []
    try:
        assert driver.stdout.readline().strip() == "ready"
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2 and all(_alive(w) for w in workers)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "pool workers outlived their driver"
    finally:
        driver.kill()
        driver.wait(timeout=10)
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def test_second_sweep_into_a_busy_folder_is_refused_before_work(held_folder):
    from sim.sweep import parse_sweep, run_sweep
    out, pid = held_folder
    spec = parse_sweep({"version": 1, "name": "t", "evaluator": "accel",
                        "base": {"workload": "tiny", "arch": "edge", "recipe": "semanticdialect"},
                        "space": {"recipe": ["mxfp4"]}, "objectives": {"latency_s": "min"}})
    with pytest.raises(OutputFolderError, match=f"pid {pid}"):
        run_sweep(spec, out, executor="inline", progress=False)
    assert not (out / "results.sqlite").exists()


def test_sweep_report_failure_leaves_the_earlier_report_whole(tmp_path, monkeypatch):
    import reports.sweep_report as sweep_report
    from sim.sweep.analysis import analyse
    (tmp_path / "results.sqlite").write_bytes(b"store")       # the folder is the sweep's: never swapped away
    frame = pd.DataFrame([{"point_id": f"p{r}", "status": "done", "seconds": 0.1, "config.rows": r,
                           "latency_s": 1.0 / r, "energy_j": float(r)} for r in (8, 16, 32)])
    objectives = {"latency_s": "min", "energy_j": "min"}
    points, best = analyse(frame, objectives, [])
    sweep_report.write_sweep_report(points, best, objectives, ["rows"], [], tmp_path, "first")
    before = _tree(tmp_path)
    assert set(before) == {"results.sqlite", "points.csv", "pareto.csv", "best.csv", "report.pdf"}

    def crash(*args):
        raise RuntimeError("crash in a sensitivity page")

    monkeypatch.setattr(sweep_report, "_sensitivity_page", crash)
    points2, best2 = analyse(frame.assign(latency_s=frame.latency_s * 2), objectives, [])
    with pytest.raises(RuntimeError, match="sensitivity page"):
        sweep_report.write_sweep_report(points2, best2, objectives, ["rows"], [], tmp_path, "second")
    assert _tree(tmp_path) == before                        # no new CSV beside the old PDF, no temp file
