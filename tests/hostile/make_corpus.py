"""Builds the negative corpus: one crafted file per way a hostile or careless input attacks
nncodec (docs/SECURITY.md), and ``expected.json`` saying what each must end in.

    .venv-test/bin/python tests/hostile/make_corpus.py      # rewrites tests/hostile/corpus/

Every file is made the way an attacker would make it: with nncodec's own container writer (or
plain zip/pickle/JSON bytes) and whatever skeleton, metadata or names suit the attack. The files
are committed; test_hostile_inputs.py replays each through the command line under a memory limit
and checks the outcome. Deterministic: running this again gives the same bytes.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from nncodec import _core
from nncodec.formats import byte_layout
from nncodec.nnzfile import FILES_BLOB, META_BLOB, SKELETON_BLOB

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import nnz_reference  # noqa: E402  (tests/nnz_reference.py: crafts containers with valid checksums)
from legacy_layout import pack_v1  # noqa: E402  (format 1.0 skeletons)

CORPUS = HERE / "corpus"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass
class Case:
    """One crafted input: the command run on it and the outcome it must have.

    ``args``: the nncodec command line; {file} is the crafted file, {out} a folder prepared with
    decoys (symlinks, dot-files, a user's files). ``error``: the NnzError subclass the API raises
    (None: the command succeeds). ``match``: a regular expression the one-line message contains.
    """

    name: str
    attack: str
    args: list[str]
    error: str | None
    match: str = ""
    files: list[str] = field(default_factory=list)  # companion files of the input (ONNX external data)


CASES: list[Case] = []
BUILDERS: dict[str, object] = {}


def case(name: str, attack: str, args: list[str], error: str | None, match: str = "", files=()):
    def register(build):
        CASES.append(Case(name, attack, args, error, match, list(files)))
        BUILDERS[name] = build
        return build
    return register


DECODE = ["decode", "{file}", "-o", "{out}/model", "--force"]
DECODE_DEFAULT = ["decode", "{file}", "--force"]
ENCODE = ["encode", "{file}", "-o", "{out}/encoded.nnz"]
INFO = ["info", "{file}"]
TO_NPZ = ["decode", "{file}", "--to", "npz", "-o", "{out}/tensors.npz"]

# ---------------------------------------------------------------------------------------------
# Writing .nnz files with any content


def nnz_bytes(tensors: dict[str, np.ndarray] | None = None, meta: dict | bytes | None = None,
              skeleton: bytes | None = None, raw: dict[str, tuple[str, list[int], object]] | None = None,
              files: bytes | None = None) -> bytes:
    """A .nnz file with these tensors (coded lossless), metadata and skeleton, written by the
    container writer itself: hostile content in a well-formed container."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.nnz"
        writer = _core.Writer(str(path))
        for name, array in (tensors or {}).items():
            data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
            writer.add_tensor(name, array.dtype.name, list(array.shape), _core.encode_lossless(data, array.dtype.name,
                                                                                                1 << 18, 1))
        for name, (dtype, shape, encoded) in (raw or {}).items():
            writer.add_tensor(name, dtype, shape, encoded)
        if meta is not None:
            text = meta if isinstance(meta, bytes) else json.dumps(meta, sort_keys=True).encode()
            writer.add_blob(META_BLOB, 1, zlib.compress(text, 9))
        if skeleton is not None:
            writer.add_blob(SKELETON_BLOB, 1, zlib.compress(skeleton, 9))
        if files is not None:
            writer.add_blob(FILES_BLOB, 1, zlib.compress(files, 9))
        writer.finish()
        return path.read_bytes()


def meta_for(fmt: str, name: str, attrs: dict | None = None) -> dict:
    return {"meta_version": 1, "encoder": "crafted", "codec": "lossless", "codec_params": {},
            "source": {"format": fmt, "name": name, "attrs": attrs or {}}}


def weights(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


# ONNX: a graph whose initializers keep their data in external files with any location.
def onnx_external(locations: list[str], offsets: list[int] | None = None) -> tuple[bytes, dict, dict]:
    """(skeleton, attrs, tensors) of an ONNX model whose initializer i lives in locations[i]."""
    tensors, inits = {}, []
    for i, location in enumerate(locations):
        t = TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[64])
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", str((offsets or [0] * len(locations))[i])),
                           ("length", "256")):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        inits.append(t)
        tensors[f"w{i}"] = weights(64, i)
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString(), {"slots": [[f"w{i}", "external"] for i in range(len(locations))]}, tensors


