"""The metadata record of a .nnz file (the ``nncodec/meta.json`` section), as read from a file.

A .nnz file may be hostile, and its metadata is valid JSON of any shape. Every field nncodec reads
is listed here with the types it may have; :func:`checked` refuses a record where one has another
type, so the code that uses the record never meets a list where it expects a string. Fields that
are absent are fine (older files, tensors-only files); unknown fields are kept and ignored.

The writer (nnzfile.write_document) writes the record from typed values: the codec's Settings
(``codec_params``, typed here by its field annotations: :func:`codec_fields`), the Plan
(``plan``), the source and the fidelity record (docs/FORMAT.md, section 9.1).
"""

from __future__ import annotations

from typing import Any

from .errors import CorruptFileError
from .plan import Plan

# 2: codec_params and plan hold JSON values (1 wrote Python reprs of lists and dicts as strings,
# which are read and ignored).
META_VERSION = 2
_NUMBER = (int, float)
# Field path -> allowed types (None: JSON null). "[]" is every element of a list, "{}" every value
# of an object.
FIELDS: dict[str, tuple[Any, ...]] = {
    "meta_version": (int,),
    "encoder": (str,),
    "codec": (str,),
    "codec_params": (dict,),
    "source": (dict,),
    "source.format": (str,),
    "source.name": (str, None),
    "source.attrs": (dict,),
    "fidelity": (dict,),
    "fidelity.target": _NUMBER,
    "fidelity.achieved": _NUMBER,
    "fidelity.inputs": (str,),
    "fidelity.codec": (str,),
    "fidelity.rounding": (str,),
    "fidelity.metric": (str,),
    "fidelity.evaluations": (int,),
    "fidelity.lossy_tensors": (int,),
    "fidelity.per_output": (dict,),
    "fidelity.per_output{}": _NUMBER,
    "fidelity.calibrated_tensors": (list,),
    "fidelity.calibrated_tensors[]": (str,),
    "plan": (dict,),
    **{f"plan.{path}": types for path, types in Plan.json_types().items()},
}


def codec_fields(record: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """The fields of ``codec_params`` in ``record``, typed by its codec's Settings (nncodec.codecs):
    none for version 1 records (reprs) and for codecs this nncodec does not know."""
    from . import codecs

    codec = record.get("codec")
    if record.get("meta_version", 1) < 2 or not isinstance(codec, str) or codec not in codecs.ids():
        return {}
    return {f"codec_params.{path}": types for path, types in codecs.get(codec).Settings.json_types().items()}


def _type_ok(value: Any, allowed: tuple[Any, ...]) -> bool:
    if value is None:
        return None in allowed
    if isinstance(value, bool):  # a JSON true is not a number here
        return bool in allowed
    return isinstance(value, tuple(t for t in allowed if t is not None))


def _values(record: dict[str, Any], path: str) -> list[Any]:
    """The values at ``path`` (several below a "[]" or "{}" step); absent parts give none."""
    found: list[Any] = [record]
    for step in path.split("."):
        key, each = (step[:-2], step[-2:]) if step.endswith(("[]", "{}")) else (step, "")
        found = [v[key] for v in found if isinstance(v, dict) and key in v]
        if each == "[]":
            found = [x for v in found if isinstance(v, list) for x in v]
        elif each == "{}":
            found = [x for v in found if isinstance(v, dict) for x in v.values()]
    return found


def _check(record: dict[str, Any], fields: dict[str, tuple[Any, ...]]) -> None:
    for path, allowed in fields.items():
        for value in _values(record, path):
            if not _type_ok(value, allowed):
                raise CorruptFileError(f"the metadata is damaged ({path.replace('{}', '').replace('[]', '')} "
                                       f"is a {type(value).__name__})")


def checked(record: Any) -> dict[str, Any]:
    """``record`` if every field in :data:`FIELDS` (and, by its codec, ``codec_params``) has an
    allowed type, else CorruptFileError."""
    if not isinstance(record, dict):
        raise CorruptFileError("the metadata is damaged (not a JSON object)")
    _check(record, FIELDS)
    _check(record, codec_fields(record))  # after FIELDS: it reads meta_version and codec
    return record
