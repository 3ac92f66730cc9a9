"""One error path for the CLI: every error a user can cause, driven through `sim.cli.main([...])`, exits 2 (130 for
Ctrl-C) with a single line on stderr naming the place, and no traceback; every check runs before any work.

Cases (test name: what is fed in):
  test_corrupt_checkpoint[sample|run|verify|study]      truncated .safetensors via --checkpoint / the config's model:
  test_directory_as_checkpoint[sample|run]              a folder given as the checkpoint
  test_missing_model_file                               run config `model:` naming a file that does not exist
  test_run_config_arch_file_with_negative_rows          run config whose arch: file has pe_array.rows: -4 (before work)
  test_run_config_unknown_compare_recipe                compare_recipes: [semanticdialect-b32] names the field
  test_out_not_writable[file|proc]                      --out at a file, --out under /proc (before work)
  test_out_not_writable_other_commands[study|sweep|sample|compare]   the same check in the other writers
  test_report_corrupt_manifest / test_report_corrupt_csv   `sim report` on a damaged folder
  test_corrupt_results_store[run|report-only]           results.sqlite that is not a database
  test_sweep_rerun_with_changed_spec                    same --out, different sweep spec
  test_sweep_space_bad_values[negative|misspelt|recipe|not-a-field]   named by sweep file and space key
  test_sweep_ctrl_c_exits_130_with_resume_hint          KeyboardInterrupt inside the runner; finished points kept
  test_quantize_bad_input[missing|folder|empty|0-d|object|text]   `sim quantize --input ...`
  test_quantize_nan_hint_names_the_flag / test_quantize_nonfinite_saturate   the hint names --nonfinite
  test_gemm_overflowing_dimension[huge|product]         --m 100000000000000000000, and m*k*n past int64
  test_argument_errors_are_one_line                     `--m abc`: argparse's error as one line, exit 2
  test_estimate_arch_file_with_negative_rows            `sim estimate --arch bad.yaml`
  test_study_merge_corrupt_manifest                     `sim study-merge` on a damaged study folder
  test_internal_bug_keeps_its_traceback                 a RuntimeError in a command propagates
  test_library_defaults_match_sim_defaults              sim.accel's keyword defaults == sim.defaults
"""
import inspect
import sqlite3

import numpy as np
import pytest
import yaml

from sim import defaults
from sim.accel.spec import ARCH_DIR
from sim.cli import main

TINY = defaults.SHIPPED_MODELS["tiny"]
needs_ckpt = pytest.mark.skipif(not TINY.exists(), reason=f"{TINY} missing (python -m vdit.train)")


