"""transformers models straight from a compressed model folder (``nncodec encode my-model/``),
with no decoded weights on disk.

    import nncodec.transformers
    from transformers import AutoModelForCausalLM
    model = nncodec.transformers.from_pretrained(AutoModelForCausalLM, "my-model.nnz", dtype="auto")
    tokenizer = nncodec.transformers.tokenizer("my-model.nnz")

The folder's files other than its weights (``config.json``, ``generation_config.json``, the
tokenizer's files, anything else) are restored into a temporary folder, which is removed once
loaded; the weights are decoded into a state dict in memory (as :func:`nncodec.torch.load_state_dict`)
and handed to ``from_pretrained`` with the config, so transformers loads them as it loads its own
files (dtype, device_map, tied weights, key renames), and the model equals the one
``from_pretrained`` gives on the original folder.

The weights are those ``from_pretrained`` reads by default: ``model.safetensors`` (or the sharded
checkpoint of ``model.safetensors.index.json``), else ``pytorch_model.bin`` (or its shards
``pytorch_model-*.bin``), their tensors by their names in the files; other weight files of the
folder (an optimizer's state, an adapter) are left alone, and ``variant`` is not supported. Nor
are models whose code lives in the folder (``trust_remote_code``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import UnsupportedError, about
from .limits import Limits
from .model_views import weight_files
from .nnzfile import NnzFile
from .torch import state_dict


# The weight files from_pretrained reads from a folder by default, safetensors first.
CHECKPOINTS = (("model.safetensors", "model.safetensors.index.json"), ("pytorch_model.bin", "pytorch_model-*.bin"))


def _checkpoint_files(members: list[dict[str, Any]]) -> list[str]:
    """The folder's weight files transformers would load (other weight files, such as an
    optimizer's state or an adapter, are not the model's)."""
    for patterns in CHECKPOINTS:
        chosen = [m["path"] for m in members if any(fnmatch.fnmatchcase(m["path"], p) for p in patterns)]
        if chosen:
            return chosen
    raise UnsupportedError("the folder holds none of the weight files from_pretrained reads (" +
                           ", ".join(p for patterns in CHECKPOINTS for p in patterns) + ")")


def _support_data(f: NnzFile) -> dict[str, bytes]:
    """The bytes of the folder's files other than its weights, by their paths in the folder."""
    if f.meta.get("source", {}).get("format") != "folder":
        raise UnsupportedError("it holds one model file, not a model folder (encode the folder save_pretrained wrote)")
    weights = {name for member in weight_files(f) for name in member["files"]}
    return f.read_files([name for name, _ in f.files() if name not in weights])


@contextlib.contextmanager
def _written(data: dict[str, bytes]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="nncodec-") as tmp:
        for name, content in data.items():  # names the core checked: relative, inside, no dot files
            target = Path(tmp, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        yield Path(tmp)


@contextlib.contextmanager
def support_files(path: str | os.PathLike, *, threads: int | None = None,
                  limits: Limits | None = None) -> Iterator[Path]:
    """A temporary folder holding the model folder's files other than its weights (configs,
    tokenizer files), restored from the .nnz file at ``path``; removed on leaving the context."""
    with about(path), NnzFile(path, threads=threads, limits=limits) as f:
        data = _support_data(f)
    with _written(data) as folder:
        yield folder


def _model_class_for(model_class: Any, folder: Path, trust_remote_code: bool | None) -> Any:
    """The model class itself, or for an Auto class the one it picks for the folder's config."""
    from transformers import AutoConfig, PreTrainedModel
    # transformers' own choice among an Auto class's models: an Auto class cannot be given a state
    # dict itself (it needs a model path for that), so the model class it picks is.
    from transformers.models.auto.auto_factory import _get_model_class

    if isinstance(model_class, type) and issubclass(model_class, PreTrainedModel):
        return model_class
    config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
    if type(config) not in model_class._model_mapping:
        raise UnsupportedError(f"{model_class.__name__} has no model for configs of type {type(config).__name__} "
                               "(models with their own code are not supported)")
    return _get_model_class(config, model_class._model_mapping)


def from_pretrained(model_class: Any, path: str | os.PathLike, *, threads: int | None = None,
                    limits: Limits | None = None, base=None, **kwargs: Any):
    """``model_class.from_pretrained`` on the model folder compressed in the .nnz file at ``path``:
    ``model_class`` a model class (``LlamaForCausalLM``) or an Auto class (``AutoModel``),
    ``kwargs`` those of ``from_pretrained`` (``dtype``, ``device_map``, config overrides...);
    ``base``: the base model of a file coded against one (as for :func:`nncodec.load`)."""
    from transformers import GenerationConfig

    with about(path), NnzFile(path, threads=threads, limits=limits, base=base) as f:
        data = _support_data(f)
        state = state_dict(f, _checkpoint_files(weight_files(f)), "cpu")
    with _written(data) as folder:
        concrete = _model_class_for(model_class, folder, kwargs.get("trust_remote_code"))
        if "generation_config" not in kwargs and (folder / "generation_config.json").is_file():
            kwargs["generation_config"] = GenerationConfig.from_pretrained(folder)
        model = concrete.from_pretrained(None, config=str(folder), state_dict=state, **kwargs)
    model.config.name_or_path = os.fspath(path)
    return model


def tokenizer(path: str | os.PathLike, *, threads: int | None = None, limits: Limits | None = None,
              **kwargs: Any):
    """``AutoTokenizer.from_pretrained`` on the tokenizer files of the compressed model folder at
    ``path`` (``kwargs`` are its own)."""
    from transformers import AutoTokenizer

    with support_files(path, threads=threads, limits=limits) as folder:
        return AutoTokenizer.from_pretrained(folder, **kwargs)
