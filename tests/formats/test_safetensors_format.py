"""safetensors files, single and sharded, through .nnz and back: bit-identical, metadata included."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

import nncodec
from nncodec.errors import CorruptFileError, LimitExceededError, NnzError, UnsafeInputError, UnsupportedError

DTYPES = ["float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "bool"]


@st.composite
def arrays(draw) -> np.ndarray:
    name = draw(st.sampled_from(DTYPES + ["bfloat16"]))
    dtype = np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)
    shape = tuple(draw(st.lists(st.integers(0, 6), max_size=3)))
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if name == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=count, max_size=count)), dtype=bool).reshape(shape)
    if draw(st.booleans()):  # every bit pattern
        raw = draw(st.binary(min_size=count * dtype.itemsize, max_size=count * dtype.itemsize))
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return np.full(shape, draw(st.integers(0, 100)), dtype=dtype)


tensor_dicts = st.dictionaries(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                                       max_size=12).filter(lambda k: k != "__metadata__"),
                               arrays(), min_size=1, max_size=6)
metadata = st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3)


@given(tensors=tensor_dicts, meta=metadata)
@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_safetensors_round_trip_is_bit_identical(tmp_path, tensors, meta):
    src = tmp_path / "model.safetensors"
    save_file(tensors, src, metadata=meta)
    nnz = nncodec.encode_file(src, tmp_path / "model.nnz", force=True)
    out = nncodec.decode_file(nnz, tmp_path / "decoded.safetensors", force=True)
    assert out.read_bytes() == src.read_bytes()
    with nncodec.load(nnz) as f:
        for name, array in tensors.items():
            assert f[name].dtype == array.dtype and f[name].shape == array.shape
            assert f[name].tobytes() == array.tobytes()


def _shards(tmp_path: Path, n: int = 3) -> Path:
    rng = np.random.default_rng(0)
    weight_map = {}
    for i in range(n):
        shard = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        tensors = {f"layers.{i}.w": rng.standard_normal((16, 8)).astype(np.float32),
                   f"layers.{i}.b": rng.standard_normal(8).astype(ml_dtypes.bfloat16)}
        save_file(tensors, tmp_path / shard, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, shard))
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 123}, "weight_map": weight_map}, indent=2))
    return index


def test_sharded_checkpoint_encodes_to_one_nnz_and_decodes_to_the_same_shards(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    index = _shards(src)
    nnz = nncodec.encode_file(index, tmp_path / "model.nnz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.nnz", "src"]
    assert len(nncodec.load(nnz)) == 6
    out_dir = tmp_path / "out"
    out = nncodec.decode_file(nnz, out_dir / index.name)
    assert out == out_dir / index.name
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in src.iterdir())
    for p in src.iterdir():
        assert (out_dir / p.name).read_bytes() == p.read_bytes(), p.name


def test_sharded_checkpoint_to_one_safetensors_file(tmp_path):
    index = _shards(tmp_path)
    out = nncodec.decode_file(nncodec.encode_file(index, tmp_path / "m.nnz"), to="safetensors")
    got = load_file(out)
    assert len(got) == 6
    for shard in sorted(tmp_path.glob("model-*.safetensors")):
        for name, array in load_file(shard).items():
            assert got[name].tobytes() == array.tobytes()


def test_shard_outside_the_folder_is_refused(tmp_path):
    (tmp_path / "m").mkdir()
    save_file({"w": np.ones(2, np.float32)}, tmp_path / "outside.safetensors")
    index = tmp_path / "m" / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"w": "../outside.safetensors"}}))
    with pytest.raises(UnsafeInputError):
        nncodec.encode_file(index)


def test_decode_refuses_to_overwrite_an_existing_shard(tmp_path):
    index = _shards(tmp_path)
    nnz = nncodec.encode_file(index, tmp_path / "m.nnz")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "model-00002-of-00003.safetensors").write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        nncodec.decode_file(nnz, out_dir / index.name)
    assert sorted(p.name for p in out_dir.iterdir()) == ["model-00002-of-00003.safetensors"]
    assert (out_dir / "model-00002-of-00003.safetensors").read_bytes() == b"keep me"


def test_float8_tensors_are_carried_as_bytes(tmp_path):
    import torch
    from safetensors.torch import save_file as save_torch

    tensors = {"f8": torch.randn(4, 4).to(torch.float8_e4m3fn), "w": torch.randn(3)}
    save_torch(tensors, tmp_path / "m.safetensors")
    nnz = nncodec.encode_file(tmp_path / "m.safetensors")
    out = nncodec.decode_file(nnz, tmp_path / "back.safetensors")
    assert out.read_bytes() == (tmp_path / "m.safetensors").read_bytes()
    assert nncodec.load(nnz)["f8"].dtype == np.uint8
    with pytest.raises(UnsupportedError, match="f8"):
        nncodec.decode_file(nnz, to="npz")


# -- damaged headers: safetensors' own rules


def _raw_file(path: Path, header: dict, data: bytes, pad: bytes = b"") -> Path:
    raw = json.dumps(header).encode() + pad
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


@pytest.mark.parametrize("header,data,error", [
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12), "overlaps"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}, bytes(16), "gap"),
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8), "describes"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8), "does not match"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, bytes(8), "invalid data offsets"),
    ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8), "malformed"),
    ({"a": {"dtype": "F32", "shape": [2]}}, bytes(8), "malformed"),
    ({"__metadata__": {"k": 1}}, b"", "__metadata__"),
], ids=["overlap", "gap", "past-end", "size-mismatch", "reversed", "negative-shape", "no-offsets", "metadata"])
def test_malformed_header_is_corrupt(tmp_path, header, data, error):
    path = _raw_file(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(CorruptFileError, match=error):
        nncodec.encode_file(path)
    assert not (tmp_path / "bad.nnz").exists()


def test_header_length_over_the_limit_and_past_the_end(tmp_path):
    (tmp_path / "huge.safetensors").write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(LimitExceededError):
        nncodec.encode_file(tmp_path / "huge.safetensors")
    (tmp_path / "short.safetensors").write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(CorruptFileError, match="truncated"):
        nncodec.encode_file(tmp_path / "short.safetensors")


def test_duplicate_tensor_names_in_header_are_corrupt(tmp_path):
    entry = '{"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}'
    raw = ('{"a": ' + entry + ', "a": ' + entry + "}").encode()
    (tmp_path / "dup.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\x00")
    with pytest.raises(CorruptFileError, match="twice"):
        nncodec.encode_file(tmp_path / "dup.safetensors")


@given(cut=st.integers(0, 10_000))
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_truncated_safetensors_is_a_clear_error(tmp_path, cut):
    src = tmp_path / "m.safetensors"
    save_file({"w": np.arange(1000, dtype=np.float32), "b": np.ones(3, np.int64)}, src)
    data = src.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[: cut % len(data)])
    with pytest.raises(NnzError):
        nncodec.encode_file(bad, force=True)
