"""The safetensors reader checks the whole header before reading a tensor: offsets (non-negative, inside the file,
no overlap, no hole, covering the data exactly), shapes and dtypes against sizes, header and metadata types, and
the `vdit_config` metadata; every failure is a CheckpointError naming the file and the key."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import vdit
from vdit.checkpoint import CheckpointError, SafetensorsFile, derive_config

REPO = Path(__file__).resolve().parents[1]


def _write(path, header, data: bytes) -> Path:
    h = (header if isinstance(header, (bytes, str)) else json.dumps(header))
    h = h.encode() if isinstance(h, str) else h
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


def _f32(n):
    return {"dtype": "F32", "shape": [n]}


def _refused(path, *needles):
    with pytest.raises(CheckpointError) as info:
        SafetensorsFile(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_negative_offsets_would_read_header_bytes(tmp_path):
    p = _write(tmp_path / "neg.safetensors", {"w": {**_f32(64), "data_offsets": [-256, 0]}}, b"")
    _refused(p, "'w'", "data_offsets [-256, 0]")


def test_overlapping_tensors_refused(tmp_path):
    p = _write(tmp_path / "ovl.safetensors", {"a": {**_f32(4), "data_offsets": [0, 16]},
                                               "b": {**_f32(4), "data_offsets": [8, 24]}}, bytes(24))
    _refused(p, "tensor 'b'", "overlaps tensor 'a'")


@pytest.mark.parametrize("offsets,size,needle", [
    ([[0, 16], [20, 36]], 36, "data bytes 16..20 before tensor 'b' belong to no tensor"),
    ([[4, 20], [20, 36]], 36, "data bytes 0..4 before tensor 'a' belong to no tensor"),
    ([[0, 16], [16, 32]], 40, "8 byte(s) after the last tensor belong to no tensor"),
])
def test_data_must_be_covered_exactly(tmp_path, offsets, size, needle):
    header = {"a": {**_f32(4), "data_offsets": offsets[0]}, "b": {**_f32(4), "data_offsets": offsets[1]}}
    _refused(_write(tmp_path / "gap.safetensors", header, bytes(size)), needle)


def test_empty_tensors_and_tiling_in_any_key_order_accepted(tmp_path):
    header = {"z": {**_f32(2), "data_offsets": [16, 24]}, "e": {**_f32(0), "data_offsets": [16, 16]},
              "a": {**_f32(4), "data_offsets": [0, 16]}}
    data = np.arange(6, dtype=np.float32).tobytes()
    st = SafetensorsFile(_write(tmp_path / "ok.safetensors", header, data))
    assert st.array("z").tolist() == [4.0, 5.0] and st.array("e").shape == (0,)


@pytest.mark.parametrize("header,needles", [
    ([{"w": 1}], ["header is a JSON list"]),
    ('"weights"', ["header is a JSON str"]),
    ({"w": {"dtype": "F32", "data_offsets": [0, 16]}}, ["tensor 'w'", "expected fields"]),
    ({"w": {**_f32(4), "data_offsets": [0, 16], "extra": 1}}, ["tensor 'w'", "expected fields"]),
    ({"w": 7}, ["tensor 'w'", "expected fields"]),
    ({"w": {"dtype": ["F32"], "shape": [4], "data_offsets": [0, 16]}}, ["tensor 'w'", "dtype ['F32']"]),
    ({"w": {"dtype": "F32", "shape": [2, -2], "data_offsets": [0, 16]}}, ["tensor 'w'", "shape [2, -2]"]),
    ({"w": {"dtype": "F32", "shape": [4.0], "data_offsets": [0, 16]}}, ["tensor 'w'", "shape [4.0]"]),
    ({"w": {"dtype": "F32", "shape": [True, 4], "data_offsets": [0, 16]}}, ["tensor 'w'", "shape [True, 4]"]),
    ({"w": {**_f32(4), "data_offsets": [0]}}, ["tensor 'w'", "data_offsets [0]"]),
    ({"w": {**_f32(4), "data_offsets": [16, 0]}}, ["tensor 'w'", "data_offsets [16, 0]"]),
    ({"w": {**_f32(4), "data_offsets": "0-16"}}, ["tensor 'w'", "data_offsets '0-16'"]),
    ({"w": {**_f32(4), "data_offsets": [0, 16]}, "__metadata__": ["x"]}, ["'__metadata__' is a list"]),
    ({"w": {**_f32(4), "data_offsets": [0, 16]}, "__metadata__": {"steps": 3}}, ["'__metadata__.steps' is a int"]),
    ('{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "w": {}}', ["key 'w' appears twice"]),
])
def test_malformed_headers_raise_checkpoint_error(tmp_path, header, needles):
    _refused(_write(tmp_path / "bad.safetensors", header, bytes(16)), *needles)


@pytest.fixture(scope="module")
def tiny_state():
    return {k: v.contiguous() for k, v in vdit.build("tiny", seed=2).state_dict().items()}


def _save(tmp_path, state, metadata=None):
    from safetensors.torch import save_file
    p = tmp_path / "m.safetensors"
    save_file(state, str(p), metadata=metadata)
    return p


@pytest.mark.parametrize("meta,needle", [
    ("{not json", "is not valid JSON"),
    ('["tiny"]', "is a JSON list, expected an object"),
    ('{"axes_dim": "8,12,12"}', "field 'axes_dim' is '8,12,12'"),
    ('{"axes_dim": [8, 12]}', "field 'axes_dim' is [8, 12]"),
    ('{"theta": "1e4"}', "field 'theta' is '1e4'"),
    ('{"theta": NaN}', "field 'theta' is nan"),
    ('{"name": 5}', "field 'name' is 5"),
    ('{"rope": 1}', "unknown field 'rope'"),
    ('{"axes_dim": [2, 2, 2]}', "no consistent config"),          # sums to 6, the head dim is 32
])
def test_bad_vdit_config_metadata(tmp_path, tiny_state, meta, needle):
    p = _save(tmp_path, tiny_state, {"vdit_config": meta})
    with pytest.raises(CheckpointError) as info:
        vdit.load_checkpoint(p)
    msg = str(info.value)
    assert str(p) in msg and ("vdit_config" in msg or "no consistent config" in msg)
    assert needle in msg


@pytest.mark.parametrize("key,shape,needle", [
    ("img_in.weight", (128 * 48,), "key 'img_in.weight' has shape [6144]"),
    ("double_blocks.0.img_attn.norm.query_norm.scale", (0,), "query_norm.scale' has shape [0]"),
    ("cond_in.weight", (128, 47), "key 'cond_in.weight' has 47 input channels"),
])
def test_derived_config_shapes_checked(tmp_path, tiny_state, key, shape, needle):
    p = _save(tmp_path, {**tiny_state, key: torch.zeros(shape)})
    with pytest.raises(CheckpointError) as info:
        derive_config(SafetensorsFile(p))
    assert str(p) in str(info.value) and needle in str(info.value)


def test_committed_checkpoint_still_reads():
    st = SafetensorsFile(REPO / "vdit" / "checkpoints" / "tiny.safetensors")
    assert derive_config(st) == vdit.CONFIGS["tiny"]
