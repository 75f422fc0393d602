"""ONNX in and out: every tensor found and coded, files rebuilt byte for byte, onnxruntime outputs
identical, external data handled (and never read or written outside the model's folder)."""

from __future__ import annotations

import json
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx_models import constants_and_subgraphs, mlp, with_nan_payloads

import nncodec
from nncodec import CorruptFileError, UnsafeInputError
from nncodec.formats import byte_layout, onnx_format
from nncodec.model import ModelDocument
from nncodec.nnzfile import write_document
from nncodec.codecs.coding import EncodeOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nnz_reference  # noqa: E402


def run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def round_trip(tmp_path: Path, model_path: Path, **decode_kw) -> Path:
    nnz = nncodec.encode_file(model_path, tmp_path / "out" / "model.nnz")
    return nncodec.decode_file(nnz, tmp_path / "back" / model_path.name, **decode_kw)


@pytest.mark.parametrize("build", [mlp, constants_and_subgraphs, with_nan_payloads])
def test_decoded_file_is_byte_identical_and_runs_identically(tmp_path, build):
    model = build()
    src = tmp_path / "model.onnx"
    onnx.save(model, src)
    back = round_trip(tmp_path, src)
    assert back.read_bytes() == src.read_bytes()
    inp = model.graph.input[0]
    shape = [d.dim_value or 3 for d in inp.type.tensor_type.shape.dim]  # symbolic dims -> 3
    feeds = {inp.name: np.random.default_rng(5).standard_normal(shape).astype(np.float32)}
    for a, b in zip(run(src, feeds), run(back, feeds)):
        assert a.tobytes() == b.tobytes()


def test_every_tensor_location_is_found(tmp_path):
    src = tmp_path / "m.onnx"
    onnx.save(constants_and_subgraphs(), src)
    doc = onnx_format.read(src)
    names = set(doc.tensors)
    # Constant nodes (top level and inside If branches), a Loop-body initializer, packed float_data,
    # half and bfloat16 initializers; the string constant and varint-packed int64_data (not one
    # run of bytes) stay in the kept bytes.
    for expected in ("w", "thr", "then_w", "else_w", "loop_scale", "typed", "half_w", "brain_b", "trip"):
        assert expected in names, expected
    assert "label" not in names and "typed_i64" not in names
    model = onnx.load(str(src))
    coded = {t.name for t in model.graph.initializer if t.name in names}
    assert sum(doc.tensors[n].nbytes for n in coded) == sum(len(t.raw_data) + 4 * len(t.float_data)
                                                            for t in model.graph.initializer if t.name in coded)
    kept = sum(len(p) for p in byte_layout._kept_pieces(doc.files[0], doc.tensors)[1])
    assert kept + sum(a.nbytes for a in doc.tensors.values()) == src.stat().st_size


def test_nnz_holds_the_tensors_under_their_onnx_names(tmp_path):
    model = mlp()
    src = tmp_path / "m.onnx"
    onnx.save(model, src)
    with nncodec.load(nncodec.encode_file(src)) as f:
        for init in model.graph.initializer:
            assert np.array_equal(f[init.name], onnx.numpy_helper.to_array(init))


def save_external(model: onnx.ModelProto, path: Path) -> None:
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)


def test_external_data_is_read_and_written_back_the_same_way(tmp_path):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    save_external(mlp(hidden=64), src_dir / "m.onnx")
    back = round_trip(tmp_path, src_dir / "m.onnx")
    assert back.read_bytes() == (src_dir / "m.onnx").read_bytes()
    assert (back.parent / "weights.bin").read_bytes() == (src_dir / "weights.bin").read_bytes()
    x = {"X": np.ones((2, 16), np.float32)}
    assert np.array_equal(run(src_dir / "m.onnx", x)[0], run(back, x)[0])


