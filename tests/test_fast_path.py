"""The semanticdialect path's fast per-call work gives the same integers and bits as the NumPy spec: SeDA's fused
sub-book choice (quant/fast_seda.py), the residual of the salient rows, vectorized salient-row choice."""
import numpy as np
import pytest

import quant
from quant.decompose import decompose, residual, take_rows, top_rows
from quant.errors import NonFiniteError
from quant.seda import choose_subbooks, dialect_costs, partition_book, restricted_mask


def _hard_matrix(rng, rows, k):
    """Heavy tails, all-zero blocks, subnormals, huge values, values on rounding midpoints and repeated rows
    (exact ties between sub-books)."""
    x = rng.standard_t(2, size=(rows, k)).astype(np.float32) * rng.uniform(1e-3, 1e3, size=(rows, 1)).astype(np.float32)
    x[1, :] = 0
    x[2, :32] = 0
    x[3, :] = np.float32(1e-40) * rng.integers(-3, 4, size=k)
    x[4, :] = np.float32(3e38) * rng.uniform(-1, 1, size=k).astype(np.float32)
    x[5, :] = rng.integers(-24, 25, size=k) / np.float32(8)          # quarter/eighth-unit levels: LUT ties
    x[6] = x[5]
    x[7] = -x[5]
    return x


@pytest.mark.parametrize("book_name,n_sub,how", [("dialectfp4", 4, "shape"), ("dialectfp4-32", 2, "shape"),
                                                 ("dialectfp4-32", 8, "range"), ("dialectfp4", 1, "shape")])
@pytest.mark.parametrize("k,block", [(128, 32), (100, 32), (96, 16)])
def test_numba_subbook_choice_equals_numpy(book_name, n_sub, how, k, block):
    rng = np.random.default_rng(k + n_sub)
    book = quant.formatbook(book_name)
    part = partition_book(book, n_sub, how)
    x = _hard_matrix(rng, 40, k)
    groups = rng.integers(0, 7, size=40) * 3                          # sparse ids: labels are made dense
    mask_ref, choice_ref = restricted_mask(x, book, block, groups, part)
    mask_fast, choice_fast = restricted_mask(x, book, block, groups, part, backend="numba")
    assert choice_fast.dtype == choice_ref.dtype and (choice_fast == choice_ref).all()
    assert (mask_fast == mask_ref).all()
    labels, choice = choose_subbooks(dialect_costs(x, book, block), groups, part)
    assert (choice == choice_fast).all()


def test_numba_subbook_choice_nonfinite_raises_like_numpy():
    x = np.ones((4, 64), np.float32)
    x[2, 40] = np.inf
    part = partition_book(quant.formatbook("dialectfp4"), 4)
    with pytest.raises(NonFiniteError):
        restricted_mask(x, quant.formatbook("dialectfp4"), 32, np.zeros(4, int), part, backend="numba")


@pytest.mark.parametrize("fmt", ["dialectfp4-32", "mxfp4", "nvfp4"])
def test_take_rows_dequantizes_to_the_same_bits(fmt):
    rng = np.random.default_rng(3)
    x = _hard_matrix(rng, 30, 96)[:, :96] * np.float32(1e-30 if fmt == "nvfp4" else 1)
    x = np.nan_to_num(x, posinf=0, neginf=0)
    qx = quant.quantize(x, fmt)
    rows = np.array([0, 4, 5, 17, 29])
    sub = take_rows(qx, rows)
    assert sub.dequantize().view(np.uint32).tolist() == qx.dequantize()[rows].view(np.uint32).tolist()
    full = (x[rows] - qx.dequantize()[rows]).astype(np.float32)
    assert residual(x, qx, rows).view(np.uint32).tolist() == full.view(np.uint32).tolist()


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_decompose_with_row_subset_matches_whole_dequantize(backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 128)).astype(np.float32)
    rows = np.array([1, 9, 33, 63])
    qx, qr = decompose(x, "dialectfp4-32", rows, backend=backend)
    r = (x[rows] - qx.dequantize()[rows]).astype(np.float32)
    qr_ref = quant.quantize(r, "dialectfp4-32", backend="reference")
    for a in ("codes", "dialect", "exponent"):
        assert (getattr(qr, a) == getattr(qr_ref, a)).all()


def test_top_rows_per_sample_equals_the_per_sample_loop():
    from quant.context import top_rows_per_sample
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 5, size=(4, 37)).astype(np.float32)     # many ties: lower index first
    for k in (0, 1, 2, 9, 37):
        loop = [top_rows(s, k) + b * scores.shape[1] for b, s in enumerate(scores)] if k else [np.zeros(0, int)]
        assert top_rows_per_sample(scores, k).tolist() == np.concatenate(loop).tolist()


def _per_pair_reference(recipe, backend, q, k, v):
    """The attention matmul outputs of the per-(sample, head) loop (quantize each pair alone), as int32 bits."""
    from quant.attention import attention_matmul
    att = quant.recipe(recipe).resolved().attention
    qn, kn, vn = (t.numpy() for t in (q, k, v))
    if att.k_smoothing:                     # the same float32 per-head mean over tokens as quantized_attention
        kn = (kn - kn.mean(axis=2, keepdims=True, dtype=np.float32)).astype(np.float32)
    calls = []
    for b in range(qn.shape[0]):
        for h in range(qn.shape[1]):
            calls.append(attention_matmul(qn[b, h], kn[b, h], att.q, att.k, backend, "t").view(np.int32).copy())
    return calls


@pytest.mark.parametrize("recipe", ["semanticdialect-fullpath", "nvfp4-fullpath", "semanticdialect-attn-q"])
@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_stacked_attention_operands_give_the_per_pair_bits(recipe, backend):
    import torch
    from quant.attention import quantized_attention
    from quant.context import QuantContext
    g = torch.Generator().manual_seed(11)
    q, k, v = (torch.randn(2, 3, 40, 32, generator=g) for _ in range(3))
    ctx = QuantContext(quant.recipe(recipe).resolved(), backend)
    seen, routes = [], []
    ctx.attention_observers.append(lambda name, y, kk: seen.append((name, y.view(np.int32).copy())))
    # a cross-check routes single calls: pair 4 of QK^T goes to the reference, quantized there on its own
    ctx.attention_route = lambda name: routes.append(name) or ("reference" if len(routes) == 5 else None)
    quantized_attention(ctx, "double_blocks.0", q, k, v, 8)
    qk = [y for n, y in seen if n.endswith(".qk")]
    assert len(qk) == 6 and len(seen) == 12 and len(routes) == 12
    for got, want in zip(qk, _per_pair_reference(recipe, backend, q, k, v)):
        assert np.array_equal(got, want)
    ref = QuantContext(quant.recipe(recipe).resolved(), "reference")
    ref_seen = []
    ref.attention_observers.append(lambda name, y, kk: ref_seen.append(y.view(np.int32).copy()))
    quantized_attention(ref, "double_blocks.0", q, k, v, 8)
    assert all(np.array_equal(a, b) for (_, a), b in zip(seen, ref_seen))
