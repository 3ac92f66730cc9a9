"""SeDA: sub-formatbook partitions, token groups, restricted selection, metadata bits, consistency, refresh."""
import itertools

import numpy as np
import pytest

import quant
from quant.context import QuantContext
from quant.errors import QuantError
from quant.recipes import Recipe, Seda, TensorSpec, default_policy
from quant.seda import (allowed_mask, choose_subbooks, consistency, dialect_costs, partition_book,
                        restricted_mask, seda_bits_per_element, token_groups)

BOOK = quant.formatbook("dialectfp4")


@pytest.mark.parametrize("how", ["shape", "range"])
@pytest.mark.parametrize("s", [1, 2, 4, 8, 16])
def test_partition_is_disjoint_equal_and_complete(how, s):
    p = partition_book(BOOK, s, how)
    ids = sorted(i for sb in p.subbooks for i in sb)
    assert ids == list(range(16)) and {len(sb) for sb in p.subbooks} == {16 // s}
    assert p.local_bits() == int(np.log2(16 // s))
    assert (p.membership().sum(axis=0) == 1).all()


def test_shape_partition_spans_the_range_with_one_shape():
    p = partition_book(BOOK, 4, "shape")
    maxima = [sorted(BOOK.magnitudes[list(sb), 7]) for sb in p.subbooks]
    # each sub-book takes one dialect from each tier of 4 maxima (15-14, 13-12, 11-10, 9-8 half-units)
    for m in maxima:
        assert [int((15 - v) // 2) for v in m] == [3, 2, 1, 0]
    # within a tier, sub-book 0 gets the dialect whose index-6 magnitude is the largest share of its maximum
    first_tier = [sb[0] for sb in p.subbooks]
    ratios = [BOOK.magnitudes[d, 6] / BOOK.magnitudes[d, 7] for d in first_tier]
    assert ratios == sorted(ratios, reverse=True)
    r = partition_book(BOOK, 4, "range")
    assert r.subbooks[0] == (0, 1, 2, 3) and r.subbooks[3] == (12, 13, 14, 15)


def test_partition_refuses_uneven_sizes():
    with pytest.raises(QuantError, match="valid S"):
        partition_book(BOOK, 3)


def test_token_groups_follow_anchor_attention():
    p = np.full((1, 5, 5), 0.01)
    p[0, :, 4] += 0.8         # token 4 receives the most: anchor rank 0
    p[0, :, 1] += 0.3         # token 1 next: anchor rank 1
    p[0, 0, 1] = 0.9          # token 0 attends to anchor token 1 most
    p[0, 4, 1] = 0.95         # the anchor itself still stays in its own group
    g = token_groups(p, n_anchors=2)
    assert g.tolist() == [[1, 1, 0, 0, 0]]


def test_members_stay_inside_their_group_subbook():
    rng = np.random.default_rng(0)
    x = rng.standard_t(3, size=(24, 96)).astype(np.float32)
    x[3, :32] = 0                                      # an all-zero block keeps the canonical dialect 0
    groups = np.repeat(np.arange(4), 6)
    part = partition_book(BOOK, 4)
    mask, choice = restricted_mask(x, BOOK, 32, groups, part)
    qt = quant.quantize(x, "dialectfp4", allowed=mask)
    sub_of = part.member_of[qt.dialect.astype(np.int64)]            # (R, nb)
    nonzero = np.abs(x.reshape(24, 3, 32)).max(-1) > 0
    assert (sub_of[nonzero] == choice[groups][nonzero]).all()
    assert qt.dialect[3, 0] == 0


def test_group_choice_minimizes_summed_lut_error():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 64)).astype(np.float32) * rng.uniform(0.1, 10, size=(6, 1)).astype(np.float32)
    groups = np.array([0, 0, 0, 1, 1, 1])
    part = partition_book(BOOK, 4)
    cost = dialect_costs(x, BOOK, 32)
    labels, choice = choose_subbooks(cost, groups, part)
    for g, b in itertools.product(range(2), range(2)):
        members = np.where(labels == g)[0]
        totals = [sum(min(cost[m, b, d] for d in sb) for m in members) for sb in part.subbooks]
        assert choice[g, b] == int(np.argmin(totals))
    # and the restricted quantization reaches exactly that error
    qt = quant.quantize(x, "dialectfp4", allowed=allowed_mask(labels, choice, part))
    q_cost = np.take_along_axis(cost, qt.dialect.astype(np.int64)[..., None], axis=-1)[..., 0]
    for g, b in itertools.product(range(2), range(2)):
        members = labels == g
        assert q_cost[members, b].sum() == sum(min(cost[m, b, d] for d in part.subbooks[choice[g, b]])
                                               for m in np.where(members)[0])


def test_metadata_bits_shrink_as_specified():
    full = BOOK.bits_per_element(32)                            # 4 + (log2 16 + 8) / 32
    assert full == 4 + 12 / 32
    got = seda_bits_per_element(16, 4, 32, n_rows=512, n_groups=8)
    assert got == 4 + (8 + 2) / 32 + 8 * 2 / (512 * 32)
    assert got < full
    assert seda_bits_per_element(32, 4, 32, 512, 8) == 4 + (8 + 3) / 32 + 8 * 2 / (512 * 32)
    assert seda_bits_per_element(16, 1, 32, 10, 1) == full     # S = 1: nothing shrinks, nothing shared
    # one group per row: the group ids cost exactly what the local ids save
    assert seda_bits_per_element(16, 4, 32, 8, 8) == full


def _correlated_tokens(seed, n_groups=6, members=8, k=128):
    rng = np.random.default_rng(seed)
    base = rng.standard_t(4, size=(n_groups, k)) * rng.uniform(0.5, 4, size=(n_groups, 1))
    x = np.repeat(base, members, axis=0) * rng.uniform(0.8, 1.25, size=(n_groups * members, 1))
    x = x + 0.15 * rng.standard_normal(x.shape) * np.abs(x).mean()
    return x.astype(np.float32), np.repeat(np.arange(n_groups), members)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_consistency_is_higher_with_seda_on_correlated_tokens(seed):
    x, groups = _correlated_tokens(seed)
    plain = quant.quantize(x, "dialectfp4")
    mask, _ = restricted_mask(x, BOOK, 32, groups, partition_book(BOOK, 4))
    seda = quant.quantize(x, "dialectfp4", allowed=mask)
    c0, c1 = consistency(x, plain, groups), consistency(x, seda, groups)
    assert c0.n_pairs == c1.n_pairs == 6 * 28 * 4
    assert c1.same_dialect_share > c0.same_dialect_share
    assert np.isfinite(c0.error_spread) and np.isfinite(c1.error_spread)


def test_consistency_metric_counts_pairs():
    x = np.ones((4, 32), np.float32)
    qt = quant.quantize(x, "dialectfp4")
    c = consistency(x, qt, [0, 0, 1, 1])
    assert c.same_dialect_share == 1.0 and c.n_pairs == 2 and c.error_spread == 0.0


def test_groups_refresh_every_t_steps_from_the_previous_map():
    spec = TensorSpec("dialectfp4", "lut_argmin")
    r = Recipe("s", weight=spec, activation=spec, policy=default_policy(),
               seda=Seda(enabled=True, n_anchors=2, refresh_every=3))
    ctx = QuantContext(r)
    assert not ctx.wants_maps                       # no step yet
    probs = np.full((1, 6, 6), 1 / 6)
    seen = []
    for step in range(8):
        ctx.set_step(step)
        seen.append(ctx.seda_groups("single_blocks.0.linear2", 6, 0) is not None)
        wants = ctx.wants_maps
        ctx.record("single_blocks.0", probs.sum(1), 2)
        ctx.record_map("single_blocks.0", probs, 2)
        assert wants == (step in (0, 3, 6)), step
    assert seen == [False] + [True] * 7             # step 0 has no previous map: whole-book fallback
    g = ctx.seda_groups("double_blocks.0.img_attn.q_proj", 4, 0)
    assert g is None                                # no record for that block
