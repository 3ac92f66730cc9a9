"""Our safetensors reader: the exact 1,082-key Open-Sora 2.0 layout at tiny width, FP32 / BF16, DC-AE, and refusals."""
import json
import struct
import warnings

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file as st_load
from safetensors.torch import save_file

import vdit
from vdit.checkpoint import CheckpointError, SafetensorsFile

# Open-Sora 2.0 depths and head count at a tiny width: the real key layout, ~1.4 M parameters
NARROW = vdit.get_config("opensora2").with_(name="narrow", hidden_size=32, num_heads=2, axes_dim=(4, 6, 6),
                                            context_in_dim=24, vec_in_dim=16)
NARROW_DCAE = NARROW.with_(name="narrow-dcae", in_channels=128, patch_size=1)


@pytest.fixture(scope="module")
def narrow_model():
    return vdit.build(NARROW, seed=3)


def _plain_save(model, path, dtype):
    """Save with the upstream library and no metadata, as a foreign checkpoint would be."""
    save_file({k: v.to(dtype).contiguous() for k, v in model.state_dict().items()}, str(path))


def _bits(t):
    return t.detach().float().numpy().tobytes()


def test_fp32_layout_loads_bit_exact(narrow_model, tmp_path):
    p = tmp_path / "os2_fp32.safetensors"
    _plain_save(narrow_model, p, torch.float32)
    model, cfg = vdit.load_checkpoint(p)
    assert len(model.state_dict()) == 1082
    assert (cfg.depth, cfg.depth_single_blocks, cfg.hidden_size, cfg.num_heads) == (19, 38, 32, 2)
    assert (cfg.in_channels, cfg.cond_channels, cfg.context_in_dim, cfg.vec_in_dim) == (64, 68, 24, 16)
    ref = narrow_model.state_dict()
    for k, v in model.state_dict().items():
        assert _bits(v) == _bits(ref[k]), k
    # our parser agrees with the upstream reader on every byte
    up = st_load(str(p))
    st = SafetensorsFile(p)
    assert set(st.entries) == set(up)
    assert all(st.array(k).tobytes() == up[k].tobytes() for k in up)


def test_bf16_layout_widens_exactly(narrow_model, tmp_path):
    p = tmp_path / "os2_bf16.safetensors"
    _plain_save(narrow_model, p, torch.bfloat16)
    assert json.loads(p.read_bytes()[8:8 + struct.unpack("<Q", p.read_bytes()[:8])[0]])["img_in.weight"]["dtype"] \
        == "BF16"
    model, _ = vdit.load_checkpoint(p)
    ref = narrow_model.state_dict()
    for k, v in model.state_dict().items():
        assert _bits(v) == _bits(ref[k].to(torch.bfloat16).float()), k


def test_dcae_variant_derives_its_config(tmp_path):
    src = vdit.build(NARROW_DCAE, seed=4)
    p = tmp_path / "dcae.safetensors"
    _plain_save(src, p, torch.bfloat16)
    model, cfg = vdit.load_checkpoint(p)
    assert (cfg.in_channels, cfg.patch_size, cfg.cond_channels) == (128, 1, 129)
    assert tuple(model.final_layer.linear.weight.shape) == (128, 32)
    assert len(model.state_dict()) == 1082


def test_save_checkpoint_round_trip_with_metadata(tmp_path):
    src = vdit.build("tiny", seed=9)
    p = tmp_path / "tiny.safetensors"
    vdit.save_checkpoint(src, p, metadata={"steps": 3})
    model, cfg = vdit.load_checkpoint(p)
    assert cfg == vdit.CONFIGS["tiny"]
    assert SafetensorsFile(p).metadata["steps"] == "3"
    assert all(_bits(v) == _bits(src.state_dict()[k]) for k, v in model.state_dict().items())


def test_rope_base_travels_in_metadata(tmp_path):
    """theta is not visible in any tensor shape: save_checkpoint records it, and a file without it gets 10,000."""
    src = vdit.build(vdit.CONFIGS["tiny"].with_(theta=37), seed=1)
    p = tmp_path / "t37.safetensors"
    vdit.save_checkpoint(src, p)
    assert vdit.load_checkpoint(p)[1].theta == 37
    q = tmp_path / "plain.safetensors"
    _plain_save(src, q, torch.float32)
    assert vdit.load_checkpoint(q)[1].theta == 10_000


def test_truncated_file_refused(narrow_model, tmp_path):
    p = tmp_path / "full.safetensors"
    _plain_save(narrow_model, p, torch.float32)
    raw = p.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(raw[:-100])
    with pytest.raises(CheckpointError, match="truncated: tensor '.*' ends at byte"):
        vdit.load_checkpoint(cut)
    cut.write_bytes(raw[:50])
    with pytest.raises(CheckpointError, match="truncated"):
        vdit.load_checkpoint(cut)


def _rewrite(model, path, drop=(), reshape=(), extra=()):
    sd = {k: v.contiguous() for k, v in model.state_dict().items() if k not in drop}
    for k in reshape:
        sd[k] = torch.zeros(sd[k].shape[0] + 1, *sd[k].shape[1:])
    for k in extra:
        sd[k] = torch.zeros(3)
    save_file(sd, str(path))


def test_missing_wrong_shape_and_extra_keys(narrow_model, tmp_path):
    p = tmp_path / "bad.safetensors"
    _rewrite(narrow_model, p, drop=["single_blocks.17.linear2.bias"])
    with pytest.raises(CheckpointError, match=r"missing key 'single_blocks\.17\.linear2\.bias'"):
        vdit.load_checkpoint(p)
    _rewrite(narrow_model, p, reshape=["double_blocks.4.txt_attn.k_proj.weight"])
    with pytest.raises(CheckpointError, match=r"'double_blocks\.4\.txt_attn\.k_proj\.weight' has shape \[33, 32\]"):
        vdit.load_checkpoint(p)
    _rewrite(narrow_model, p, extra=["guidance_in.in_layer.weight"])
    with pytest.warns(UserWarning, match="guidance_in.in_layer.weight"):
        model, _ = vdit.load_checkpoint(p)
    assert len(model.state_dict()) == 1082


def test_bad_header_refused(tmp_path):
    p = tmp_path / "junk.safetensors"
    p.write_bytes(struct.pack("<Q", 4) + b"{{{{" + b"\0" * 16)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        SafetensorsFile(p)
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}).encode()
    p.write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 16)
    with pytest.raises(CheckpointError, match="'w': data_offsets 0..12 do not hold F32"):
        SafetensorsFile(p)