def onnx_external_nnz(locations: list[str], source_name: str = "model.onnx", offsets=None) -> bytes:
    """Format 1.0: the ModelProto without data, and slots."""
    skeleton, attrs, tensors = onnx_external(locations, offsets)
    return nnz_bytes(tensors, meta_for("onnx", source_name, attrs), skeleton)


def onnx_files_nnz(locations: list[str], model_bytes: bytes | None = None, reuse: bool = False) -> bytes:
    """Format 1.1: the model file and one external-data file per location, as the encoder lays them
    out (nncodec/files), with whatever names the attack needs. ``reuse``: the first tensor goes
    into every external file (a hole reused)."""
    skeleton, _, tensors = onnx_external(locations)
    files = [byte_layout.FileLayout("model.onnx", model_bytes or skeleton)]
    for i, location in enumerate(locations):
        name = "w0" if reuse else f"w{i}"
        files.append(byte_layout.FileLayout(location, tensors[name].tobytes(), [byte_layout.Hole(0, name)]))
    section = byte_layout.pack_files(files, tensors)
    return nnz_bytes(tensors, meta_for("onnx", "model.onnx"), files=section)


# safetensors: a sharded checkpoint (index + shards) with any shard names.
def safetensors_file(tensors: dict[str, np.ndarray]) -> bytes:
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"".join(a.tobytes() for a in tensors.values())


def sharded_nnz(shard_names: list[str]) -> bytes:
    files, tensors = [], {}
    index = {"metadata": {}, "weight_map": {f"t{i}": n for i, n in enumerate(shard_names)}}
    files.append(byte_layout.FileLayout("model.safetensors.index.json", json.dumps(index).encode()))
    for i, shard in enumerate(shard_names):
        array = weights(64, i)
        data = safetensors_file({f"t{i}": array})
        layout = byte_layout.FileLayout(shard, data, [byte_layout.Hole(len(data) - array.nbytes, f"t{i}")])
        files.append(layout)
        tensors[f"t{i}"] = array
    skeleton = pack_v1(files, tensors, {"format": "safetensors", "kind": "sharded", "metadata": {}, "raw": []})
    return nnz_bytes(tensors, meta_for("safetensors", "model.safetensors.index.json", {"kind": "sharded"}), skeleton)


