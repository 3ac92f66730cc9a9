import numpy as np
import pytest

from sim.sweep import SweepSpecError, parse_sweep, pareto_mask, point_id

BASE = {"version": 1, "name": "t", "base": {"arch": "edge", "workload": "tiny"},
        "space": {"arch_overrides.pe_array.rows": [8, 16], "recipe": ["mxfp4", "nvfp4", "semanticdialect"]},
        "objectives": {"latency_s": "min", "energy_j": "min"}}


def test_grid_points_are_the_cartesian_product_with_stable_ids():
    spec = parse_sweep(BASE)
    pts = spec.points()
    assert len(pts) == 6
    assert pts[0]["arch_overrides"]["pe_array"]["rows"] in (8, 16) and pts[0]["arch"] == "edge"
    assert len({point_id(p) for p in pts}) == 6
    assert [point_id(p) for p in pts] == [point_id(p) for p in parse_sweep(BASE).points()]


def test_random_points_are_seeded_and_in_range():
    raw = dict(BASE, search={"kind": "random", "samples": 50, "seed": 3},
               space={"arch_overrides.pe_array.rows": {"min": 1, "max": 100, "log": True, "int": True},
                      "arch_overrides.pe_array.cols": [8, 16]})
    a, b = parse_sweep(raw).points(), parse_sweep(raw).points()
    rows = [p["arch_overrides"]["pe_array"]["rows"] for p in a]
    assert a == b and all(1 <= r <= 100 and isinstance(r, int) for r in rows)
    raw2 = dict(raw, search={"kind": "random", "samples": 50, "seed": 4})
    assert parse_sweep(raw2).points() != a


@pytest.mark.parametrize("patch, field", [
    ({"version": 2}, "version"),
    ({"bogus": 1}, "bogus"),
    ({"search": {"kind": "annealing"}}, "search.kind"),
    ({"search": {"kind": "random"}}, "search.samples"),
    ({"space": {"x": {"min": 5, "max": 1}}, "search": {"kind": "random", "samples": 2}}, "space.x"),
    ({"space": {"x": {"min": 1, "max": 5}}}, "space.x"),
    ({"objectives": {"latency_s": "fastest"}}, "objectives"),
    ({"constraints": [{"metric": "psnr_db", "op": "=>", "value": 1}]}, "constraints[0]"),
])
def test_bad_specs_name_file_and_field(patch, field):
    with pytest.raises(SweepSpecError) as err:
        parse_sweep(dict(BASE, **patch), "sweeps/x.yaml")
    assert "sweeps/x.yaml" in str(err.value) and f"'{field}'" in str(err.value)


def test_pareto_mask_against_brute_force():
    rng = np.random.default_rng(0)
    v = rng.random((300, 3))
    v[5] = v[6]  # duplicates: neither dominates the other
    mask = pareto_mask(v, ["min", "min", "max"])
    w = v * np.array([1, 1, -1])
    for i in range(len(v)):
        dominated = any(np.all(w[j] <= w[i]) and np.any(w[j] < w[i]) for j in range(len(v)))
        assert mask[i] == (not dominated)
    assert mask.sum() >= 1
