"""The .nnz container: round trips through the public API, agreement with an independent
implementation of the spec, random access, and every kind of damaged or hostile file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from checkers import check_corruption
from hypothesis import strategies as st
from nnz_reference import FLAG_ZLIB_INDEX, Blob, Container, Tensor, build, parse, xxh64
from strategies import arrays, same_bits

import nncodec
from nncodec import (ChecksumError, CorruptFileError, LimitExceededError, NnzError, NotFoundError,
                     UnsupportedError, _core)
from nncodec.codecs.coding import EncodeOptions
from nncodec.dtypes import dtype_name, element_bytes
from nncodec.model import ModelDocument
from nncodec.nnzfile import META_BLOB, NnzFile, write_document

names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40)


def write(path: Path, tensors: dict[str, np.ndarray], codec: str = "lossless") -> Path:
    write_document(path, ModelDocument("tensors", tensors), EncodeOptions(codec=codec, chunk_elems=1000))
    return path


@pytest.mark.parametrize("data", [b"", b"abc", bytes(range(256)) * 3, b"x" * 31, b"y" * 32, b"z" * 100])
def test_checksum_matches_reference_xxh64(data):
    assert _core.xxhash64(np.frombuffer(data, np.uint8)) == xxh64(data)


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_streamed_xxh64_equals_one_shot(data, cuts):
    """Xxh64 fed in pieces (files hashed as read) gives XXH64 of the whole, wherever the cuts fall."""
    h = _core.Xxh64()
    for piece in np.split(np.frombuffer(data, np.uint8), sorted(c for c in cuts if c <= len(data))):
        h.update(piece)
    assert h.digest() == xxh64(data)


def test_xxh64_known_vector():
    assert xxh64(b"") == 0xEF46DB3751D8E999


@settings(max_examples=40)
@given(st.dictionaries(names, arrays(), min_size=0, max_size=6), st.sampled_from(["lossless", "raw"]))
def test_round_trip_any_tensor_set(tmp_path_factory, tensors, codec):
    path = write(tmp_path_factory.mktemp("c") / "t.nnz", tensors, codec)
    with nncodec.load(path) as f:
        assert list(f) == list(tensors)
        for name, array in tensors.items():
            assert same_bits(f[name], array)
        info = {t.name: t for t in f.tensors}
        for name, array in tensors.items():
            assert info[name].shape == array.shape and info[name].dtype == dtype_name(array.dtype)


@settings(max_examples=30)
@given(st.dictionaries(names, arrays(), min_size=0, max_size=6), st.integers(1, 3))
def test_read_all_decodes_every_tensor_in_one_batch(tmp_path_factory, tensors, threads):
    path = write(tmp_path_factory.mktemp("c") / "t.nnz", tensors)
    seen = []
    decoded = NnzFile(path, threads=threads).read_all(progress=lambda t: seen.append(t.name))
    assert list(decoded) == list(tensors) and seen == list(tensors)
    for name, array in tensors.items():
        assert decoded[name].shape == array.shape and same_bits(decoded[name], array)


@settings(max_examples=30)
@given(st.dictionaries(names, arrays(), min_size=1, max_size=4))
def test_read_into_decodes_into_the_callers_array(tmp_path_factory, tensors):
    f = NnzFile(write(tmp_path_factory.mktemp("c") / "t.nnz", tensors))
    for name, array in tensors.items():
        out = np.empty_like(array, order="C")
        assert f.read_into(name, out) is out and same_bits(out, array)


def test_read_into_refuses_arrays_that_do_not_fit(tmp_path):
    f = NnzFile(write(tmp_path / "t.nnz", {"a": np.arange(8, dtype=np.float32).reshape(2, 4)}))
    frozen = np.zeros((2, 4), np.float32)
    frozen.flags.writeable = False
    for wrong in (np.zeros((2, 4), np.float64), np.zeros((4, 2), np.float32), np.zeros((4, 4), np.float32)[:, ::2],
                  frozen, [[0.0] * 4] * 2):
        with pytest.raises(ValueError, match="read_into: tensor 'a' needs"):
            f.read_into("a", wrong)
    with pytest.raises(NotFoundError):
        f.read_into("b", np.zeros((2, 4), np.float32))


def test_decode_many_refuses_outputs_it_would_have_to_copy(tmp_path):
    path = write(tmp_path / "t.nnz", {"a": np.arange(8, dtype=np.float32)})
    reader = NnzFile(path)._reader
    with pytest.raises(NnzError, match="contiguous uint8"):
        reader.decode_many([0], [np.zeros(8, np.float32)])
    with pytest.raises(NnzError, match="contiguous uint8"):
        reader.decode_many([0], [np.zeros(64, np.uint8)[::2]])
    with pytest.raises(NnzError, match="one output buffer per tensor"):
        reader.decode_many([0, 0], [np.zeros(32, np.uint8)])
    with pytest.raises(NnzError, match="wrong size"):
        reader.decode_many([0], [np.zeros(31, np.uint8)])
    out = np.zeros(32, np.uint8)
    reader.decode_many([0], [out])
    assert np.array_equal(out.view(np.float32), np.arange(8, dtype=np.float32))


@settings(max_examples=30)
@given(st.dictionaries(names, arrays(), min_size=1, max_size=5))
def test_native_writer_agrees_with_reference_parser(tmp_path_factory, tensors):
    path = write(tmp_path_factory.mktemp("c") / "t.nnz", tensors)
    ref = parse(path.read_bytes())
    assert [t.name for t in ref.tensors] == list(tensors)
    for t, array in zip(ref.tensors, tensors.values()):
        assert t.shape == array.shape
        assert t.hash == xxh64(t.payload)
        if t.codec == "raw":
            assert t.payload == element_bytes(array).tobytes()
    assert META_BLOB in [b.name for b in ref.blobs]


def test_reference_writer_output_is_read_by_native_reader(tmp_path):
    payload = np.arange(6, dtype=np.float32).tobytes()
    c = Container(tensors=[Tensor("w", 1, (2, 3), "raw", b"", payload)], blobs=[Blob("note", 0, b"hello")])
    path = tmp_path / "ref.nnz"
    path.write_bytes(build(c))
    f = NnzFile(path)
    assert np.array_equal(f["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert f.blob("note") == b"hello"


def test_one_tensor_is_read_without_touching_the_others(tmp_path):
    path = write(tmp_path / "t.nnz", {"a": np.arange(1000, dtype=np.float32), "b": np.ones(1000, np.float32)})
    ref = parse(path.read_bytes())
    data = bytearray(path.read_bytes())
    b_offset = ref.tensors[1].offset
    data[b_offset] ^= 0xFF  # damage tensor b only
    path.write_bytes(bytes(data))
    f = NnzFile(path)
    assert np.array_equal(f["a"], np.arange(1000, dtype=np.float32))
    with pytest.raises(ChecksumError, match="'b'"):
        f["b"]


def test_missing_tensor_is_not_found(tmp_path):
    f = NnzFile(write(tmp_path / "t.nnz", {"a": np.zeros(3, np.float32)}))
    with pytest.raises(NotFoundError):
        f["nope"]
    with pytest.raises(KeyError):  # it is still a mapping
        f["nope"]


def small_file(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    tensors = {"w": (rng.standard_normal(300) * 0.1).astype(np.float32), "i": np.arange(-5, 5, dtype=np.int64),
               "s": np.float32(3.5).reshape(())}
    return write(tmp_path / "small.nnz", tensors), tensors


def read_everything(path: Path) -> dict[str, np.ndarray]:
    f = NnzFile(path)
    out = {name: f[name] for name in f}
    f.blob(META_BLOB)
    return out


def test_every_flipped_byte_is_detected_or_harmless_and_every_truncation_is_corrupt(tmp_path):
    path, tensors = small_file(tmp_path)
    damaged = tmp_path / "damaged.nnz"

    def decode(data: bytes) -> dict[str, np.ndarray]:
        damaged.write_bytes(data)
        return read_everything(damaged)

    # Undetected flips may only hit alignment padding: the data must be intact.
    intact = lambda got: all(same_bits(got[k], v) for k, v in tensors.items())  # noqa: E731
    assert check_corruption(path.read_bytes(), decode, intact) > 0.9


def test_not_a_nnz_file(tmp_path):
    p = tmp_path / "x.nnz"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(CorruptFileError, match="not a .nnz file"):
        NnzFile(p)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(OSError):
        NnzFile(tmp_path)


def raw_tensor(name="w", n=4, **kw) -> Tensor:
    return Tensor(name, 1, (n,), "raw", b"", np.arange(n, dtype=np.float32).tobytes(), **kw)


def write_container(tmp_path: Path, c: Container) -> Path:
    p = tmp_path / "crafted.nnz"
    p.write_bytes(build(c))
    return p


@pytest.mark.parametrize("major", [0, 2, 65535])
def test_other_major_versions_are_unsupported(tmp_path, major):
    with pytest.raises(UnsupportedError, match="version"):
        NnzFile(write_container(tmp_path, Container(tensors=[raw_tensor()], major=major)))


def test_newer_minor_version_still_reads(tmp_path):
    f = NnzFile(write_container(tmp_path, Container(tensors=[raw_tensor()], minor=8)))
    assert f["w"].size == 4


def test_unknown_header_flags_are_unsupported(tmp_path):
    with pytest.raises(UnsupportedError):
        NnzFile(write_container(tmp_path, Container(tensors=[raw_tensor()], flags=2)))


def test_zlib_index_reads_and_a_damaged_one_fails(tmp_path):
    data = bytearray(build(Container(tensors=[raw_tensor()], minor=6, flags=FLAG_ZLIB_INDEX)))
    path = tmp_path / "z.nnz"
    path.write_bytes(data)
    assert NnzFile(path)["w"].size == 4
    index_offset, index_bytes = struct.unpack_from("<QQ", data, 16)
    data[index_offset + index_bytes - 1] ^= 1  # the stream's Adler-32, under a matching index hash
    data[32:40] = struct.pack("<Q", xxh64(bytes(data[index_offset:index_offset + index_bytes])))
    data[56:64] = struct.pack("<Q", xxh64(bytes(data[:56])))
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match="Adler-32"):
        NnzFile(path)


def test_unknown_codec_fails_only_for_its_tensor(tmp_path):
    c = Container(tensors=[raw_tensor("ok"), Tensor("future", 1, (4,), "zz-codec", b"", b"\0" * 16)])
    f = NnzFile(write_container(tmp_path, c))
    assert f["ok"].size == 4
    with pytest.raises(UnsupportedError, match="zz-codec"):
        f["future"]


def test_unknown_dtype_fails_only_for_its_tensor(tmp_path):
    c = Container(tensors=[raw_tensor("ok"), Tensor("odd", 200, (4,), "raw", b"", b"\0" * 16)])
    f = NnzFile(write_container(tmp_path, c))
    assert f["ok"].size == 4
    assert f.tensors[1].dtype is None
    with pytest.raises(UnsupportedError):
        f["odd"]


def test_absurd_shape_is_refused_before_allocation(tmp_path):
    c = Container(tensors=[Tensor("huge", 1, (1 << 40,), "raw", b"", b"\0" * 16)])
    f = NnzFile(write_container(tmp_path, c))
    with pytest.raises(LimitExceededError):
        f["huge"]


def test_element_count_overflow_is_corrupt(tmp_path):
    c = Container(tensors=[Tensor("x", 1, (1 << 40, 1 << 40), "raw", b"", b"\0" * 16)])
    with pytest.raises(CorruptFileError, match="overflow"):
        NnzFile(write_container(tmp_path, c))


def test_tensor_limit_is_configurable(tmp_path):
    path = write(tmp_path / "t.nnz", {"w": np.zeros(1000, np.float32)})
    f = nncodec.load(path, max_tensor_bytes=100)
    with pytest.raises(LimitExceededError):
        f["w"]


def test_payload_past_the_end_is_corrupt(tmp_path):
    c = Container(tensors=[raw_tensor(declared_bytes=1 << 50)])
    with pytest.raises(CorruptFileError):
        NnzFile(write_container(tmp_path, c))


def resign(data: bytearray) -> bytes:
    """Recompute the index and header checksums after editing a file's index."""
    index_offset, index_bytes = struct.unpack_from("<QQ", data, 16)
    struct.pack_into("<Q", data, 32, xxh64(bytes(data[index_offset:index_offset + index_bytes])))
    struct.pack_into("<Q", data, 56, xxh64(bytes(data[:56])))
    return bytes(data)


