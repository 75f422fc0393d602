"""PyTorch checkpoints (torch.save zip and legacy) through .nnz and back, checked with real torch."""

from __future__ import annotations

from dataclasses import replace
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncodec
from nncodec.errors import ChecksumError, CorruptFileError, NnzError, UnsupportedError
from nncodec.formats import torch_format
from nncodec.atomic import staged_output
from torch_checkpoints import DTYPES, assert_same, checkpoints, storage_groups


def round_trip(tmp_path: Path, obj, legacy: bool, codec: str = "lossless") -> tuple[Path, Path]:
    src = tmp_path / "model.pt"
    torch.save(obj, src, _use_new_zipfile_serialization=not legacy)
    nnz = nncodec.encode_file(src, tmp_path / "model.nnz", codec=codec, force=True)
    out = nncodec.decode_file(nnz, tmp_path / "decoded.pt", force=True)
    return src, out


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@given(obj=checkpoints())
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_checkpoint_round_trip_loads_identically(tmp_path, legacy, obj):
    src, out = round_trip(tmp_path, obj, legacy)
    original = torch.load(src, weights_only=True)
    decoded = torch.load(out, weights_only=True)
    assert_same(original, decoded)
    assert storage_groups(original) == storage_groups(decoded)
    assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("codec", ["raw", "lossless"])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_every_storage_dtype_round_trips(tmp_path, codec, legacy):
    state = {str(d): (torch.arange(24) - 12).reshape(2, 3, 4).to(d) for d in DTYPES}
    state["nan_bf16"] = torch.tensor([float("nan"), -0.0, float("inf"), 1e-39]).to(torch.bfloat16)
    src, out = round_trip(tmp_path, state, legacy, codec)
    assert_same(torch.load(src, weights_only=True), torch.load(out, weights_only=True))
    assert out.read_bytes() == src.read_bytes()


def test_load_gives_each_storage_once_by_its_first_tensor(tmp_path):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state = {"a": base, "a_t": base.t(), "tail": base[1:], "alone": base.t().contiguous(),
             "transposed_only": torch.ones(2, 3).t(), "bf": torch.ones(4, dtype=torch.bfloat16)}
    torch.save(state, tmp_path / "m.pt")
    with nncodec.load(nncodec.encode_file(tmp_path / "m.pt")) as f:
        arrays = dict(f)
    assert list(arrays) == ["a", "alone", "transposed_only.storage", "bf"]
    assert np.array_equal(arrays["a"], base.numpy())
    # A view that permutes its whole storage is coded in memory order: t() of a 2x3 storage -> (2, 3).
    assert arrays["transposed_only.storage"].shape == (2, 3)
    assert arrays["bf"].dtype.name == "bfloat16"


@pytest.mark.parametrize("target", ["safetensors", "npz", "onnx-initializers"])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_decode_to_other_formats_gives_every_tensor(tmp_path, target, legacy):
    import onnx
    from onnx import numpy_helper
    from safetensors.numpy import load_file

    base = torch.randn(3, 4)
    state = {"model": {"w": base, "w_t": base.t(), "tail": base[1:, 2:], "bf": torch.randn(5).to(torch.bfloat16),
                       "i": torch.arange(4, dtype=torch.int64)}, "epoch": 3}
    torch.save(state, tmp_path / "m.pt", _use_new_zipfile_serialization=not legacy)
    out = nncodec.decode_file(nncodec.encode_file(tmp_path / "m.pt"), to=target)
    assert out.suffix == {"safetensors": ".safetensors", "npz": ".npz", "onnx-initializers": ".onnx"}[target]
    if target == "safetensors":
        got = load_file(out)
    elif target == "npz":
        got = dict(np.load(out))
    else:
        got = {t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer}
    assert sorted(got) == sorted(f"model/{k}" for k in state["model"])
    for key, tensor in state["model"].items():
        want = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
        have = got[f"model/{key}"]
        assert np.array_equal(np.asarray(have, dtype=want.dtype), want), key
        assert have.shape == want.shape


