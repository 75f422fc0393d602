"""Which model of the collection each model is coded against.

Candidates are the earlier models (in the collection's sorted order) that share at least
``MIN_SHARE`` of the model's tensor bytes, by equal content (any name: copies, the same weights in
another format) or by name, dtype and shape (fine-tunes, checkpoints); the ``MAX_CANDIDATES`` that
share most are estimated on samples of the largest tensors (tasks.estimate), and the one that
codes the model smallest is its base if it beats coding it alone by ``GAIN`` (the estimate
runs in the task that then codes the model). The first model holding a tensor is thus the base
of the later ones holding it; chains (a checkpoint against the one before) form where they pay,
and as bases are earlier models there is no cycle. Everything here is deterministic: the same
collection gives the same graph, whatever the executor or the number of workers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..errors import NnzError
from .tasks import Signature

MIN_SHARE = 0.25
MAX_CANDIDATES = 3
GAIN = 0.97
NAME_INDEX_DEPTH = 16  # models remembered per (name, dtype, shape): later ones are compared with these


def candidates(signatures: list[Signature]) -> dict[str, list[str]]:
    """Model path -> the earlier models it may be coded against, most shared bytes first."""
    by_content: dict[tuple, int] = {}
    by_name: dict[tuple, list[int]] = defaultdict(list)
    out: dict[str, list[str]] = {}
    for i, sig in enumerate(signatures):
        equal: dict[int, int] = defaultdict(int)    # bytes equal in content (cost nothing)
        shared: dict[int, int] = defaultdict(int)   # bytes equal in content or in name, dtype and shape
        for name, dtype, shape, digest, nbytes in sig.tensors:
            first = by_content.get((dtype, shape, digest))
            if first is not None:
                equal[first] += nbytes
                shared[first] += nbytes
            for j in by_name.get((name, dtype, shape), ()):
                if j != first:
                    shared[j] += nbytes
        enough = [j for j, b in shared.items() if b >= MIN_SHARE * max(sig.tensor_bytes, 1)]
        enough.sort(key=lambda j: (-equal[j], -shared[j], j))  # a copy first: it beats any delta
        out[sig.model.rel] = [signatures[j].model.rel for j in enough[:MAX_CANDIDATES]]
        for name, dtype, shape, digest, _ in sig.tensors:
            by_content.setdefault((dtype, shape, digest), i)
            keys = by_name[(name, dtype, shape)]
            if len(keys) < NAME_INDEX_DEPTH:
                keys.append(i)
    return out


def pick(alone: int, against: dict[str, int]) -> str | None:
    """The candidate that codes the model smallest, if it beats coding it alone by GAIN (ties:
    the first in the collection's order, as ``against`` lists them)."""
    best = min(against.items(), key=lambda item: item[1], default=None)
    return best[0] if best is not None and best[1] < GAIN * alone else None


def check_graph(bases: dict[str, str | None]) -> None:
    """Refuses bases that form a cycle (a base map can write one)."""
    done: set[str] = set()
    for rel in bases:
        path: list[str] = []
        while rel is not None and rel not in done:
            if rel in path:
                raise NnzError(f"the bases form a cycle: {' -> '.join([*path[path.index(rel):], rel])}")
            path.append(rel)
            rel = bases.get(rel)
        done.update(path)


def read_map(path: Path, models: set[str]) -> dict[str, str | None]:
    """A base map: a JSON object model path -> base model path (or null: coded alone), both paths
    under the collection's root."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NnzError(f"{path}: not a JSON base map ({exc})") from None
    if not isinstance(data, dict):
        raise NnzError(f"{path}: a base map is a JSON object: model path -> base model path or null")
    for model, base in data.items():
        for rel in (model, base):
            if rel is not None and rel not in models:
                raise NnzError(f"{path}: {rel!r} is not a model of the collection")
        if model == base:
            raise NnzError(f"{path}: {model!r} cannot be its own base")
    return data