def test_overlapping_payloads_are_corrupt(tmp_path):
    data = bytearray(build(Container(tensors=[raw_tensor("a"), raw_tensor("b")])))
    ref = parse(bytes(data))
    # Point b at a's payload and re-sign the index.
    index_offset, index_bytes = struct.unpack_from("<QQ", data, 16)
    index = bytearray(data[index_offset:index_offset + index_bytes])
    pos = index.find(b"\x01\x00b")  # name of tensor b
    off_pos = pos + 3 + 2 + 8 + 1 + 3 + 4
    struct.pack_into("<Q", index, off_pos, ref.tensors[0].offset)
    data[index_offset:index_offset + index_bytes] = index
    p = tmp_path / "overlap.nnz"
    p.write_bytes(resign(data))
    with pytest.raises(CorruptFileError, match="overlapping"):
        NnzFile(p)


def test_duplicate_names_are_corrupt(tmp_path):
    with pytest.raises(CorruptFileError, match="duplicate"):
        NnzFile(write_container(tmp_path, Container(tensors=[raw_tensor("a"), raw_tensor("a")])))


def test_invalid_utf8_name_is_corrupt(tmp_path):
    c = Container(tensors=[raw_tensor("a")])
    data = bytearray(build(c).replace(b"\x01\x00a", b"\x01\x00\xff"))
    p = tmp_path / "utf8.nnz"
    p.write_bytes(resign(data))
    with pytest.raises(CorruptFileError, match="UTF-8"):
        NnzFile(p)