def test_decode_to_safetensors_loads_in_torch_and_keeps_bfloat16(tmp_path):
    from safetensors.torch import load_file

    state = {"w": torch.randn(4, 4).to(torch.bfloat16), "v": torch.randn(4, 4).t()}
    torch.save(state, tmp_path / "m.pt")
    out = nncodec.decode_file(nncodec.encode_file(tmp_path / "m.pt"), to="safetensors")
    got = load_file(out)
    assert got["w"].dtype == torch.bfloat16 and torch.equal(got["w"], state["w"])
    assert torch.equal(got["v"], state["v"])


def test_tensor_saved_alone_round_trips(tmp_path):
    src, out = round_trip(tmp_path, torch.randn(3, 3).to(torch.float16), legacy=False)
    assert torch.equal(torch.load(out, weights_only=True), torch.load(src, weights_only=True))
    assert list(nncodec.load(tmp_path / "model.nnz")) == ["tensor"]


def test_uint16_and_float8_and_complex_storages(tmp_path):
    state = {"u16": torch.tensor([1, 65535, 7], dtype=torch.uint16), "f8": torch.ones(3).to(torch.float8_e4m3fn),
             "c": torch.randn(3, dtype=torch.complex64), "u32": torch.tensor([2**32 - 1], dtype=torch.uint32)}
    src, out = round_trip(tmp_path, state, legacy=False)
    assert out.read_bytes() == src.read_bytes()
    loaded = torch.load(out, weights_only=True)
    for k in ("u16", "c", "u32"):
        assert torch.equal(loaded[k], state[k])
    with pytest.raises(UnsupportedError, match="float8"):
        nncodec.decode_file(tmp_path / "model.nnz", to="npz")


def test_changed_tensors_get_fresh_crcs(tmp_path):
    """What a lossy codec does: different tensor bytes. The zip CRC-32s must follow them."""
    torch.save({"w": torch.zeros(64), "v": torch.arange(10)}, tmp_path / "m.pt")
    doc = torch_format.read(tmp_path / "m.pt")
    changed = {k: (v + 1).astype(v.dtype) for k, v in doc.tensors.items()}
    with staged_output(tmp_path, force=False) as staging:
        torch_format.write(replace(doc, tensors=changed), tmp_path / "out.pt", staging)
    with zipfile.ZipFile(tmp_path / "out.pt") as z:
        assert z.testzip() is None
    loaded = torch.load(tmp_path / "out.pt", weights_only=True)
    assert torch.equal(loaded["w"], torch.ones(64)) and torch.equal(loaded["v"], torch.arange(1, 11))


