"""Model file formats: each module reads a file into a ModelDocument and writes one back."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ..errors import UnsupportedError
from . import folder_format, onnx_format, safetensors_format, torch_format

_FORMATS: dict[str, ModuleType] = {
    onnx_format.FORMAT: onnx_format,
    torch_format.FORMAT: torch_format,
    safetensors_format.FORMAT: safetensors_format,
    folder_format.FORMAT: folder_format,
}


def by_name(name: str) -> ModuleType:
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnsupportedError(f"unknown model format {name!r}") from None


def detect(path: Path) -> ModuleType:
    """The format module for a model file: from its first bytes where they say it (a PyTorch
    archive or a safetensors header, whatever the name: ``pytorch_model.bin`` may be either),
    else from its suffix, else from the first bytes ONNX files have in practice. A folder is a
    model folder."""
    if Path(path).is_dir():
        return folder_format
    with open(path, "rb") as f:
        head = f.read(64)
    for module in (torch_format, safetensors_format):
        if module.sniff(head):
            return module
    name = path.name.lower()
    for module in _FORMATS.values():
        if name.endswith(module.SUFFIXES):  # suffixes may have several parts (".safetensors.index.json")
            return module
    if onnx_format.sniff(head):
        return onnx_format
    known = ", ".join(s for m in _FORMATS.values() for s in m.SUFFIXES)
    raise UnsupportedError(f"{path.name}: not a model format nncodec reads (supported: {known})")


def input_size(path: Path) -> int:
    """Bytes of the model file and of the files it brings in (the shards of a safetensors index)."""
    module = detect(path)
    if module is folder_format:
        return sum((path / rel).stat().st_size for rel in folder_format.scan(path).files)
    files = module.input_files(path) if hasattr(module, "input_files") else [path]
    return sum(f.stat().st_size for f in files if f.is_file())