def test_huge_entry_count_is_corrupt_not_allocated(tmp_path):
    data = bytearray(build(Container(tensors=[raw_tensor()])))
    index_offset = struct.unpack_from("<Q", data, 16)[0]
    struct.pack_into("<I", data, index_offset, 0xFFFFFFFF)
    p = tmp_path / "count.nnz"
    p.write_bytes(resign(data))
    with pytest.raises(CorruptFileError):
        NnzFile(p)


def test_wrong_payload_checksum_names_the_tensor(tmp_path):
    f = NnzFile(write_container(tmp_path, Container(tensors=[raw_tensor("weights", hash=123)])))
    with pytest.raises(ChecksumError, match="'weights'"):
        f["weights"]
    with pytest.raises(ChecksumError):
        f.verify()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("where", ["chunk table", "middle"])
def test_damaged_large_payload_fails_its_checksum_at_any_thread_count(tmp_path, threads, where):
    """With threads to spare a large payload is hashed while it decodes; a damaged one still fails
    with ChecksumError naming the tensor, ahead of anything its decoder reports (damage to the
    chunk table makes the decoder fail too), into new arrays and into existing ones."""
    values = np.random.default_rng(0).standard_normal(1 << 19).astype(np.float32)  # 2 MiB
    p = write(tmp_path / "big.nnz", {"weights": values})
    entry = parse(p.read_bytes()).tensors[0]
    assert len(entry.payload) >= 1 << 20  # the concurrent hash applies from 1 MiB of payload
    data = bytearray(p.read_bytes())
    data[entry.offset + (0 if where == "chunk table" else len(entry.payload) // 2)] ^= 0xFF
    p.write_bytes(data)
    f = nncodec.load(p, threads=threads)
    with pytest.raises(ChecksumError, match="'weights'"):
        f["weights"]
    with pytest.raises(ChecksumError, match="'weights'"):
        f.read_into("weights", np.empty_like(values))


@settings(max_examples=200)
@given(st.binary(min_size=0, max_size=400))
def test_random_bytes_after_a_valid_header_never_crash(tmp_path_factory, tail):
    header = build(Container())[:64]
    p = tmp_path_factory.mktemp("r") / "r.nnz"
    p.write_bytes(header + tail)
    try:
        read_everything(p)
    except NnzError:
        pass