def test_an_external_file_holding_only_tensors_nncodec_does_not_code_comes_back(tmp_path):
    """A float8 initializer in its own external file: kept as bytes, its file still goes with the model."""
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    model = mlp(hidden=16)
    f8 = onnx.helper.make_tensor("f8", onnx.TensorProto.FLOAT8E4M3FN, [4], bytes([0x38, 0x40, 0x30, 0x00]), raw=True)
    model.graph.initializer.append(f8)
    onnx.save_model(model, str(src_dir / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=False,
                    size_threshold=0)  # one file per tensor, named after it
    back = round_trip(tmp_path, src_dir / "m.onnx")
    assert sorted(p.name for p in back.parent.iterdir()) == sorted(p.name for p in src_dir.iterdir())
    assert all((back.parent / p.name).read_bytes() == p.read_bytes() for p in src_dir.iterdir())


def test_external_data_can_be_inlined(tmp_path):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    save_external(mlp(), src_dir / "m.onnx")
    back = round_trip(tmp_path, src_dir / "m.onnx", inline_external=True)
    assert not (back.parent / "weights.bin").exists()
    x = {"X": np.ones((2, 16), np.float32)}
    assert np.array_equal(run(src_dir / "m.onnx", x)[0], run(back, x)[0])


def model_with_location(location: str) -> onnx.ModelProto:
    model = mlp()
    t = model.graph.initializer[0]
    t.data_location = onnx.TensorProto.EXTERNAL
    del t.external_data[:]
    t.external_data.add(key="location", value=location)
    t.ClearField("raw_data")
    return model


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "a/../../secret.bin", ""])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4096)
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    onnx.save(model_with_location(location), model_dir / "m.onnx")
    with pytest.raises(UnsafeInputError):
        nncodec.encode_file(model_dir / "m.onnx")
    assert not (model_dir / "m.nnz").exists()


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4096)
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    (model_dir / "link.bin").symlink_to(tmp_path / "secret.bin")
    onnx.save(model_with_location("link.bin"), model_dir / "m.onnx")
    with pytest.raises(UnsafeInputError):
        nncodec.encode_file(model_dir / "m.onnx")


def test_hostile_nnz_cannot_write_outside_the_output_folder(tmp_path):
    # A .nnz whose stored graph names an external file outside the output folder.
    model = model_with_location("../../escaped.bin")
    t = model.graph.initializer[0]
    doc = ModelDocument("onnx", {"W1": np.zeros((16, 32), np.float32)}, model.SerializeToString(),
                        {"slots": [["W1", "external"], None, None, None]})
    nnz = tmp_path / "evil.nnz"
    write_document(nnz, doc, EncodeOptions(), source_name="m.onnx")
    out_dir = tmp_path / "a" / "b"
    with pytest.raises(UnsafeInputError):
        nncodec.decode_file(nnz, out_dir / "m.onnx")
    assert not (tmp_path / "escaped.bin").exists() and not (tmp_path / "a" / "escaped.bin").exists()
    assert not (out_dir / "m.onnx").exists()
    assert t.name == "W1"


def test_missing_external_file_is_a_clear_error(tmp_path):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    save_external(mlp(), src_dir / "m.onnx")
    (src_dir / "weights.bin").unlink()
    with pytest.raises(CorruptFileError, match="not found"):
        nncodec.encode_file(src_dir / "m.onnx")


def test_truncated_external_file_is_a_clear_error(tmp_path):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    save_external(mlp(), src_dir / "m.onnx")
    data = (src_dir / "weights.bin").read_bytes()
    (src_dir / "weights.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError):
        nncodec.encode_file(src_dir / "m.onnx")


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x08\x07" + bytes(range(200))])
def test_garbage_onnx_is_a_clear_error(tmp_path, content):
    p = tmp_path / "bad.onnx"
    p.write_bytes(content)
    with pytest.raises(CorruptFileError):
        nncodec.encode_file(p)
    assert not (tmp_path / "bad.nnz").exists()


def test_a_layout_naming_a_tensor_the_file_lacks_is_corrupt(tmp_path):
    src = tmp_path / "m.onnx"
    onnx.save(mlp(), src)
    doc = onnx_format.read(src)
    dropped = list(doc.tensors)[-1]
    files = doc.files
    doc = ModelDocument(doc.format, {k: v for k, v in doc.tensors.items() if k != dropped})
    nnz = tmp_path / "m.nnz"
    write_document(nnz, doc, EncodeOptions(), source_name="m.onnx")
    container = nnz_reference.parse(nnz.read_bytes())
    section = byte_layout.pack_files(files, {**doc.tensors, dropped: np.zeros(1)})
    container.blobs.append(nnz_reference.Blob("nncodec/files", 1, zlib.compress(section)))
    container.blobs = [b for b in container.blobs if b.name != "nncodec/meta.json"] + [nnz_reference.Blob(
        "nncodec/meta.json", 0, json.dumps({"source": {"format": "onnx", "name": "m.onnx"}}).encode())]
    nnz.write_bytes(nnz_reference.build(container))
    with pytest.raises(CorruptFileError, match="does not hold"):
        nncodec.decode_file(nnz, tmp_path / "back.onnx")
    assert not (tmp_path / "back.onnx").exists()


def test_copied_model_round_trips_from_another_folder(tmp_path):
    src = tmp_path / "m.onnx"
    onnx.save(constants_and_subgraphs(), src)
    nnz = nncodec.encode_file(src)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(nnz, moved / "m.nnz")
    back = nncodec.decode_file(moved / "m.nnz")
    assert back == moved / "m.onnx" and back.read_bytes() == src.read_bytes()