def _byteswap_zip(src: Path, dst: Path) -> None:
    """The same checkpoint as a big-endian machine writes it."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        sizes = {"data/0": 4, "data/1": 2}  # float32 "w", bfloat16 "h"
        for info in zin.infolist():
            data = zin.read(info)
            record = info.filename.split("/", 1)[1]
            if record == "byteorder":
                data = b"big"
            elif record in sizes:
                data = np.frombuffer(data, dtype=f"<u{sizes[record]}").byteswap().tobytes()
            zout.writestr(info.filename, data)


def test_big_endian_checkpoint_round_trips_and_loads_native(tmp_path):
    state = {"w": torch.randn(5), "h": torch.randn(3).to(torch.bfloat16)}
    torch.save(state, tmp_path / "le.pt")
    _byteswap_zip(tmp_path / "le.pt", tmp_path / "archive.pt")
    assert torch.equal(torch.load(tmp_path / "archive.pt", weights_only=True)["w"], state["w"])
    nnz = nncodec.encode_file(tmp_path / "archive.pt")
    assert np.array_equal(nncodec.load(nnz)["w"], state["w"].numpy())
    out = nncodec.decode_file(nnz, tmp_path / "back.pt")
    assert out.read_bytes() == (tmp_path / "archive.pt").read_bytes()


# -- damaged files


def _checkpoint(tmp_path: Path, legacy: bool) -> Path:
    path = tmp_path / ("legacy.pth" if legacy else "zip.pt")
    torch.save({"w": torch.randn(64, 8), "b": torch.randn(8), "step": 3}, path,
               _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@given(fraction=st.floats(0.0, 0.999))
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_truncated_checkpoint_is_a_clear_error(tmp_path, legacy, fraction):
    data = _checkpoint(tmp_path, legacy).read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(NnzError):
        nncodec.encode_file(cut, tmp_path / "cut.nnz", force=True)
    assert not (tmp_path / "cut.nnz").exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@given(position=st.floats(0.0, 0.999), value=st.integers(0, 255))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_checkpoint_never_crashes(tmp_path, legacy, position, value):
    """Any one byte changed: an nncodec error, or a file that still round-trips exactly."""
    data = bytearray(_checkpoint(tmp_path, legacy).read_bytes())
    data[int(len(data) * position)] = value
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(data))
    try:
        nnz = nncodec.encode_file(bad, tmp_path / "bad.nnz", force=True)
    except NnzError:
        return
    out = nncodec.decode_file(nnz, tmp_path / "bad_out.pt", force=True)
    assert out.read_bytes() == bytes(data)


def test_damaged_storage_fails_its_crc(tmp_path):
    path = _checkpoint(tmp_path, legacy=False)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 1  # inside the largest storage (no extra field)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="CRC"):
        nncodec.encode_file(bad)


def test_zip_without_pickle_and_other_files_are_clear_errors(tmp_path):
    z = tmp_path / "plain.pt"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(CorruptFileError, match="data.pkl"):
        nncodec.encode_file(z)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CorruptFileError, match="not a PyTorch file"):
        nncodec.encode_file(tmp_path / "text.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CorruptFileError, match="empty"):
        nncodec.encode_file(tmp_path / "empty.pt")


def test_storage_record_of_wrong_size_is_corrupt(tmp_path):
    buf = io.BytesIO()
    torch.save({"w": torch.ones(4)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, zipfile.ZipFile(tmp_path / "m.pt", "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, data[:8] if "/data/" in info.filename else data)
    with pytest.raises(CorruptFileError, match="needs 16"):
        nncodec.encode_file(tmp_path / "m.pt")


def test_legacy_storage_count_mismatch_is_corrupt(tmp_path):
    path = _checkpoint(tmp_path, legacy=True)
    data = path.read_bytes()
    count = struct.pack("<q", 512)  # the first storage ("w", 64 x 8)
    at = data.index(count)
    path.write_bytes(data[:at] + struct.pack("<q", 511) + data[at + 8:])
    with pytest.raises(CorruptFileError):
        nncodec.encode_file(path)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: sparse CSR / nested tensors are in beta
def test_sparse_nested_and_meta_tensors_round_trip(tmp_path):
    dense = torch.randn(4, 4) * (torch.rand(4, 4) > 0.5)
    state = {"coo": dense.to_sparse(), "csr": dense.to_sparse_csr(), "meta": torch.empty(2, 3, device="meta"),
             "nested": torch.nested.nested_tensor([torch.ones(2), torch.arange(3.0)]), "w": torch.randn(3)}
    src, out = round_trip(tmp_path, state, legacy=False)
    assert out.read_bytes() == src.read_bytes()
    loaded = torch.load(out, weights_only=True)
    assert torch.equal(loaded["coo"].to_dense(), dense) and torch.equal(loaded["csr"].to_dense(), dense)
    assert loaded["meta"].shape == (2, 3) and loaded["meta"].is_meta
    names = list(nncodec.load(tmp_path / "model.nnz"))
    assert "w" in names and any(n.startswith("coo/") for n in names) and any(n.startswith("nested/") for n in names)


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_other_pickle_protocols(tmp_path, protocol, legacy):
    state = {"w": torch.randn(3, 2), "cfg": {"lr": 0.1, "name": "x" * 300, "ids": list(range(300))}}
    torch.save(state, tmp_path / "m.pt", pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    nnz = nncodec.encode_file(tmp_path / "m.pt")
    assert np.array_equal(nncodec.load(nnz)["w"], state["w"].numpy())
    assert nncodec.decode_file(nnz, tmp_path / "back.pt").read_bytes() == (tmp_path / "m.pt").read_bytes()
