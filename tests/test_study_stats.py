"""sim/study_stats.py on synthetic data: paired bootstrap intervals and win rates of the quality study."""
import itertools

import numpy as np
import pandas as pd
import pytest

from sim import study_stats as st


def test_known_positive_margin_gives_an_interval_above_zero():
    d = 1.0 + np.random.default_rng(3).normal(0.0, 0.3, 24)
    c = st.compare_paired(20.0 + d, np.full(24, 20.0))
    assert c.margin == pytest.approx(d.mean())
    assert 0 < c.low < c.margin < c.high and c.significant
    assert c.win_rate == 1.0 and c.pairs == c.pairs_finite == 24


def test_zero_mean_symmetric_differences_give_an_interval_containing_zero():
    d = np.array([-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0] * 3)
    c = st.compare_paired(d, np.zeros_like(d))
    assert c.margin == 0.0 and c.low < 0 < c.high and not c.significant
    assert c.win_rate == 0.5


def test_win_rate_counts_ties_as_one_half_and_handles_infinity():
    a = [1.0, 2.0, 3.0, 4.0, np.inf, np.inf]
    b = [0.0, 2.0, 5.0, 4.0, 9.0, np.inf]
    assert st.win_rate(a, b) == pytest.approx((1 + 0.5 + 0 + 0.5 + 1 + 0.5) / 6)
    c = st.compare_paired(a, b)
    assert c.pairs == 6 and c.pairs_finite == 4            # inf - 9 and inf - inf are left out of the margin
    assert c.margin == pytest.approx((1 + 0 - 2 + 0) / 4)


def test_interval_matches_the_exact_bootstrap_distribution():
    """With 5 pairs every resample (5^5 index tuples, equally likely) can be enumerated: the Monte Carlo
    percentiles must land near the exact ones."""
    d = np.array([0.3, -1.2, 2.5, 0.9, 1.4])
    means = np.sort([d[list(ix)].mean() for ix in itertools.product(range(5), repeat=5)])
    exact_low, exact_high = means[int(0.025 * len(means))], means[int(0.975 * len(means))]
    low, high = st.bootstrap_interval(d)
    spread = means[-1] - means[0]
    assert abs(low - exact_low) < 0.02 * spread and abs(high - exact_high) < 0.02 * spread


def test_interval_is_reproducible_and_needs_enough_pairs():
    d = np.random.default_rng(1).normal(0.2, 1.0, 24)
    assert st.bootstrap_interval(d) == st.bootstrap_interval(d)
    assert st.bootstrap_interval(d, seed=1) != st.bootstrap_interval(d)
    few = st.compare_paired([3.0, 4.0, 5.0, 6.0], [0.0, 0.0, 0.0, 0.0])
    assert np.isnan(few.low) and not few.significant and few.margin == 4.5
    with pytest.raises(ValueError, match="same non-zero length"):
        st.compare_paired([1.0, 2.0], [1.0])


def test_comparison_table_pairs_by_prompt_and_seed():
    rows = []
    rng = np.random.default_rng(0)
    for p, s in itertools.product(range(4), range(3)):
        base = 20 + rng.normal()
        for recipe, off in (("fp", np.inf), ("nvfp4", 0.0), ("ours", 1.0), ("mxfp4", -0.5)):
            rows.append({"recipe": recipe, "outliers": "none", "prompt": f"p{p}", "seed": s, "psnr_db": base + off})
    wide = pd.DataFrame(rows).sample(frac=1.0, random_state=1)    # row order must not matter
    t = st.comparison_table(wide, versus=("nvfp4", "int4_g32")).set_index(["recipe", "versus"])
    assert set(t.index) == {("ours", "nvfp4"), ("mxfp4", "nvfp4")}  # fp skipped, absent baseline skipped
    ours = t.loc[("ours", "nvfp4")]
    assert ours["pairs"] == 12 and ours["margin_psnr_db"] == pytest.approx(1.0)
    assert ours["ci_low"] == pytest.approx(1.0) and ours["significant"] and ours["win_rate"] == 1.0
    assert t.loc[("mxfp4", "nvfp4"), "margin_psnr_db"] == pytest.approx(-0.5)


def test_cluster_interval_with_one_pair_per_group_is_the_pair_bootstrap():
    from sim.study_stats import bootstrap_interval, cluster_interval
    d = np.random.default_rng(3).normal(0.4, 1.0, 24)
    assert cluster_interval(d, np.arange(24)) == bootstrap_interval(d)


def test_cluster_interval_is_wider_when_seeds_of_a_prompt_move_together():
    """8 prompts x 3 seeds whose differences are mostly a per-prompt offset: resampling pairs as if independent
    understates the spread; resampling prompts does not."""
    from sim.study_stats import bootstrap_interval, cluster_interval
    rng = np.random.default_rng(5)
    offset = rng.normal(0.3, 1.0, 8)
    d = np.repeat(offset, 3) + rng.normal(0, 0.05, 24)
    groups = np.repeat(np.arange(8), 3)
    lo_p, hi_p = bootstrap_interval(d)
    lo_c, hi_c = cluster_interval(d, groups)
    assert hi_c - lo_c > 1.4 * (hi_p - lo_p)
    assert lo_c < d.mean() < hi_c


def test_cluster_interval_needs_enough_groups():
    from sim.study_stats import cluster_interval
    lo, hi = cluster_interval(np.ones(12), np.repeat(np.arange(4), 3))
    assert np.isnan(lo) and np.isnan(hi)
