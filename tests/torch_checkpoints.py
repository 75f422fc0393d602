"""PyTorch checkpoints for the tests, made with real torch: hypothesis strategies (tensors of every
dtype, views sharing storages, nested checkpoints) and the checks that two loads are the same."""

from __future__ import annotations

import collections

import numpy as np
import torch
from hypothesis import strategies as st

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.int16, torch.int32,
          torch.int64, torch.uint8, torch.bool]
SPECIAL_FLOATS = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40, -1e-45, 3.0e38, 65504.0, 1.0]


@st.composite
def base_tensors(draw) -> torch.Tensor:
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    fill = draw(st.sampled_from(["bits", "constant", "special"]))
    if dtype == torch.bool:
        values = torch.tensor(draw(st.lists(st.booleans(), min_size=count, max_size=count)), dtype=torch.bool)
    elif fill == "bits":  # every bit pattern: NaN payloads, denormals, infinities
        itemsize = torch.empty((), dtype=dtype).element_size()
        raw = draw(st.binary(min_size=count * itemsize, max_size=count * itemsize))
        values = torch.frombuffer(bytearray(raw), dtype=dtype) if count else torch.empty(0, dtype=dtype)
    elif fill == "constant":
        values = torch.full((count,), draw(st.integers(0, 100)), dtype=dtype)
    else:
        pool = SPECIAL_FLOATS if dtype.is_floating_point else [0, 1, -1, 127, -128]
        if not dtype.is_floating_point and dtype in (torch.uint8,):
            pool = [0, 1, 127, 255]
        values = torch.tensor(draw(st.lists(st.sampled_from(pool), min_size=count, max_size=count)) or [0],
                              dtype=torch.float64 if dtype.is_floating_point else torch.int64).to(dtype)[:count]
    return values.reshape(shape).clone()


@st.composite
def views(draw, base: torch.Tensor) -> torch.Tensor:
    """The tensor itself, or a view sharing its storage: transposed, sliced (offset), reshaped, a scalar."""
    kind = draw(st.sampled_from(["same", "transpose", "slice", "flat-slice", "element"]))
    if kind == "transpose" and base.dim() >= 2:
        return base.transpose(0, base.dim() - 1)
    if kind == "slice" and base.dim() >= 1 and base.shape[0] > 1:
        return base[1:]
    if kind == "flat-slice" and base.numel() > 2:
        return base.reshape(-1)[1:-1:2]
    if kind == "element" and base.numel() > 0:
        return base.reshape(-1)[base.numel() - 1]
    return base


plain_values = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
                | st.text(max_size=10) | st.binary(min_size=1, max_size=8))  # b"" is not weights_only-loadable


@st.composite
def checkpoints(draw) -> dict:
    """A state dict or a nested checkpoint: tensors (some sharing storages), containers, plain values."""
    bases = draw(st.lists(base_tensors(), min_size=1, max_size=5))
    tensor_leaves = st.sampled_from(bases).flatmap(views)
    leaves = tensor_leaves | plain_values
    tree = st.recursive(leaves, lambda children: st.lists(children, max_size=3) | st.tuples(children, children)
                        | st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=3), max_leaves=12)
    state = collections.OrderedDict((f"layer{i}.weight", t) for i, t in enumerate(bases))
    if draw(st.booleans()):
        state._metadata = collections.OrderedDict({"": {"version": 1}})
    if draw(st.booleans()):
        return state
    return {"model": state, "extra": draw(tree), "epoch": draw(st.integers(0, 1000)), "shared": draw(tensor_leaves)}


def storage_bytes(t: torch.Tensor) -> bytes:
    return bytes(torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage()).numpy())


def assert_same(a, b, path: str = "") -> None:
    """Equal as torch.load gives them: types, keys in order, values; tensors bit for bit with views."""
    assert type(a) is type(b), path
    if isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape, a.stride(), a.storage_offset()) == (b.dtype, b.shape, b.stride(), b.storage_offset()), path
        assert storage_bytes(a) == storage_bytes(b), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        assert getattr(a, "_metadata", None) == getattr(b, "_metadata", None), path
        for k in a:
            assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}/{i}")
    elif isinstance(a, float) and a != a:
        assert b != b, path
    else:
        assert a == b, path


def flat_tensors(obj) -> list[tuple[str, torch.Tensor]]:
    """Every tensor in ``obj`` with its path, in order: dict keys and list positions joined with
    "/", as nncodec names them (a container met twice is entered once)."""
    found: list[tuple[str, torch.Tensor]] = []
    entered: set[int] = set()

    def visit(x, path: str) -> None:
        if isinstance(x, torch.Tensor):
            found.append((path, x))
            return
        if not isinstance(x, (dict, list, tuple)) or id(x) in entered:
            return
        entered.add(id(x))
        items = x.items() if isinstance(x, dict) else enumerate(x)
        for key, value in items:
            visit(value, f"{path}/{key}" if path else str(key))

    visit(obj, "")
    return found


def storage_groups(obj) -> list[list[int]]:
    """Which tensors (by position in traversal order) share a storage."""
    groups: dict[int, list[int]] = collections.defaultdict(list)
    for i, (_, t) in enumerate(flat_tensors(obj)):
        groups[t.untyped_storage().data_ptr() if t.untyped_storage().nbytes() else -1 - i].append(i)
    return sorted(groups.values())
