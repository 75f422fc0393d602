"""Builders of PyTorch-format files for the tests, including hostile ones (no torch needed here)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001


class Reduce:
    """An object whose unpickling calls ``func(*args)``: the classic pickle exploit."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def torch_zip(path: Path, records: dict[str, bytes], prefix: str = "archive") -> Path:
    """A zip archive laid out like torch.save's (Python's zipfile: stored, CRCs in the headers)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in records.items():
            z.writestr(f"{prefix}/{name}", data)
    return path


def torch_zip_with_pickle(path: Path, data_pkl: bytes) -> Path:
    return torch_zip(path, {"data.pkl": data_pkl, "byteorder": b"little", "version": b"3\n"})


def torchscript_zip_with_pickle(path: Path, data_pkl: bytes, constants_pkl: bytes = b"\x80\x02).") -> Path:
    return torch_zip(path, {"data.pkl": data_pkl, "code/__torch__.py": b"class M: pass\n",
                            "constants.pkl": constants_pkl, "version": b"3\n"})


def legacy_file(path: Path, main_pickle: bytes, storage_keys: list[str] | None = None, storages: bytes = b"") -> Path:
    """A torch.save legacy-format file: magic, protocol, system info, the object, the keys, the data."""
    sys_info = {"protocol_version": LEGACY_PROTOCOL_VERSION, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 8}}
    with open(path, "wb") as f:
        for value in (LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, sys_info):
            f.write(pickle.dumps(value, protocol=2))
        f.write(main_pickle)
        f.write(pickle.dumps(storage_keys or [], protocol=2))
        f.write(storages)
    return path
