"""Hostile PyTorch files: pickles that would run code are refused, naming the global; nothing runs,
no output is left behind. The same for a hostile .nnz whose stored file would carry such a pickle.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncodec
from nncodec.atomic import staged_output
from nncodec.errors import CorruptFileError, NnzError, UnsafeInputError
from nncodec.formats import byte_layout, convert, torch_format
from nncodec.model import ModelDocument
from nncodec.nnzfile import write_document
from nncodec.codecs.coding import EncodeOptions
from nncodec.formats.torch_pickle import RestrictedUnpickler
from legacy_layout import pack_v1
from torch_files import Reduce, legacy_file, torch_zip, torch_zip_with_pickle, torchscript_zip_with_pickle


# Opcode helpers for hand-written pickles (protocol 2 opcodes).
def G(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def U(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def I(n: int) -> bytes:  # noqa: E743
    return b"J" + struct.pack("<i", n)


def tensor_pickle(hooks: bytes, legacy: bool = False) -> bytes:
    """{'w': _rebuild_tensor_v2(storage '0' (1 float), 0, (1,), (1,), False, hooks)}"""
    view_metadata = b"N" if legacy else b""
    pid = b"(" + U("storage") + G("torch", "FloatStorage") + U("0") + U("cpu") + I(1) + view_metadata + b"tQ"
    tensor = G("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + I(0) + b"(" + I(1) + b"t(" + I(1) + b"t\x89" \
        + hooks + b"tR"
    return b"\x80\x02}(" + U("w") + tensor + b"u."


class _Plain:
    """Pickled with protocol 1 through copyreg._reconstructor."""


def payloads(sentinel: Path, legacy: bool = False) -> list[tuple[str, bytes, str]]:
    """(id, pickle bytes, the global the refusal must name). Each would create ``sentinel``."""
    cmd = f"touch {sentinel}"
    return [
        ("os.system-protocol0", b"cos\nsystem\n(V" + cmd.encode() + b"\ntR.", "os.system"),
        ("posix.system-reduce", pickle.dumps(Reduce(os.system, (cmd,)), protocol=2), "posix.system"),
        ("builtins.eval", pickle.dumps(Reduce(eval, (f"__import__('os').system({cmd!r})",)), protocol=2),
         "builtins.eval"),
        ("builtins.exec-stack-global", pickle.dumps(Reduce(exec, (f"import os; os.system({cmd!r})",)), protocol=4),
         "builtins.exec"),
        ("subprocess.Popen", pickle.dumps(Reduce(subprocess.Popen, (["touch", str(sentinel)],)), protocol=2),
         "subprocess.Popen"),
        ("nested-in-state-dict", pickle.dumps({"w": [1, {"deep": (Reduce(os.system, (cmd,)),)}]}, protocol=2),
         "posix.system"),
        ("inst-opcode", b"(V" + cmd.encode() + b"\nios\nsystem\n.", "os.system"),
        ("ext1-extension-code", b"\x80\x02\x82\xf0" + U(cmd) + b"\x85R.", "extension code 240"),
        ("getattr-chain", pickle.dumps(Reduce(getattr, (Reduce(__import__, ("os",)), "system")), protocol=2),
         "builtins.getattr"),
        ("stack-global-from-memo", b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93" + U(cmd) + b"\x85R.",
         "os.system"),
        ("hidden-in-tensor-hooks", tensor_pickle(G("os", "system") + b"(" + U(cmd) + b"tR", legacy), "os.system"),
        ("module-persistent-id", b"\x80\x02(" + U("module") + U("x") + U("y") + b"tQ.", "module"),
        ("torch.load", G("torch", "load") + b"(" + U("x.pt") + b"tR.", "torch.load"),
        ("copyreg-reconstructor", pickle.dumps(_Plain(), protocol=1), "copyreg._reconstructor"),
    ]


PAYLOAD_IDS = [p[0] for p in payloads(Path("/x"))]


def _payload(tmp_path: Path, which: str, legacy: bool = False) -> tuple[bytes, str, Path]:
    sentinel = tmp_path / "sentinel"
    for name, data, global_name in payloads(sentinel, legacy):
        if name == which:
            return data, global_name, sentinel
    raise KeyError(which)


_CONTAINERS = {
    "zip": lambda tmp_path, data: torch_zip_with_pickle(tmp_path / "evil.pt", data),
    "legacy": lambda tmp_path, data: legacy_file(tmp_path / "evil_legacy.pth", data),
    "torchscript": lambda tmp_path, data: torchscript_zip_with_pickle(tmp_path / "evil.jit", data),
}


def _no_output(tmp_path: Path, sentinel: Path) -> None:
    assert not sentinel.exists(), "the payload ran"
    left = [p.name for p in tmp_path.iterdir() if p.suffix == ".nnz" or p.name.startswith(".nncodec-")]
    assert left == [], f"output left behind: {left}"


def test_payloads_really_call_what_they_name():
    """The test pickles are live exploits: each names its global and calls it (checked without running it)."""
    for name, data, global_name in payloads(Path("/tmp/sentinel")):
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
        names = {op for op, _ in ops}
        assert names & {"REDUCE", "INST", "BINPERSID", "NEWOBJ"}, name
        text = " ".join(str(arg) for _, arg in ops)
        assert global_name.split(".")[-1] in text or global_name.startswith("extension"), name


@pytest.mark.parametrize("which", PAYLOAD_IDS)
@pytest.mark.parametrize("container", ["zip", "legacy", "torchscript"])
def test_malicious_pickle_is_refused_naming_the_global(tmp_path, which, container):
    data, global_name, sentinel = _payload(tmp_path, which, legacy=container == "legacy")
    path = _CONTAINERS[container](tmp_path, data)
    with pytest.raises(UnsafeInputError, match=global_name.replace(".", r"\.")):
        nncodec.encode_file(path, tmp_path / "out.nnz")
    _no_output(tmp_path, sentinel)


@pytest.mark.parametrize("which", ["os.system-protocol0", "builtins.eval", "subprocess.Popen"])
def test_cli_refuses_malicious_checkpoint_with_clear_error(tmp_path, which):
    data, global_name, sentinel = _payload(tmp_path, which)
    path = torch_zip_with_pickle(tmp_path / "evil.pt", data)
    proc = subprocess.run([sys.executable, "-m", "nncodec", "encode", str(path)], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 1
    assert f"refusing to load {global_name}" in proc.stderr
    assert "Traceback" not in proc.stderr
    _no_output(tmp_path, sentinel)


def test_torchscript_classes_are_refused_outside_torchscript(tmp_path):
    path = torch_zip_with_pickle(tmp_path / "evil.pt", b"\x80\x02" + G("__torch__.m", "M") + b")\x81.")
    with pytest.raises(UnsafeInputError, match=r"__torch__\.m\.M"):
        nncodec.encode_file(path, tmp_path / "out.nnz")


def test_torchscript_classes_are_never_called(tmp_path):
    path = torchscript_zip_with_pickle(tmp_path / "evil.jit", b"\x80\x02" + G("__torch__.m", "M") + U("x") + b"\x85R.")
    with pytest.raises(UnsafeInputError, match=r"__torch__\.m\.M"):
        nncodec.encode_file(path, tmp_path / "out.nnz")


def test_tensor_subclass_types_other_than_tensor_and_parameter_are_refused():
    data = b"\x80\x02" + G("torch._tensor", "_rebuild_from_type_v2") + b"(" + G("torch._utils", "_rebuild_tensor_v2") \
        + G("torch", "FloatStorage") + b")}tR."
    with pytest.raises(UnsafeInputError, match=r"torch\.FloatStorage"):
        RestrictedUnpickler(data, persistent_load=lambda pid: None).load()


def test_allowed_values_cannot_be_called():
    with pytest.raises(UnsafeInputError, match=r"torch\.float32"):
        RestrictedUnpickler(b"\x80\x02" + G("torch", "float32") + b")R.", persistent_load=lambda pid: None).load()


def test_legitimate_tensor_pickle_still_loads(tmp_path):
    """The hand-written tensor pickle, with honest hooks, is accepted: the refusals above are specific."""
    data = tensor_pickle(G("collections", "OrderedDict") + b")R")
    path = torch_zip(tmp_path / "ok.pt", {"data.pkl": data, "data/0": struct.pack("<f", 1.5)})
    out = nncodec.encode_file(path, tmp_path / "ok.nnz")
    assert nncodec.load(out)["w"].tolist() == [1.5]


def _hostile_nnz(tmp_path: Path, data_pkl: bytes, layout: str = "1.0") -> Path:
    """A .nnz whose stored PyTorch file carries ``data_pkl`` (no reader would have written it),
    in a format 1.0 skeleton or a format 1.1 file layout."""
    evil = torch_zip_with_pickle(tmp_path / "src.pt", data_pkl).read_bytes()
    (tmp_path / "src.pt").unlink()
    files = [byte_layout.FileLayout("model.pt", evil)]
    if layout == "1.0":
        doc = ModelDocument("torch", {}, pack_v1(files, {}, {"format": "torch", "kind": "zip", "views": []}),
                            {"kind": "zip"})
    else:
        doc = ModelDocument("torch", {}, attrs={"kind": "zip", "views": []}, files=files)
    path = tmp_path / "hostile.nnz"
    write_document(path, doc, EncodeOptions(), source_name="model.pt")
    return path


@pytest.mark.parametrize("layout", ["1.0", "1.1"])
@pytest.mark.parametrize("which", ["posix.system-reduce", "builtins.eval", "stack-global-from-memo"])
def test_decoding_hostile_nnz_refuses_to_write_a_malicious_checkpoint(tmp_path, which, layout):
    data, global_name, sentinel = _payload(tmp_path, which)
    nnz = _hostile_nnz(tmp_path, data, layout)
    with pytest.raises(UnsafeInputError, match=global_name.replace(".", r"\.")):
        nncodec.decode_file(nnz, tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".nncodec-")]
    assert not sentinel.exists()


def test_decoding_nnz_with_damaged_layout_is_a_clear_error(tmp_path):
    nnz = _hostile_nnz(tmp_path, tensor_pickle(G("collections", "OrderedDict") + b")R"))
    with nncodec.NnzFile(nnz) as f:
        doc = f.document()
    header, kept = byte_layout.unpack(doc.skeleton)
    header["files"][0]["holes"] = [[10**12, "nothing", [], 0]]
    layout = json.dumps(header).encode()
    doc.skeleton = byte_layout.MAGIC + struct.pack("<Q", len(layout)) + layout + bytes(kept)
    with pytest.raises(CorruptFileError):
        with staged_output(tmp_path, force=False) as staging:
            nncodec.formats.by_name("torch").write(doc, tmp_path / "x.pt", staging)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.nnz"]


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, path + (i,))
    else:
        yield path


json_values = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=6) \
    | st.lists(st.integers(-5, 5), max_size=3)


@given(data=st.data())
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_stored_layout_gives_nncodec_errors_only(tmp_path, data):
    """One value of the stored layout replaced by anything: decoding works or fails with an nncodec error."""
    src = torch_zip(tmp_path / "m.pt", {"data.pkl": tensor_pickle(G("collections", "OrderedDict") + b")R"),
                                        "data/0": struct.pack("<f", 1.5)})
    doc = torch_format.read(src)
    doc = ModelDocument(doc.format, doc.tensors, pack_v1(doc.files, doc.tensors, {"format": "torch", **doc.attrs}),
                        doc.attrs)
    header, kept = byte_layout.unpack(doc.skeleton)
    where = data.draw(st.sampled_from(list(_leaves(header))))
    target = header
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = data.draw(json_values)
    layout = json.dumps(header).encode()
    doc.skeleton = byte_layout.MAGIC + struct.pack("<Q", len(layout)) + layout + bytes(kept)
    out_dir = tmp_path / f"out{data.draw(st.integers(0, 10**9))}"
    try:
        with staged_output(out_dir, force=True) as staging:
            torch_format.write(doc, out_dir / "m.pt", staging)
        convert.model_tensors(doc)
    except NnzError:
        pass


def test_absurd_stride_on_a_length_one_axis_is_harmless():
    """Regression (found by the hypothesis test above): a damaged view stride of 2**61 on an axis of
    length 1 reached numpy.as_strided and raised OverflowError instead of being ignored."""
    import numpy as np

    from nncodec.errors import CorruptFileError
    from nncodec.formats.torch_format import StoredView, view_array

    storage = np.array([1.5, 2.5], np.float32)
    view = StoredView("t", "t", "float32", 1, (1,), (2**61,))
    assert view_array(view, storage, np.dtype(np.float32)).tolist() == [2.5]
    with pytest.raises(CorruptFileError):
        view_array(StoredView("t", "t", "float32", 0, (2,), (2**61,)), storage, np.dtype(np.float32))