# PyTorch: zip archives and pickles written opcode by opcode.
def zip_bytes(records: list[tuple[str, bytes, int]]) -> bytes:
    """A zip archive of (name, data, compression) records, in that order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data, compression in records:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = compression
            z.writestr(info, data, compresslevel=9 if compression else None)
    return out.getvalue()


def torch_zip(data_pkl: bytes, deflate: bool = False, extra: list[tuple[str, bytes, int]] = ()) -> bytes:
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    return zip_bytes([("archive/data.pkl", data_pkl, method), ("archive/byteorder", b"little", 0),
                      *extra, ("archive/version", b"3\n", 0)])


def pickle_text(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def state_dict_pickle(entries: bytes) -> bytes:
    """PROTO 2, an empty dict, MARK, the key/value opcodes, SETITEMS, STOP."""
    return b"\x80\x02}(" + entries + b"u."


def tensor_pickle(key: str, shape: tuple[int, ...], stride: tuple[int, ...], numel: int) -> bytes:
    """Opcodes of one float32 tensor on storage ``key`` (torch._utils._rebuild_tensor_v2)."""
    ints = lambda values: b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"  # noqa: E731
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + b"(" + pickle_text("storage")
            + b"ctorch\nFloatStorage\n" + pickle_text(key) + pickle_text("cpu") + b"J" + struct.pack("<i", numel)
            + b"tQ" + b"K\x00" + ints(shape) + ints(stride) + b"\x89" + b"ccollections\nOrderedDict\n)R" + b"tR")


def torch_nnz(views: list[list], storage: np.ndarray, holes: int = 1) -> bytes:
    """A .nnz of a torch zip whose one storage is put back ``holes`` times, with these views."""
    data_pkl = state_dict_pickle(pickle_text("w") + tensor_pickle("0", (storage.size,), (1,), storage.size))
    archive = torch_zip(data_pkl, extra=[("archive/data/0", storage.tobytes(), 0)])
    offset = archive.index(storage.tobytes())
    layout = byte_layout.FileLayout("model.pt", archive, [byte_layout.Hole(offset, "w")])
    skeleton = pack_v1([layout], {"w": storage}, {"format": "torch", "kind": "zip", "views": views})
    if holes > 1:  # the same tensor put back at many offsets of a file claimed to be huge
        header, kept = byte_layout.unpack(skeleton)
        size = header["files"][0]["size"]
        step = storage.nbytes
        header["files"][0]["holes"] += [[size + k * step, "w", [], 0] for k in range(holes - 1)]
        header["files"][0]["size"] = size + (holes - 1) * step
        layout_json = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        skeleton = byte_layout.MAGIC + struct.pack("<Q", len(layout_json)) + layout_json + bytes(kept)
    return nnz_bytes({"w": storage}, meta_for("torch", "model.pt", {"kind": "zip"}), skeleton)


# ---------------------------------------------------------------------------------------------
# 1. Files written where the user did not ask

@case("shard_through_symlink.nnz", "1: a shard under a sub-folder that is a symlink out of the output folder",
      DECODE, "UnsafeInputError", "symlink")
def _():
    return sharded_nnz(["link/x.safetensors"])


@case("external_data_through_symlink.nnz", "1: ONNX external data under a symlinked sub-folder",
      DECODE, "UnsafeInputError", "symlink")
def _():
    return onnx_external_nnz(["link/m.data"])


@case("external_data_dotfile.nnz", "2: ONNX external data named .bashrc", DECODE, "UnsafeInputError", "bashrc")
def _():
    return onnx_external_nnz([".bashrc"])


@case("external_data_ssh_key.nnz", "2: ONNX external data at .ssh/authorized_keys", DECODE, "UnsafeInputError",
      "authorized_keys")
def _():
    return onnx_external_nnz([".ssh/authorized_keys"])


@case("external_data_into_user_folder.nnz", "2: ONNX external data at src/app.py, a user's existing folder",
      DECODE, "UnsafeInputError", "holds files that are not this model's")
def _():
    return onnx_external_nnz(["src/app.py"])


@case("external_data_parent.nnz", "2: ONNX external data at ../escape.data", DECODE, "UnsafeInputError", "escape")
def _():
    return onnx_external_nnz(["../escape.data"])


@case("external_data_absolute.nnz", "2: ONNX external data at an absolute path", DECODE, "UnsafeInputError",
      "not a plain|plain relative")
def _():
    return onnx_external_nnz(["/tmp/nncodec-absolute.data"])


@case("external_data_replaces_model.nnz", "2: ONNX external data named like the model file itself",
      DECODE, "UnsafeInputError", "replace the model file")
def _():
    return onnx_external_nnz(["model"])


@case("external_data_case_twins.nnz", "2: two external data files whose names differ only in case",
      DECODE, "UnsafeInputError", "differ only in case")
def _():
    return onnx_external_nnz(["w.data", "W.data"])


@case("shard_not_safetensors.nnz", "2: a shard named app.py", DECODE, "CorruptFileError", "not safetensors shards")
def _():
    return sharded_nnz(["app.py"])


@case("source_name_dotfile.nnz", "2: the stored model file name is .bashrc (decode without -o)",
      DECODE_DEFAULT, "UnsafeInputError", "stored model file name")
def _():
    return onnx_external_nnz(["m.data"], source_name=".bashrc")


@case("source_name_path.nnz", "2: the stored model file name is ../../x.onnx", DECODE_DEFAULT, "UnsafeInputError",
      "stored model file name")
def _():
    return onnx_external_nnz(["m.data"], source_name="../../x.onnx")


@case("files_through_symlink.nnz", "1 (format 1.1): a model file under a symlinked sub-folder", DECODE,
      "UnsafeInputError", "symlink")
def _():
    return onnx_files_nnz(["link/m.data"])


@case("files_dotfile.nnz", "2 (format 1.1): a model file named .bashrc", DECODE, "UnsafeInputError", "bashrc")
def _():
    return onnx_files_nnz([".bashrc"])


@case("files_ssh_key.nnz", "2 (format 1.1): a model file at .ssh/authorized_keys", DECODE, "UnsafeInputError",
      "authorized_keys")
def _():
    return onnx_files_nnz([".ssh/authorized_keys"])


@case("files_into_user_folder.nnz", "2 (format 1.1): a model file at src/app.py, a user's existing folder", DECODE,
      "UnsafeInputError", "holds files that are not this model's")
def _():
    return onnx_files_nnz(["src/app.py"])


@case("files_parent.nnz", "2 (format 1.1): a model file at ../escape.data", DECODE, "UnsafeInputError", "escape")
def _():
    return onnx_files_nnz(["../escape.data"])


@case("files_absolute.nnz", "2 (format 1.1): a model file at an absolute path", DECODE, "UnsafeInputError",
      "plain relative")
def _():
    return onnx_files_nnz(["/tmp/nncodec-absolute.data"])


@case("files_case_twins.nnz", "2 (format 1.1): two model files whose names differ only in case", DECODE,
      "UnsafeInputError", "differ only in case|ignoring case")
def _():
    return onnx_files_nnz(["w.data", "W.data"])


@case("files_reference_outside.nnz", "2 (format 1.1): a restored ONNX model whose tensor names external data "
      "outside its files", DECODE, "UnsafeInputError", "not one of the model's files")
def _():
    skeleton, _, _ = onnx_external(["../../secret.txt"])
    return onnx_files_nnz(["m.data"], model_bytes=skeleton)


@case("files_holes_reuse_one_tensor.nnz", "6 (format 1.1): one tensor put in three files", DECODE,
      "CorruptFileError", "more than one place")
def _():
    return onnx_files_nnz(["a.data", "b.data", "c.data"], reuse=True)


# ---------------------------------------------------------------------------------------------
# 3. Checks that torch would not make

@case("zip_case_twins.pt", "3: archive/data.pkl and archive/DATA.PKL (torch looks names up case-insensitively)",
      ENCODE, "UnsafeInputError", "differ only in case")
def _():
    benign = state_dict_pickle(b"")
    return zip_bytes([("archive/data.pkl", benign, 0), ("archive/DATA.PKL", b"\x80\x02cos\nsystem\n.", 0),
                      ("archive/version", b"3\n", 0)])


@case("zip_other_folder.pt", "3: data.pkl in another folder than the archive's first record", ENCODE,
      "CorruptFileError", "first record")
def _():
    return zip_bytes([("archive/version", b"3\n", 0), ("other/data.pkl", state_dict_pickle(b""), 0)])


@case("zip_case_twins.nnz", "3: a decoded torch archive with case twins", DECODE, "UnsafeInputError",
      "differ only in case")
def _():
    archive = zip_bytes([("archive/data.pkl", state_dict_pickle(b""), 0), ("archive/Data.pkl", b"\x80\x02N.", 0),
                         ("archive/version", b"3\n", 0)])
    skeleton = pack_v1([byte_layout.FileLayout("model.pt", archive)], {},
                                {"format": "torch", "kind": "zip", "views": []})
    return nnz_bytes({}, meta_for("torch", "model.pt", {"kind": "zip"}), skeleton)


# ---------------------------------------------------------------------------------------------
# 4. Nesting: a stack overflow in C

def deep_tuple_key(depth: int) -> bytes:
    return state_dict_pickle(b")" + b"\x85" * depth + b"N")  # EMPTY_TUPLE, TUPLE1 x depth: a key; None


@case("deep_tuple_key.pt", "4: a dict keyed by a tuple nested 400,000 deep (hashing it recursed in C)", ENCODE,
      "LimitExceededError", "nested too deeply")
def _():
    return torch_zip(deep_tuple_key(400_000), deflate=True)


@case("deep_tuple_key.nnz", "4: a decoded torch archive whose pickle has the deep tuple key", DECODE,
      "LimitExceededError", "nested too deeply")
def _():
    archive = torch_zip(deep_tuple_key(400_000), deflate=True)
    skeleton = pack_v1([byte_layout.FileLayout("model.pt", archive)], {},
                                {"format": "torch", "kind": "zip", "views": []})
    return nnz_bytes({}, meta_for("torch", "model.pt", {"kind": "zip"}), skeleton)


@case("deep_lists.pt", "4: lists nested 100,000 deep", ENCODE, "LimitExceededError", "nested too deeply")
def _():
    return torch_zip(b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".", deflate=True)


@case("deep_marks.pt", "4: 100,000 nested MARKs", ENCODE, "LimitExceededError", "nested too deeply")
def _():
    return torch_zip(b"\x80\x02" + b"(" * 100_000 + b".", deflate=True)


# ---------------------------------------------------------------------------------------------
# 5. Pickle amplification

@case("memoize_bomb.pt", "5: 20 MB of MEMOIZE opcodes deflated to a few KB", ENCODE, "LimitExceededError",
      "max_pickle")
def _():
    return torch_zip(b"\x80\x04]" + b"\x94" * 20_000_000 + b".", deflate=True)


@case("dup_bomb.pt", "5: 20 MB of DUP opcodes deflated to a few KB", ENCODE, "LimitExceededError", "max_pickle")
def _():
    return torch_zip(b"\x80\x02]" + b"2" * 20_000_000 + b".", deflate=True)


@case("shared_big_key.pt", "5: 50,000 keys sharing one 20,000-element tuple (repr and hash of each visit it all)",
      ENCODE, "LimitExceededError", "max_pickle_ops")
def _():
    big = b"(" + b"K\x07" * 20_000 + b"t" + b"\x94"  # a tuple of 20,000 ints, memo 0
    keys = b"".join(b"h\x00" + b"J" + struct.pack("<i", i) + b"\x86" + b"N" for i in range(50_000))  # (big, i): None
    return torch_zip(b"\x80\x04}" + big + b"0(" + keys + b"u.", deflate=True)


@case("inflates_past_cap.pt", "5: a 1 MB record whose pickle inflates to 1 GiB", ENCODE, "LimitExceededError",
      "max_pickle_bytes")
def _():
    # A deflated record whose header claims 1 GiB: refused from the size before any inflating.
    archive = bytearray(torch_zip(b"\x80\x02N." + b"\x00" * 1_000_000, deflate=True))
    start = archive.index(b"PK\x01\x02")
    struct.pack_into("<I", archive, start + 24, 1 << 30)  # central directory: uncompressed size
    return bytes(archive)


@case("equal_hash_keys.pt", "5: 100,000 int keys with one hash (quadratic dict inserts)", ENCODE,
      "LimitExceededError", "share a hash value")
def _():
    step = (1 << 61) - 1  # hash(k * step) == 0 for every k
    keys = b"".join(b"\x8a\x0c" + (k * step).to_bytes(12, "little", signed=True) + b"N" for k in range(1, 100_001))
    return torch_zip(b"\x80\x02}(" + keys + b"u.", deflate=True)


# ---------------------------------------------------------------------------------------------
# 6. Decode-side bombs

@case("holes_reuse_one_tensor.nnz", "6: the layout puts one tensor back 20,000 times (a 100 KB file writing 320 MB)",
      DECODE, "CorruptFileError", "more than one place")
def _():
    storage = weights(4096)
    return torch_nnz([["w", "w", "float32", 0, [4096], [1], False]], storage, holes=20_000)


@case("huge_zero_tensor.nnz", "6: one tensor of 8 GiB declared in a 1 KB file", TO_NPZ, "LimitExceededError",
      "memory budget")
def _():
    payload = _core.encode_raw(np.zeros(4, np.uint8), "uint8")
    return nnz_bytes(raw={"zeros": ("float32", [1 << 31], payload)})


@case("stride_zero_view.nnz", "6: a stride-0 view of one element, 4 GiB once materialised (decode --to npz)",
      TO_NPZ, "LimitExceededError", "memory budget|max_tensor_bytes")
def _():
    storage = weights(16)
    return torch_nnz([["w", "w", "float32", 0, [1 << 30], [0], False]], storage)


@case("meta_nested_lists.nnz", "6: metadata of 10 million nested empty lists inside zlib", INFO,
      "LimitExceededError", "JSON")
def _():
    return nnz_bytes({}, meta=b"[" * 10_000_000 + b"]" * 10_000_000)


@case("meta_many_lists.nnz", "6: metadata of 20 million empty lists inside zlib", INFO, "LimitExceededError", "JSON")
def _():
    return nnz_bytes({}, meta=b"[" + b"[]," * 20_000_000 + b"[]]")


@case("layout_nested_lists.nnz", "6: a file layout of deeply nested lists", DECODE, "LimitExceededError", "JSON")
def _():
    layout = b"[" * 1_000_000 + b"]" * 1_000_000
    skeleton = byte_layout.MAGIC + struct.pack("<Q", len(layout)) + layout
    return nnz_bytes({}, meta_for("torch", "model.pt", {"kind": "zip"}), skeleton)


@case("external_offset_1tib.nnz", "6: ONNX external data at an offset of 1 TiB (a huge sparse file)", DECODE,
      "CorruptFileError", "would be")
def _():
    return onnx_external_nnz(["m.data"], offsets=[1 << 40])


@case("aliased_external_ranges.onnx", "6: 16 initializers aliasing one external-data range (a 16x larger .nnz)",
      ENCODE, "CorruptFileError", "share bytes", files=["aliased_external_ranges.data"])
def _():
    skeleton, _, _ = onnx_external(["aliased_external_ranges.data"] * 16)
    model = onnx.ModelProto()
    model.ParseFromString(skeleton)
    for t in model.graph.initializer:
        t.dims[:] = [1 << 14]
        for entry in t.external_data:
            if entry.key == "length":
                entry.value = str(1 << 16)
    return model.SerializeToString()


def _aliased_data() -> bytes:
    return weights(1 << 14, 7).tobytes()


# ---------------------------------------------------------------------------------------------
# 8. Tracebacks instead of one-line errors

@case("safetensors_deep_header.safetensors", "8: a safetensors header of nested JSON arrays", ENCODE,
      "LimitExceededError", "JSON nested")
def _():
    raw = b'{"a":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    return struct.pack("<Q", len(raw)) + raw


@case("safetensors_surrogate_name.safetensors", "8: a tensor name with a lone surrogate", ENCODE,
      "CorruptFileError", "UTF-8")
def _():
    array = weights(4)
    raw = json.dumps({"\ud800": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    return struct.pack("<Q", len(raw)) + raw + array.tobytes()


@case("safetensors_huge_dims.safetensors", "8: a tensor of shape [0, 2**64]", ENCODE, "CorruptFileError",
      "shape too large|invalid dimension")
def _():
    raw = json.dumps({"t": {"dtype": "F32", "shape": [0, 1 << 64], "data_offsets": [0, 0]}}).encode()
    return struct.pack("<Q", len(raw)) + raw


@case("safetensors_rank_70.safetensors", "8: a tensor of rank 70", ENCODE, "CorruptFileError", "dimensions")
def _():
    raw = json.dumps({"t": {"dtype": "F32", "shape": [1] * 70, "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * 4


@case("nnz_huge_dims.nnz", "8: a .nnz tensor of shape [0, 2**63]", TO_NPZ, "CorruptFileError", "shape too large")
def _():
    payload = _core.encode_raw(np.zeros(0, np.uint8), "uint8")
    return nnz_bytes(raw={"t": ("float32", [0, 1 << 63], payload)})


@case("meta_wrong_types.nnz", "8: metadata whose source is a list", DECODE, "CorruptFileError", "metadata is damaged")
def _():
    return nnz_bytes({"w": weights()}, meta={"meta_version": 1, "source": ["onnx", "model.onnx"]})


@case("sparse_inner_not_utf8.nnz", "8: a sparse tensor whose inner codec id is not UTF-8", TO_NPZ,
      "UnsupportedError|CorruptFileError", "codec")
def _():
    array = np.zeros(256, np.float32)
    array[::7] = 1.0
    data = array.view(np.uint8)
    inner = _core.encode_lossless(_core.sparse_values(data, "float32"), "float32", 1 << 18, 1)
    sparse = _core.encode_sparse(data, "float32", inner)
    container = nnz_reference.parse(nnz_bytes(raw={"t": ("float32", [256], sparse)}))
    params = bytearray(container.tensors[0].params)
    params[1:1 + params[0]] = b"\xff" * params[0]
    container.tensors[0].params = bytes(params)
    return nnz_reference.build(container)  # valid checksums around the damaged id


# ---------------------------------------------------------------------------------------------
# 10. Names that fake a terminal's output

@case("names_with_escapes.nnz", "10: tensor names with a newline, an ANSI colour and a bidi override", INFO, None)
def _():
    return nnz_bytes({"a\nfake row  float32  1  lossless": weights(8), "\x1b[31mred\x1b[0m": weights(8, 1),
                      "\u202eevil": weights(8, 2)})


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.iterdir():
        old.unlink()
    for c in CASES:
        data = BUILDERS[c.name]()
        (CORPUS / c.name).write_bytes(data)
        print(f"{c.name:<42} {len(data):>9,} bytes  {c.attack}", file=sys.stderr)
    (CORPUS / "aliased_external_ranges.data").write_bytes(_aliased_data())
    (HERE / "expected.json").write_text(json.dumps([asdict(c) for c in CASES], indent=1, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    main()