def one_line(capsys, code, *needles):
    """stderr is exactly one line with every needle and no traceback."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


def run_config(tmp_path, **fields):
    raw = {"version": 1, "prompts": 1, "steps": 1, "slice_steps": 1, "check_backends": ["reference"],
           "workloads": ["tiny"], **fields}
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.fixture
def corrupt_ckpt(tmp_path):
    p = tmp_path / "corrupt.safetensors"
    p.write_bytes(TINY.read_bytes()[:100] if TINY.exists() else b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    return p


@pytest.mark.parametrize("command", ["sample", "run", "verify", "study"])
def test_corrupt_checkpoint(tmp_path, capsys, corrupt_ckpt, command):
    argv = {"sample": ["sample", "--checkpoint", str(corrupt_ckpt), "--out", str(tmp_path / "s.png")],
            "run": ["run", str(run_config(tmp_path, model=str(corrupt_ckpt))), "--out", str(tmp_path / "o")],
            "verify": ["verify", "--checkpoint", str(corrupt_ckpt), "--out", str(tmp_path / "o")],
            "study": ["study", "--checkpoint", str(corrupt_ckpt), "--prompts", "1", "--out", str(tmp_path / "o")]}
    assert main(argv[command]) == 2
    one_line(capsys, 2, corrupt_ckpt, "truncated")


@pytest.mark.parametrize("command", ["sample", "run"])
def test_directory_as_checkpoint(tmp_path, capsys, command):
    folder = tmp_path / "ckpt_dir"
    folder.mkdir()
    argv = (["sample", "--checkpoint", str(folder), "--out", str(tmp_path / "s.png")] if command == "sample" else
            ["run", str(run_config(tmp_path, model=str(folder))), "--out", str(tmp_path / "o")])
    assert main(argv) == 2
    one_line(capsys, 2, folder, "folder")


def test_missing_model_file(tmp_path, capsys):
    cfg = run_config(tmp_path, model=str(tmp_path / "nope.safetensors"))
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, 2, cfg, "'model'", "nope.safetensors")


@needs_ckpt
def test_run_config_arch_file_with_negative_rows(tmp_path, capsys):
    data = yaml.safe_load((ARCH_DIR / "edge.yaml").read_text())
    data["pe_array"]["rows"] = -4
    arch = tmp_path / "neg.yaml"
    arch.write_text(yaml.safe_dump(data))
    cfg = run_config(tmp_path, arch=str(arch))
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, 2, cfg, "'arch'", arch, "pe_array.rows", "-4")
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_run_config_unknown_compare_recipe(tmp_path, capsys):
    cfg = run_config(tmp_path, compare_recipes=["semanticdialect-b32"])
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, 2, cfg, "'compare_recipes'", "semanticdialect-b32")


@needs_ckpt
@pytest.mark.parametrize("where", ["file", "proc"])
def test_out_not_writable(tmp_path, capsys, where):
    out = tmp_path / "a_file" if where == "file" else "/proc/x"
    if where == "file":
        out.write_text("taken")
    assert main(["run", str(run_config(tmp_path)), "--out", str(out)]) == 2
    one_line(capsys, 2, "--out", out)


@needs_ckpt
@pytest.mark.parametrize("command", ["study", "sweep", "sample", "compare"])
def test_out_not_writable_other_commands(tmp_path, capsys, command):
    taken = tmp_path / "taken"
    taken.write_text("x")
    argv = {"study": ["study", "--prompts", "1", "--out", str(taken)],
            "sweep": ["sweep", "configs/sweeps/tiny-smoke.yaml", "--out", str(taken)],
            "sample": ["sample", "--out", str(taken / "s.png")],
            "compare": ["compare", "--workload", "tiny", "--no-quality", "--out", str(taken)]}[command]
    assert main(argv) == 2
    one_line(capsys, 2, "--out", taken)


def test_report_corrupt_manifest(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text('{"config": {"recipe": ')
    assert main(["report", str(tmp_path)]) == 2
    one_line(capsys, 2, tmp_path / "manifest.json", "not valid JSON")


def test_report_corrupt_csv(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text('{"config": {}}')
    (tmp_path / "summary.csv").write_bytes(b'a,b\n1,"unterminated\n\xff\xfe')
    assert main(["report", str(tmp_path)]) == 2
    one_line(capsys, 2, tmp_path / "summary.csv")
    assert not (tmp_path / "report.pdf").exists()


def test_report_csv_without_a_needed_column(tmp_path, capsys):
    """A CSV that parses but lacks a column the pages read: one line naming the folder and the column."""
    (tmp_path / "manifest.json").write_text('{"config": {}}')
    (tmp_path / "crosscheck.csv").write_text("a,b\n1,2\n")
    rc = main(["report", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err and "'bit_identical'" in err


def sweep_file(tmp_path, space=None, name="t"):
    raw = {"version": 1, "name": name, "evaluator": "accel",
           "base": {"workload": "tiny", "arch": "edge", "recipe": "semanticdialect"}, "search": {"kind": "grid"},
           "space": space or {"arch_overrides.pe_array.rows": [8, 16]}, "objectives": {"latency_s": "min"}}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.mark.parametrize("mode", ["run", "report-only"])
def test_corrupt_results_store(tmp_path, capsys, mode):
    out = tmp_path / "sw"
    out.mkdir()
    (out / "results.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    argv = ["sweep", str(sweep_file(tmp_path)), "--out", str(out), "--executor", "inline", "--no-progress"]
    assert main(argv + (["--report-only"] if mode == "report-only" else [])) == 2
    one_line(capsys, 2, out / "results.sqlite")


def test_sweep_rerun_with_changed_spec(tmp_path, capsys):
    out = str(tmp_path / "sw")
    common = ["--out", out, "--executor", "inline", "--no-progress"]
    assert main(["sweep", str(sweep_file(tmp_path)), *common]) == 0
    capsys.readouterr()
    changed = sweep_file(tmp_path, {"arch_overrides.pe_array.rows": [8, 32]})
    assert main(["sweep", str(changed), *common]) == 2
    one_line(capsys, 2, "results.sqlite", "different sweep")


@pytest.mark.parametrize("space, key, needle", [
    ({"arch_overrides.pe_array.rows": [8, -4]}, "space.arch_overrides.pe_array.rows", "-4"),
    ({"arch_overrides.pe_array.rowz": [8]}, "space.arch_overrides.pe_array.rowz", "unknown key"),
    ({"recipe": ["mxfp4", "semanticdialect-b32"]}, "space.recipe", "unknown recipe"),
    ({"arch.pe_array.rows": [8]}, "space.arch.pe_array.rows", "not a point field"),
], ids=["negative", "misspelt", "recipe", "not-a-field"])
def test_sweep_space_bad_values(tmp_path, capsys, space, key, needle):
    spec = sweep_file(tmp_path, space)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "sw"), "--executor", "inline"]) == 2
    line = one_line(capsys, 2, spec, f"'{key}'", needle)
    assert "edge.yaml: field" not in line.split("'" + key + "'")[0]     # the sweep file is blamed, not the design
    assert not (tmp_path / "sw" / "results.sqlite").exists()


def test_sweep_ctrl_c_exits_130_with_resume_hint(tmp_path, capsys, monkeypatch):
    import sim.sweep.accel_eval as accel_eval
    real, calls = accel_eval.evaluate, []

    def interrupted_on_second_point(cfg):
        calls.append(cfg)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(cfg)

    monkeypatch.setattr(accel_eval, "evaluate", interrupted_on_second_point)
    out = tmp_path / "sw"
    spec = sweep_file(tmp_path)
    assert main(["sweep", str(spec), "--out", str(out), "--executor", "inline", "--chunk", "1",
                 "--no-progress"]) == 130
    line = one_line(capsys, 130, "interrupted", out / "results.sqlite", "resume")
    assert f"sim sweep {spec}" in line
    with sqlite3.connect(out / "results.sqlite") as db:      # the finished point was kept for the resume
        assert db.execute("SELECT count(*) FROM points WHERE status='done'").fetchone()[0] == 1


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "0-d", "object", "text"])
def test_quantize_bad_input(tmp_path, capsys, kind):
    p = tmp_path / "x.npy"
    if kind == "missing":
        p = tmp_path / "nonexistent.npy"
    elif kind == "folder":
        p = tmp_path
    elif kind == "empty":
        np.save(p, np.zeros((0, 32), np.float32))
    elif kind == "0-d":
        np.save(p, np.array(3.0, np.float32))
    elif kind == "object":
        np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        p.write_text("1,2,3\n")
    assert main(["quantize", "--input", str(p), "--formats", "mxfp4"]) == 2
    line = one_line(capsys, 2, "--input", p)
    assert "error: 2" not in line and "errno" not in line.lower()


def test_quantize_nan_hint_names_the_flag(tmp_path, capsys):
    p = tmp_path / "nan.npy"
    x = np.ones((4, 64), np.float32)
    x[2, 40] = np.nan
    np.save(p, x)
    assert main(["quantize", "--input", str(p), "--formats", "mxfp4"]) == 2
    line = one_line(capsys, 2, p, "row 2", "block 1", "--nonfinite saturate")
    assert "nonfinite='saturate'" not in line


def test_quantize_nonfinite_saturate(tmp_path, capsys):
    p = tmp_path / "inf.npy"
    x = np.ones((4, 64), np.float32)
    x[1, 3], x[0, 0] = np.inf, np.nan
    np.save(p, x)
    assert main(["quantize", "--input", str(p), "--formats", "mxfp4", "--nonfinite", "saturate"]) == 0
    assert "mxfp4" in capsys.readouterr().out


@pytest.mark.parametrize("dims", [["100000000000000000000", "8", "8"], ["4294967296", "4294967296", "4294967296"]],
                         ids=["huge", "product"])
def test_gemm_overflowing_dimension(capsys, dims):
    assert main(["gemm", "--m", dims[0], "--k", dims[1], "--n", dims[2]]) == 2
    one_line(capsys, 2, "--m/--k/--n", "2**60")


def test_argument_errors_are_one_line(capsys):
    assert main(["gemm", "--m", "abc", "--k", "8", "--n", "8"]) == 2
    one_line(capsys, 2, "argument --m", "abc")


def test_estimate_arch_file_with_negative_rows(tmp_path, capsys):
    data = yaml.safe_load((ARCH_DIR / "edge.yaml").read_text())
    data["pe_array"]["rows"] = -4
    arch = tmp_path / "neg.yaml"
    arch.write_text(yaml.safe_dump(data))
    assert main(["estimate", "--workload", "tiny", "--arch", str(arch)]) == 2
    one_line(capsys, 2, "--arch", arch, "pe_array.rows")


def test_study_merge_corrupt_manifest(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.json").write_text("[1, 2")
    assert main(["study-merge", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "m")]) == 2
    one_line(capsys, 2, tmp_path / "a" / "manifest.json")


def test_internal_bug_keeps_its_traceback(monkeypatch):
    import sim.commands.estimate as est

    def bug(args):
        raise RuntimeError("a bug in the suite")

    monkeypatch.setattr(est, "run", bug)
    with pytest.raises(RuntimeError, match="a bug in the suite"):
        main(["estimate"])


def test_library_defaults_match_sim_defaults():
    from sim.accel.compare import compare
    from sim.accel.estimate import estimate
    from sim.accel.functional import DEFAULT_DESIGN
    from sim.pipeline.config import RunConfig
    from sim.study import DEFAULT_CHECKPOINT
    p = inspect.signature(estimate).parameters
    assert (p["workload"].default, p["arch"].default, p["recipe"].default) == (
        defaults.WORKLOAD, defaults.ARCH, defaults.RECIPE)
    c = inspect.signature(compare).parameters
    assert (c["workload"].default, c["base"].default) == (defaults.WORKLOAD, defaults.ARCH)
    assert DEFAULT_DESIGN == defaults.ARCH and DEFAULT_CHECKPOINT == defaults.CHECKPOINT
    assert (RunConfig.arch, RunConfig.recipe, RunConfig.full_backend) == (defaults.ARCH, defaults.RECIPE,
                                                                         defaults.BACKEND)
    assert defaults.checkpoint_path(defaults.MODEL).resolve() == (defaults.ROOT / defaults.CHECKPOINT).resolve()
