"""Hostile-input and determinism checks of the Python decode path, and the replay of the inputs
the fuzzers found (tests/fuzz/regressions/)."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import nncodec
from nncodec import _core
from nncodec.errors import CorruptFileError, LimitExceededError
from nncodec.model import ModelDocument
from nncodec.nnzfile import NnzFile, write_document
from nncodec.codecs.coding import EncodeOptions

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"


def write_nnz(path: Path, tensors: dict[str, tuple[str, list[int], object]], blobs=()) -> Path:
    writer = _core.Writer(str(path))
    for name, (dtype, shape, encoded) in tensors.items():
        writer.add_tensor(name, dtype, shape, encoded)
    for name, encoding, data in blobs:
        writer.add_blob(name, encoding, data)
    writer.finish()
    return path


def test_tensor_over_the_limit_is_refused_before_allocation(tmp_path):
    # The index claims 2^40 float32 elements for a 4-byte payload: refused, nothing allocated.
    tiny = _core.encode_raw(np.zeros(4, np.uint8), "uint8")
    path = write_nnz(tmp_path / "huge.nnz", {"huge": ("float32", [1 << 20, 1 << 20], tiny)})
    with NnzFile(path) as f, pytest.raises(LimitExceededError, match="exceeds the limit"):
        f["huge"]


def test_zlib_bomb_section_is_refused(tmp_path):
    bomb = zlib.compress(b"\0" * (64 << 20), 9)  # 64 MiB from about 64 KB
    assert len(bomb) < 100_000
    path = write_nnz(tmp_path / "bomb.nnz", {}, [("nncodec/skeleton", 1, bomb)])
    with NnzFile(path, max_blob_bytes=1 << 20) as f, pytest.raises(LimitExceededError, match="decompresses to more"):
        f.blob("nncodec/skeleton")
    with NnzFile(path) as f:
        assert len(f.blob("nncodec/skeleton")) == 64 << 20  # under the default limit it is fine


@pytest.mark.parametrize("damage", [lambda z: z[:-5], lambda z: z + b"trailing"], ids=["truncated", "trailing"])
def test_damaged_zlib_section_is_corrupt(tmp_path, damage):
    data = damage(zlib.compress(b"skeleton bytes" * 100))
    path = write_nnz(tmp_path / "bad.nnz", {}, [("nncodec/skeleton", 1, data)])
    with NnzFile(path) as f, pytest.raises(CorruptFileError):
        f.blob("nncodec/skeleton")


def test_decode_payload_rejects_a_count_that_overflows_the_buffer_size():
    # count * 4 wraps to 0 in 64 bits: must not be accepted as matching an empty buffer.
    with pytest.raises(nncodec.NnzError):
        _core.decode_payload("raw", "float32", 1 << 62, b"", np.zeros(0, np.uint8), np.zeros(0, np.uint8))


def test_onnx_typed_bool_and_int_fields_survive_encode_decode(tmp_path):
    # Regression (fuzz_readers): BOOL tensors stored in int32_data could be read but not written
    # back (protobuf refuses Python bools), so such models failed to decode.
    consts = [
        helper.make_tensor("flags", TensorProto.BOOL, [3], [True, False, True]),
        helper.make_tensor("small", TensorProto.INT8, [2], [-3, 4]),
        helper.make_tensor("half", TensorProto.FLOAT16, [2], np.array([1.5, -2], np.float16)),
    ]
    nodes = [helper.make_node("Constant", [], [t.name + "_out"], value=t) for t in consts]
    graph = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info("flags_out", TensorProto.BOOL, [3])])
    model = tmp_path / "typed.onnx"
    onnx.save(helper.make_model(graph), str(model))
    out = nncodec.decode_file(nncodec.encode_file(model, tmp_path / "typed.nnz"), tmp_path / "back.onnx")
    assert out.read_bytes() == model.read_bytes()


def test_encoded_file_and_decoded_arrays_do_not_depend_on_thread_count(tmp_path):
    rng = np.random.default_rng(3)
    tensors = {"big": rng.normal(size=(1 << 20) + 77).astype(np.float32),  # chunk-parallel
               **{f"t{i}": rng.integers(-9, 9, size=1000 + i, dtype=np.int16) for i in range(30)},
               "h": rng.normal(size=(300, 7)).astype(np.float16)}
    doc = ModelDocument("tensors", tensors)
    files = []
    for threads in (1, 2, 5):
        path = tmp_path / f"t{threads}.nnz"
        write_document(path, doc, EncodeOptions(threads=threads, chunk_elems=1 << 16))
        files.append(path.read_bytes())
    assert files[0] == files[1] == files[2]
    decoded = []
    for threads in (1, 3):
        with NnzFile(tmp_path / "t1.nnz", threads=threads) as f:
            decoded.append(f.read_all())
    for name, array in tensors.items():
        assert decoded[0][name].tobytes() == decoded[1][name].tobytes() == array.tobytes()


@pytest.mark.parametrize("regression", sorted((FUZZ / "regressions" / "readers").glob("*")), ids=lambda p: p.name)
def test_reader_fuzz_regressions(regression, tmp_path):
    sys.path.insert(0, str(FUZZ))
    try:
        from reader_roundtrip import check_reader_input
    finally:
        sys.path.remove(str(FUZZ))
    check_reader_input(regression.read_bytes(), tmp_path)


def test_reader_fuzz_seeds_are_valid_models(tmp_path):
    sys.path.insert(0, str(FUZZ))
    try:
        from reader_roundtrip import check_reader_input
    finally:
        sys.path.remove(str(FUZZ))
    seeds = sorted((FUZZ / "corpus" / "readers").glob("*"))
    assert len(seeds) >= 5
    for seed in seeds:
        check_reader_input(seed.read_bytes(), tmp_path)


def test_onnx_names_that_are_not_utf8_are_a_clear_error(tmp_path):
    # Regression (fuzz_readers): protobuf returns proto2 string fields holding invalid UTF-8 as
    # bytes; the reader crashed with TypeError on them instead of reporting a corrupt file.
    graph = helper.make_graph([helper.make_node("Identity", ["wXYZ"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                              initializer=[numpy_helper.from_array(np.ones(2, np.float32), "wXYZ")])
    data = helper.make_model(graph).SerializeToString()
    model = tmp_path / "bad_name.onnx"
    model.write_bytes(data.replace(b"wXYZ", b"w\x97YZ"))
    with pytest.raises(CorruptFileError, match="not valid UTF-8"):
        nncodec.encode_file(model, tmp_path / "bad_name.nnz")
    assert not (tmp_path / "bad_name.nnz").exists()


@pytest.mark.parametrize("target", ["pickle", "json"])
def test_structured_fuzz_seeds_and_regressions_hold_their_property(target):
    sys.path.insert(0, str(FUZZ))
    try:
        import structured
    finally:
        sys.path.remove(str(FUZZ))
    check = getattr(structured, f"check_{target}")
    mutate = getattr(structured, f"mutate_{target}")
    inputs = sorted((FUZZ / "corpus" / target).glob("*")) + sorted((FUZZ / "regressions" / target).glob("*"))
    assert len(inputs) >= 4
    for path in inputs:
        data = path.read_bytes()
        check(data)
        for seed in range(40):  # and the structural mutations of each: the budgets stop them all
            check(mutate(data, seed))
