"""Writes the seed corpus of the libFuzzer targets: small valid inputs for each target.

    PYTHONPATH=python python tests/fuzz/make_corpus.py [--out tests/fuzz/corpus]

The output is committed (tests/fuzz/corpus/<target>/); rerun this after a format change or when a
codec is added (add its seed encoder to encode()). Deterministic: the same nncodec writes the same
files.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import tempfile
from pathlib import Path

import numpy as np

from nncodec import _core
from nncodec.dtypes import NUMPY_DTYPES, element_bytes

# The codec table's ids (csrc/codecs/codec_table.cpp), in its order: fuzz_codec.cpp's codec byte
# indexes the same list.
CODECS = tuple(_core.codec_ids())
FLOATS = ("float32", "float16", "bfloat16", "float64")
# dtype codes (csrc/common/dtype.hpp)
DTYPE_CODES = {"float32": 1, "float16": 2, "bfloat16": 3, "float64": 4, "int8": 5, "uint8": 6, "int16": 7,
               "uint16": 8, "int32": 9, "uint32": 10, "int64": 11, "uint64": 12, "bool": 13}


def grid_rows(w: np.ndarray) -> np.ndarray:
    """8-bit fake quantization with a scale per row, flattened."""
    scale = (np.abs(w).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    return (np.round(w / scale) * scale).astype(np.float32).reshape(-1)


def sample_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    weights = rng.normal(0, 0.05, size=300).astype(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3.4e38, 1.0], dtype=np.float32)
    return {
        "w.f32": weights.reshape(20, 15),
        "special.f32": special,
        "w.f16": weights[:64].astype(np.float16),
        "w.bf16": weights[:48].astype(NUMPY_DTYPES["bfloat16"]),
        "w.f64": weights[:16].astype(np.float64),
        "q.i8": rng.integers(-128, 128, size=100, dtype=np.int8),
        "q.u8": rng.integers(0, 4, size=90, dtype=np.uint8),
        "i16": rng.integers(-300, 300, size=40, dtype=np.int16),
        "u16": rng.integers(0, 9, size=40, dtype=np.uint16),
        "i32": rng.integers(-5, 5, size=33, dtype=np.int32),
        "u32": rng.integers(0, 1 << 31, size=12, dtype=np.uint32),
        "ids.i64": np.arange(20, dtype=np.int64) - 3,
        "u64": rng.integers(0, 1 << 62, size=6, dtype=np.uint64),
        "mask": rng.integers(0, 2, size=70).astype(bool),
        "const": np.full(50, 0.5, dtype=np.float32),
        # One value dominating: the lossless planes choose rANS.
        "pruned.f32": np.where(rng.random(2000) < 0.9, 0.0, weights[rng.integers(0, 300, 2000)]).astype(np.float32),
        "skewed.i8": np.where(rng.random(1500) < 0.95, 0, rng.integers(-3, 4, 1500)).astype(np.int8),
        # Every 97th weight kept: the sparse layer codes its positions as gaps.
        "strided.f32": np.where(np.arange(8000) % 97 == 0, weights[np.arange(8000) % 300], 0).astype(np.float32),
        # Few exact values (fake-quantized weights): lossless chunks with value tables.
        "levels.f32": (np.round(weights * 40) / 40).astype(np.float32),
        "levels.f64": (np.round(weights[:200] * 40) / 40).astype(np.float64),
        # Fake-quantized per row of 40 (a scale each): lossless-grid's levels.
        "grid.f32": grid_rows(weights[:280].reshape(7, 40)),
        "scalar": np.array(3.0, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def encode(codec: str, array: np.ndarray, chunk_elems: int):
    """(dtype name, encoded tensor), or None where the codec does not take the dtype."""
    data = element_bytes(array)
    name = [k for k, v in NUMPY_DTYPES.items() if v == array.dtype][0]
    if codec == "raw":
        return name, _core.encode_raw(data, name)
    if codec in ("lossless", "lossless-values"):  # the encoder writes lossless-values where a table pays
        return name, _core.encode_lossless(data, name, chunk_elems, 1)
    if codec == "eb":
        return (name, _core.encode_eb(data, name, 0.01, chunk_elems, 1)) if name in FLOATS else None
    if codec == "dq":
        return (name, _core.encode_dq(data, name, 0.01, chunk_elems, 1)) if name in FLOATS else None
    if codec == "pl":
        if name != "float32":
            return None
        return name, _core.encode_pl(data, name, 0.004, 2, 0.001, False, min(chunk_elems, 4096), 1)[0]
    if codec == "delta":  # against the base fuzz_codec.cpp gives: byte i is (131 i + 7) mod 256
        base = ((np.arange(data.nbytes, dtype=np.uint64) * 131 + 7) % 256).astype(np.uint8)
        return name, _core.encode_delta(data, name, base, 0, 0, chunk_elems, 1)
    if codec == "lossless-grid":  # runs of 40 elements, or columns of rows of 20
        return (name, _core.encode_grid(data, name, chunk_elems == 64, 20 if chunk_elems == 64 else 40, chunk_elems, 1)
                ) if name in FLOATS else None
    if codec != "sparse":
        raise SystemExit(f"no seed encoder for codec {codec!r}: add one to encode() in {Path(__file__).name}")
    values = _core.sparse_values(data, name)  # the non-zeros coded by lossless
    return name, _core.encode_sparse(data, name, _core.encode_lossless(values, name, chunk_elems, 1))


def write(folder: Path, payload: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(payload).hexdigest()[:16]).write_bytes(payload)


def codec_seeds(out: Path, arrays: dict[str, np.ndarray]) -> None:
    for index, codec in enumerate(CODECS):
        for array in arrays.values():
            for chunk in (7, 64, 1 << 18):
                coded = encode(codec, array, chunk)
                if coded is None:
                    break
                name, enc = coded
                params = enc.params
                head = struct.pack("<BBIH", index, DTYPE_CODES[name], array.size, len(params))
                write(out / "codec", head + params + enc.payload)
                if codec == "raw":
                    break


def nnz_file(arrays: dict[str, np.ndarray], codec_of, chunk: int, blobs: bool) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.nnz"
        writer = _core.Writer(str(path))
        for i, (tname, array) in enumerate(arrays.items()):
            name, enc = encode(codec_of(i), array, chunk) or encode("lossless", array, chunk)
            writer.add_tensor(tname, name, list(array.shape), enc)
        if blobs:
            writer.add_blob("nncodec/meta.json", 0, b'{"meta_version":1}')
            writer.add_blob("nncodec/skeleton", 1, b"x\x9c\x03\x00\x00\x00\x00\x01")
        writer.finish()
        return path.read_bytes()


def restore_seeds(out: Path) -> None:
    """Whole models as the encoder writes them (format 1.1, with their files to restore): an ONNX
    model with external data, PyTorch files and safetensors files."""
    import tempfile

    import nncodec

    with tempfile.TemporaryDirectory() as tmp:
        models = []
        for k, data in enumerate(onnx_models()):
            (Path(tmp) / f"m{k}.onnx").write_bytes(data)
            models.append(Path(tmp) / f"m{k}.onnx")
        (Path(tmp) / "weights.bin").write_bytes(np.arange(12, dtype=np.float32).tobytes())
        for k, data in enumerate(torch_files() + safetensors_files()):
            suffix = ".safetensors" if data[8:9] == b"{" else ".pt"
            (Path(tmp) / f"t{k}{suffix}").write_bytes(data)
            models.append(Path(tmp) / f"t{k}{suffix}")
        for model in models:
            write(out / "container", nncodec.encode_file(model, model.with_suffix(".nnz")).read_bytes())


def container_seeds(out: Path, arrays: dict[str, np.ndarray]) -> None:
    items = list(arrays.items())
    write(out / "container", nnz_file(arrays, lambda i: "lossless", 64, True))
    write(out / "container", nnz_file(arrays, lambda i: CODECS[i % len(CODECS)], 7, False))
    for k in range(0, len(items), 4):
        write(out / "container", nnz_file(dict(items[k:k + 4]), lambda i: "lossless", 1 << 18, k == 0))
    write(out / "container", nnz_file({}, lambda i: "raw", 64, True))
    for version in ("v1.6", "v1.7"):  # zlib index, base table 2, files patched (copy); lane chunks
        for golden in sorted((Path(__file__).parents[1] / "golden" / version / "delta").glob("*.nnz")):
            write(out / "container", golden.read_bytes())


def plane_bytes(symbols: np.ndarray, width: int, mode: str) -> bytes:
    if mode == "constant":
        return struct.pack("<BQ", 0, int(symbols[0]) if symbols.size else 0)
    if mode == "packed":
        bits = "".join(format(int(s), f"0{width}b")[::-1] for s in symbols)  # LSB-first
        bits += "0" * (-len(bits) % 8)
        packed = bytes(int(bits[i:i + 8][::-1], 2) for i in range(0, len(bits), 8))
        return b"\x01" + packed
    freq = np.bincount(symbols.astype(np.int64), minlength=1 << width).astype(np.uint64)
    lengths = _core.huffman_code_lengths(freq)
    block = _core.huffman_encode(symbols.astype(np.uint16), lengths)
    return struct.pack("<BI", 2, len(block)) + block


def entropy_seeds(out: Path, rng: np.random.Generator) -> None:
    for width in (1, 3, 4, 8, 12, 13, 20, 31, 52, 64):
        for n in (0, 1, 5, 300):
            high = 1 << min(width, 62)
            symbols = np.minimum(rng.geometric(0.3, size=n) - 1, high - 1).astype(np.uint64)
            modes = ["packed"] + (["constant"] if n <= 1 or width == 1 else [])
            if width <= 12 and len(set(symbols.tolist())) >= 2:
                modes.append("huffman")
            for mode in modes:
                plane = plane_bytes(np.zeros(n, dtype=np.uint64) if mode == "constant" else symbols, width, mode)
                write(out / "entropy", struct.pack("<BH", width - 1, n) + plane)
                if mode == "huffman":
                    block = plane[5:]
                    write(out / "entropy", struct.pack("<BH", 0x80 | (width - 1), n) + block)


def onnx_models() -> list[bytes]:
    """Small ONNX models covering what the reader handles: initializers, typed fields, Constant
    nodes, subgraphs, sparse initializers, local functions, external data, unsupported dtypes."""
    import onnx
    from onnx import TensorProto, helper

    def model(nodes, inits, inputs=(), outputs=("y",), sparse=(), functions=()):
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, None) for i in inputs],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], initializer=inits,
            sparse_initializer=list(sparse))
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
                              functions=list(functions))
        return m.SerializeToString()

    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    mlp = model([helper.make_node("Gemm", ["x", "W", "B"], ["h"]), helper.make_node("Reshape", ["h", "shape"], ["y"])],
                [onnx.numpy_helper.from_array(w, "W"), onnx.numpy_helper.from_array(np.ones(3, np.float32), "B"),
                 onnx.numpy_helper.from_array(np.array([-1, 3], np.int64), "shape")], inputs=["x"])
    typed = model([helper.make_node("Identity", ["a"], ["y"])], [
        helper.make_tensor("a", TensorProto.FLOAT, [2], [1.5, -2.0]),
        helper.make_tensor("b", TensorProto.INT8, [3], [-1, 0, 7]),
        helper.make_tensor("c", TensorProto.UINT64, [2], [1, 1 << 40]),
        helper.make_tensor("d", TensorProto.DOUBLE, [1], [0.25]),
        helper.make_tensor("e", TensorProto.BOOL, [2], [True, False]),
        helper.make_tensor("f", TensorProto.FLOAT16, [2], np.array([1, 2], np.float16)),
        helper.make_tensor("g", TensorProto.BFLOAT16, [1], [0x3F80]),
        helper.make_tensor("s", TensorProto.STRING, [1], [b"text"]),
    ])
    const = helper.make_node("Constant", [], ["k"], value=helper.make_tensor("kv", TensorProto.FLOAT, [2], [1.0, 2.0]))
    branch = lambda v: helper.make_graph(  # noqa: E731
        [helper.make_node("Constant", [], ["o"], value=helper.make_tensor("bv", TensorProto.FLOAT, [1], [v]))], "b", [],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    subgraphs = model([const, helper.make_node("If", ["cond"], ["y"], then_branch=branch(1.0), else_branch=branch(0.0))],
                      [onnx.numpy_helper.from_array(np.array(True), "cond")])
    sparse = helper.make_sparse_tensor(onnx.numpy_helper.from_array(np.array([5.0, 6.0], np.float32), "sv"),
                                       onnx.numpy_helper.from_array(np.array([1, 7], np.int64), "si"), [10])
    func = helper.make_function("local", "f", ["x"], ["y"], [
        helper.make_node("Constant", [], ["c"], value_float=2.0), helper.make_node("Mul", ["x", "c"], ["y"])],
        [helper.make_opsetid("", 17)])
    sparse_and_func = model([helper.make_node("f", ["x"], ["y"], domain="local")], [], inputs=["x"], sparse=[sparse],
                            functions=[func])
    ext = onnx.numpy_helper.from_array(w, "W")
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "48")):
        ext.external_data.add(key=key, value=value)
    external = model([helper.make_node("Identity", ["W"], ["y"])], [ext])
    return [mlp, typed, subgraphs, sparse_and_func, external]


def torch_files() -> list[bytes]:
    """Small PyTorch files: zip and legacy torch.save of a state dict, and a TorchScript module."""
    import io

    import torch

    state = {"conv.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2) / 5,
             "conv.bias": torch.zeros(2, dtype=torch.bfloat16), "steps": torch.tensor(7),
             "mask": torch.tensor([True, False]), "view": torch.arange(10, dtype=torch.int16)[2:6]}
    files = []
    for zipped in (True, False):
        buf = io.BytesIO()
        torch.save(state, buf, _use_new_zipfile_serialization=zipped)
        files.append(buf.getvalue())
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), buf)
    files.append(buf.getvalue())
    return files


def safetensors_files() -> list[bytes]:
    from safetensors.numpy import save

    return [save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array([1, -2], np.int64)},
                 metadata={"format": "pt"}),
            save({"h": np.ones(3, np.float16), "b": np.array([True])})]


def reader_seeds(out: Path) -> None:
    # The first byte indexes READERS in reader_roundtrip.py: 0 onnx, 1 torch, 2 safetensors.
    for index, files in enumerate((onnx_models(), torch_files(), safetensors_files())):
        for data in files:
            write(out / "readers", bytes([index]) + data)


def pickle_seeds(out: Path) -> None:
    """The pickles inside the PyTorch seeds (data.pkl, constants.pkl; the legacy file's five)."""
    import io
    import pickletools
    import zipfile

    for data in torch_files():
        if data.startswith(b"PK"):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for name in z.namelist():
                    if name.endswith(".pkl"):
                        write(out / "pickle", z.read(name))
        else:
            pos = 0
            for _ in range(5):
                end = [p for _, _, p in pickletools.genops(data[pos:])][-1] + pos + 1
                write(out / "pickle", data[pos:end])
                pos = end


def json_seeds(out: Path) -> None:
    """JSON as nncodec reads it: safetensors headers, a .nnz metadata record and a file layout."""
    import json
    import struct
    import tempfile

    import nncodec
    from nncodec.formats import byte_layout

    for data in safetensors_files():
        (n,) = struct.unpack("<Q", data[:8])
        write(out / "json", data[8:8 + n])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.pt"
        path.write_bytes(torch_files()[0])
        nnz = nncodec.encode_file(path, Path(tmp) / "m.nnz")
        with nncodec.load(nnz) as f:
            write(out / "json", json.dumps(f.meta).encode())
    # A format 1.0 skeleton's JSON layout (files since 1.1 have none; tests/golden keeps 1.0 files).
    with nncodec.load(Path(__file__).parents[1] / "golden" / "v1" / "models" / "torch-zip.nnz") as f:
        skeleton = f.blob("nncodec/skeleton")
    (n,) = struct.unpack("<Q", skeleton[4:12])
    write(out / "json", skeleton[12:12 + n])
    assert byte_layout.unpack(skeleton)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "corpus")
    args = parser.parse_args()
    rng = np.random.default_rng(20240601)
    arrays = sample_arrays(rng)
    codec_seeds(args.out, arrays)
    container_seeds(args.out, arrays)
    entropy_seeds(args.out, rng)
    reader_seeds(args.out)
    restore_seeds(args.out)
    pickle_seeds(args.out)
    json_seeds(args.out)
    for target in sorted(p for p in args.out.iterdir() if p.is_dir()):
        files = list(target.iterdir())
        print(f"{target.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
