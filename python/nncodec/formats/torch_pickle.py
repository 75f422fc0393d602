"""A restricted unpickler for PyTorch files: tensors, storages, containers and plain values only.

Python's ``pickle`` runs whatever a file names (``os.system``, ``builtins.eval``, ...). This is a
separate interpreter of the pickle opcodes that never imports a module and never calls a function
named in the file: every global must be on a fixed allowlist, where it becomes an inert marker;
the few allowed calls (tensor rebuilds, ``OrderedDict``, ``torch.Size``...) are implemented here
as plain data constructors. Any other global, a persistent id other than a storage, an extension
code or an out-of-band buffer raises :class:`UnsafeInputError` naming it. Malformed bytes raise
:class:`CorruptFileError`. torch is never imported.

The result is a tree of plain Python values in which tensors are :class:`TensorView` (a view of
a :class:`StorageRef`: offset, shape, stride in elements) and TorchScript objects are
:class:`ScriptObject`; :func:`walk_tensors` names them by their path in that tree.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import mmap
import struct
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import CorruptFileError, LimitExceededError, NnzError, UnsafeInputError
from ..limits import DEFAULT_LIMITS, Limits

# torch dtype name -> bytes per element.
TORCH_DTYPE_SIZES: dict[str, int] = {
    "float32": 4, "float64": 8, "float16": 2, "bfloat16": 2,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
    "uint16": 2, "uint32": 4, "uint64": 8,
    "complex32": 4, "complex64": 8, "complex128": 16,
    "qint8": 1, "quint8": 1, "qint32": 4, "quint4x2": 1, "quint2x4": 1,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1,
    "bits8": 1, "bits16": 2, "bits1x8": 1, "bits2x4": 1, "bits4x2": 1,
}

# Legacy typed storage classes (``torch.FloatStorage``...) -> the dtype of their elements.
STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8", "QUInt8Storage": "quint8", "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}
UNTYPED_STORAGE = "UntypedStorage"  # elements are bytes; the tensors on it give the dtype

_QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
             "per_channel_affine_float_qparams")

MAX_KEY_TEXT = 256  # characters of a non-string dict key in a tensor's path
# Keys whose hash Python does not randomise: a file can make them all collide (quadratic inserts).
_FIXED_HASH_TYPES = (int, float, complex, tuple, frozenset)
# Estimated bytes per opcode (the object or slot it makes) and per new memo entry or dict item.
_OP_COST = 64
_MEMO_COST = 96
_ITEM_COST = 48


def refuse(name: str, why: str = "") -> UnsafeInputError:
    return UnsafeInputError(
        f"refusing to load {name}: {why or 'a PyTorch file may only hold tensors, storages, containers and plain values'}"
        " (nncodec never runs code from a model file)")


# ---------------------------------------------------------------------------------------------
# What a pickle rebuilds into


@dataclass(frozen=True)
class Global:
    """An allowed global, as an inert name (never the object it names)."""

    module: str
    name: str

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class StorageRef:
    """A storage the pickle refers to by key; its bytes live outside the pickle."""

    key: str
    storage_type: str  # "FloatStorage", ..., or "UntypedStorage"
    numel: int         # elements of the storage type (bytes for UntypedStorage)
    dtype: str | None  # torch dtype of the elements; None for an untyped storage no tensor has typed yet

    @property
    def nbytes(self) -> int:
        return self.numel if self.dtype is None or self.storage_type == UNTYPED_STORAGE \
            else self.numel * TORCH_DTYPE_SIZES[self.dtype]


@dataclass(eq=False)
class StorageSlice:
    """A legacy storage view: ``numel`` elements of ``root`` from element ``offset``."""

    root: StorageRef
    offset: int
    numel: int


@dataclass(eq=False)
class TensorView:
    """A tensor: ``shape`` elements of ``storage`` from element ``offset`` with ``stride``."""

    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str
    quantized: bool = False
    riders: list[Any] = field(default_factory=list)  # hooks, parameter state: walked for tensors


class PickledOrderedDict(OrderedDict):
    """An OrderedDict with the attribute state BUILD gave it (``state_dict()._metadata``)."""

    state: Any = None


@dataclass(eq=False)
class ScriptObject:
    """A TorchScript object (``__torch__.*`` class): its class name and pickled state."""

    class_name: str
    state: Any = None


@dataclass(eq=False)
class CompositeTensor:
    """A sparse or nested tensor: the dense tensors and values it is made of (``parts``)."""

    kind: str
    parts: tuple


@dataclass(frozen=True, eq=False)  # identity hash: never hashes its (file-made) arguments
class MetaTensor:
    """A tensor without data (device "meta"): dtype, size and stride only."""

    args: tuple


@dataclass(frozen=True)
class Device:
    spec: tuple


@dataclass(frozen=True)
class Layout:
    name: str


# ---------------------------------------------------------------------------------------------
# The allowed calls


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(type(v) is int for v in value):
        raise CorruptFileError(f"tensor {what} must be a tuple of ints")
    return tuple(value)


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: str | None = None,
            quantized: bool = False) -> TensorView:
    root_offset = 0
    if isinstance(storage, StorageSlice):
        storage, root_offset = storage.root, storage.offset
    if not isinstance(storage, StorageRef):
        raise CorruptFileError("a tensor is rebuilt from something that is not a storage")
    if type(offset) is not int:
        raise CorruptFileError("tensor storage offset must be an int")
    shape, strides = _ints(size, "size"), _ints(stride, "stride")
    if len(shape) != len(strides):
        raise CorruptFileError("tensor size and stride differ in length")
    if dtype is None:
        dtype = storage.dtype
    elif storage.storage_type == UNTYPED_STORAGE and storage.dtype is None:
        storage.dtype = dtype
    if dtype is None:
        raise CorruptFileError(f"storage {storage.key!r} has no dtype")
    return TensorView(storage, root_offset + offset, shape, strides, dtype, quantized)


def _dtype_arg(value: Any) -> str:
    if not isinstance(value, Global) or value.module != "torch" or value.name not in TORCH_DTYPE_SIZES:
        raise CorruptFileError("tensor dtype argument is not a torch dtype")
    return value.name


def _rebuild_tensor(args: tuple) -> TensorView:
    # _rebuild_tensor(storage, offset, size, stride)
    # _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
    if len(args) < 4:
        raise CorruptFileError("_rebuild_tensor: too few arguments")
    view = _tensor(*args[:4])
    view.riders.extend(args[4:])
    return view


def _rebuild_tensor_v3(args: tuple) -> TensorView:
    # (storage, offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
    if len(args) < 7:
        raise CorruptFileError("_rebuild_tensor_v3: too few arguments")
    view = _tensor(*args[:4], dtype=_dtype_arg(args[6]))
    view.riders.extend(args[4:6] + args[7:])
    return view


def _rebuild_qtensor(args: tuple) -> TensorView:
    # (storage, offset, size, stride, quantizer_params, requires_grad, backward_hooks)
    if len(args) < 5:
        raise CorruptFileError("_rebuild_qtensor: too few arguments")
    view = _tensor(*args[:4], quantized=True)
    view.riders.extend(args[4:])
    return view


def _rebuild_parameter(args: tuple) -> TensorView:
    # (data, requires_grad, backward_hooks[, state])
    if not args or not isinstance(args[0], TensorView):
        raise CorruptFileError("_rebuild_parameter: data is not a tensor")
    args[0].riders.extend(args[1:])
    return args[0]


def _rebuild_from_type_v2(args: tuple) -> Any:
    # (func, new_type, args, state): a tensor subclass; only Tensor and Parameter are allowed types
    if len(args) != 4 or not isinstance(args[0], Global) or not isinstance(args[2], tuple):
        raise CorruptFileError("_rebuild_from_type_v2: malformed arguments")
    new_type = args[1]
    if not isinstance(new_type, Global) or new_type.full not in ("torch.Tensor", "torch.nn.parameter.Parameter"):
        raise refuse(new_type.full if isinstance(new_type, Global) else repr(new_type),
                      "only torch.Tensor and torch.nn.Parameter tensors are rebuilt")
    result = _call(args[0], args[2], _CALLS)
    if isinstance(result, TensorView):
        result.riders.append(args[3])
    return result


def _ordered_dict(args: tuple) -> PickledOrderedDict:
    if args == ():
        return PickledOrderedDict()
    if len(args) == 1 and isinstance(args[0], (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in args[0]):
        return PickledOrderedDict((k, v) for k, v in args[0])
    raise CorruptFileError("collections.OrderedDict: unexpected arguments")


def _counter(args: tuple) -> Counter:
    if args == ():
        return Counter()
    if len(args) == 1 and isinstance(args[0], dict):
        return Counter(dict(args[0]))
    raise CorruptFileError("collections.Counter: unexpected arguments")


def _one_arg(types: tuple[type, ...], build: Callable[[Any], Any], name: str) -> Callable[[tuple], Any]:
    def call(args: tuple) -> Any:
        if len(args) != 1 or not isinstance(args[0], types):
            raise CorruptFileError(f"{name}: unexpected arguments")
        return build(args[0])
    return call


def _codecs_encode(args: tuple) -> bytes:
    # protocol 2 pickles bytes as _codecs.encode(text, "latin1")
    if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
        raise CorruptFileError("_codecs.encode: unexpected arguments")
    return args[0].encode("latin-1")


def _bytearray(args: tuple) -> bytearray:
    if args == ():
        return bytearray()
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytearray(args[0])
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        return bytearray(args[0].encode("latin-1"))
    raise CorruptFileError("bytearray: unexpected arguments")


def _complex(args: tuple) -> complex:
    if not 1 <= len(args) <= 2 or not all(type(a) in (int, float) for a in args):
        raise CorruptFileError("complex: unexpected arguments")
    return complex(*args)


def _device(args: tuple) -> Device:
    if not 1 <= len(args) <= 2 or not isinstance(args[0], str) or (len(args) == 2 and type(args[1]) is not int):
        raise CorruptFileError("torch.device: unexpected arguments")
    return Device(tuple(args))


def _jit_list(args: tuple) -> list:
    if len(args) != 1 or not isinstance(args[0], list):
        raise CorruptFileError("torch.jit._pickle list builder: unexpected arguments")
    return args[0]


def _restore_type_tag(args: tuple) -> Any:
    if len(args) != 2 or not isinstance(args[1], str):
        raise CorruptFileError("torch.jit._pickle.restore_type_tag: unexpected arguments")
    return args[0]


def _tensor_to_tensor(args: tuple) -> TensorView:
    # torch.nn.Parameter(data[, requires_grad]) through NEWOBJ
    if not 1 <= len(args) <= 2 or not isinstance(args[0], TensorView):
        raise CorruptFileError("torch.nn.Parameter: unexpected arguments")
    return args[0]


def _composite(kind: str) -> Callable[[tuple], CompositeTensor]:
    def call(args: tuple) -> CompositeTensor:
        return CompositeTensor(kind, args)
    return call


def _meta_tensor(args: tuple) -> MetaTensor:
    # (dtype, size, stride, requires_grad)
    if len(args) != 4:
        raise CorruptFileError("_rebuild_meta_tensor_no_storage: unexpected arguments")
    return MetaTensor((_dtype_arg(args[0]), _ints(args[1], "size"), _ints(args[2], "stride"), args[3]))


_CALLS: dict[str, Callable[[tuple], Any]] = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_qtensor": _rebuild_qtensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch._utils._rebuild_sparse_tensor": _composite("sparse"),
    "torch._utils._rebuild_nested_tensor": _composite("nested"),
    "torch._utils._rebuild_meta_tensor_no_storage": _meta_tensor,
    "torch.serialization._get_layout": _one_arg((str,), Layout, "torch.serialization._get_layout"),
    "collections.OrderedDict": _ordered_dict,
    "collections.Counter": _counter,
    "torch.Size": _one_arg((tuple, list), lambda v: tuple(_ints(v, "size")), "torch.Size"),
    "torch.device": _device,
    "_codecs.encode": _codecs_encode,
    "builtins.set": _one_arg((list, tuple), set, "set"),
    "builtins.frozenset": _one_arg((list, tuple), frozenset, "frozenset"),
    "builtins.bytearray": _bytearray,
    "builtins.bytes": lambda args: bytes(_bytearray(args)),  # protocol 2 pickles b"" as bytes()
    "builtins.complex": _complex,
}
_NEWOBJ: dict[str, Callable[[tuple], Any]] = {
    "torch.nn.parameter.Parameter": _tensor_to_tensor,
    "collections.OrderedDict": _ordered_dict,
}
# TorchScript archives also use these (torch/jit/_pickle.py: identity functions on plain values).
_TORCHSCRIPT_CALLS: dict[str, Callable[[tuple], Any]] = {
    **{f"torch.jit._pickle.build_{kind}list": _jit_list
       for kind in ("int", "double", "bool", "tensor", "complex", "generic")},
    "torch.jit._pickle.restore_type_tag": _restore_type_tag,
}
# Allowed names that are values, not calls: dtypes, storage classes, qschemes, tensor classes.
_VALUES = frozenset(
    [f"torch.{d}" for d in TORCH_DTYPE_SIZES]
    + [f"torch.{s}" for s in STORAGE_DTYPES] + [f"torch.cuda.{s}" for s in STORAGE_DTYPES]
    + ["torch.storage.UntypedStorage", "torch.UntypedStorage", "torch.Tensor", "torch.nn.parameter.Parameter"]
    + [f"torch.{q}" for q in _QSCHEMES])


# The calls that hash what a file gives them (dict keys, set items), by the arguments they hash.
_HASHED_ARGS: dict[str, Callable[[tuple], Any]] = {
    "builtins.set": lambda args: args[0],
    "builtins.frozenset": lambda args: args[0],
    "collections.OrderedDict": lambda args: [pair[0] for pair in args[0]],
}


def _call(func: Any, args: Any, table: dict[str, Callable[[tuple], Any]]) -> Any:
    if not isinstance(func, Global):
        raise CorruptFileError(f"pickle calls a {type(func).__name__}, which is not callable")
    if not isinstance(args, tuple):
        raise CorruptFileError(f"{func.full}: arguments are not a tuple")
    handler = table.get(func.full)
    if handler is None:
        raise refuse(func.full, "it is allowed as a value, not as a call")
    return handler(args)


# ---------------------------------------------------------------------------------------------
# The interpreter


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise CorruptFileError(f"pickle: {what} is not valid UTF-8") from None


class RestrictedUnpickler:
    """Interprets one pickle stream of ``data`` (bytes or mmap) with the allowlist above.

    persistent_load: turns a persistent id (a storage reference) into a value.
    torchscript: also allow TorchScript's ``__torch__.*`` classes (as inert :class:`ScriptObject`)
    and its list builders.
    what: names the stream in error messages.
    """

    def __init__(self, data: bytes | mmap.mmap, *, persistent_load: Callable[[Any], Any],
                 torchscript: bool = False, what: str = "pickle", limits: Limits = DEFAULT_LIMITS):
        self.data = data
        self.persistent_load = persistent_load
        self.torchscript = torchscript
        self.what = what
        self.limits = limits
        self._reset(0)

    def _reset(self, start: int) -> None:
        self.pos = start
        self.protocol = 0
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.cost = 0  # estimated bytes of what the stream built so far
        # Each tuple and frozenset built (they are hashed as keys, recursively in C): id -> (the
        # object, kept alive so the id stays its own; its nesting depth; the values hashing it visits).
        self._tuples: dict[int, tuple[Any, int, int]] = {}
        self._hashes: Counter = Counter()  # (container id, hash) of fixed-hash keys and items
        self.work_left = self.limits.max_pickle_ops  # opcodes run, and values hashed as keys

    def load(self, start: int = 0) -> tuple[Any, int]:
        """The object of the pickle stream that starts at ``start``, and where the stream ends."""
        self._reset(start)
        data, dispatch, memory = self.data, _DISPATCH, self.limits.max_pickle_memory
        try:
            while True:
                if self.pos >= len(data):
                    raise CorruptFileError("truncated (no STOP)")
                code = data[self.pos]
                self.pos += 1
                handler = dispatch[code]
                if handler is None:
                    raise CorruptFileError(f"unknown pickle opcode 0x{code:02x} at byte {self.pos - 1}")
                if handler(self):
                    return self._pop(), self.pos
                self.work_left -= 1
                self.cost += _OP_COST
                if self.work_left <= 0 or self.cost > memory:
                    self._over_budget()
        except UnsafeInputError as exc:
            raise UnsafeInputError(f"{self.what}: {exc}") from None
        except NnzError as exc:
            raise type(exc)(f"{self.what}: {exc}") from None
        except RecursionError:
            raise CorruptFileError(f"{self.what}: nested too deeply") from None
        except MemoryError:
            raise LimitExceededError(f"{self.what}: out of memory near byte {self.pos}") from None
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, struct.error) as exc:
            raise CorruptFileError(f"{self.what}: malformed pickle near byte {self.pos} ({type(exc).__name__}: "
                                   f"{str(exc)[:200]})") from None

    def _over_budget(self) -> None:
        if self.work_left <= 0:
            raise LimitExceededError(f"more than {self.limits.max_pickle_ops:,} pickle opcodes and hashed key values "
                                     "(limit max_pickle_ops)")
        raise LimitExceededError(f"the pickle builds more than {self.limits.max_pickle_memory:,} bytes of "
                                 "objects (limit max_pickle_memory)")

    # -- budgets of what is built
    def _shape_of(self, value: Any) -> tuple[int, int]:
        """(nesting depth, values visited by hash()) of a tuple or frozenset."""
        entry = self._tuples.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1], entry[2]
        return 1, len(value)  # built by an allowed call from plain values (torch.Size: ints)

    def _nested(self, value: Any, items: Any) -> Any:
        """Records the nesting and hashing cost of a new tuple or frozenset ``value`` of ``items``
        (shared parts count once per use: hash() visits them again each time)."""
        depth, size = 1, len(items)
        for v in items:
            if isinstance(v, (tuple, frozenset)):
                d, s = self._shape_of(v)
                depth, size = max(depth, d + 1), size + s
        if depth > self.limits.max_depth:
            raise LimitExceededError(f"tuples nested too deeply (over {self.limits.max_depth} levels; limit max_depth)")
        self._tuples[id(value)] = (value, depth, min(size, 1 << 62))
        return value

    def _count_hashes(self, container: Any, keys: Any) -> None:
        """Budgets keys whose hash a file can choose: hashing a tuple visits all it holds (a
        huge shared tuple in every key), and many equal hashes in one dict or set would make
        every insertion compare with all of them."""
        for key in keys:
            if isinstance(key, (tuple, frozenset)):
                self.work_left -= self._shape_of(key)[1]
                if self.work_left <= 0:
                    self._over_budget()
            if isinstance(key, _FIXED_HASH_TYPES) and not isinstance(key, bool):
                slot = (id(container), hash(key))
                self._hashes[slot] += 1
                self.cost += _ITEM_COST
                if self._hashes[slot] > self.limits.max_equal_hashes:
                    raise LimitExceededError(f"more than {self.limits.max_equal_hashes} keys of one dict or set "
                                             "share a hash value (limit max_equal_hashes)")

    # -- bounded reads
    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise CorruptFileError("truncated (a record runs past the end)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        self.cost += n
        return out

    def _line(self) -> bytes:
        end = self.data.find(b"\n", self.pos, min(len(self.data), self.pos + (1 << 16)))
        if end < 0:
            raise CorruptFileError("truncated (a text record has no end of line)")
        out = self.data[self.pos:end]
        self.pos = end + 1
        return out

    def _u(self, fmt: str) -> int:
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    # -- the stacks
    def _pop(self) -> Any:
        if not self.stack:
            raise CorruptFileError("stack underflow")
        return self.stack.pop()

    def _top(self) -> Any:
        if not self.stack:
            raise CorruptFileError("stack underflow")
        return self.stack[-1]

    def _pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise CorruptFileError("MARK expected")
        items, self.stack = self.stack, self.metastack.pop()
        return items

    def _push(self, value: Any) -> None:
        self.stack.append(value)

    # -- globals and calls: the allowlist
    def _global(self, module: str, name: str) -> Global:
        written = f"{module}.{name}"
        if self.protocol < 3:  # Python 2 names, mapped as Python's own unpickler does (fix_imports)
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f"{module}.{name}"
        if full in _CALLS or full in _VALUES or full in _NEWOBJ:
            return Global(module, name)
        if self.torchscript and (full in _TORCHSCRIPT_CALLS or module.split(".")[0] == "__torch__"):
            return Global(module, name)
        raise refuse(full if full == written else f"{full} (written {written})")

    def _reduce(self, func: Any, args: Any) -> Any:
        if isinstance(func, Global) and self.torchscript and func.full in _TORCHSCRIPT_CALLS:
            return _call(func, args, _TORCHSCRIPT_CALLS)
        if isinstance(func, Global) and func.module.split(".")[0] == "__torch__":
            raise refuse(func.full, "TorchScript classes are only instantiated, never called")
        return self._budgeted_call(func, args, _CALLS)

    def _budgeted_call(self, func: Any, args: Any, table: dict[str, Callable[[tuple], Any]]) -> Any:
        """An allowed call; the keys of the dict or set it builds are budgeted first."""
        keys = _HASHED_ARGS.get(func.full) if isinstance(func, Global) and isinstance(args, tuple) and args else None
        if keys is not None:
            self._count_hashes(args, keys(args))
        result = _call(func, args, table)
        if isinstance(result, frozenset):
            self._nested(result, result)
        return result

    def _new_object(self, cls: Any, args: Any) -> Any:
        if isinstance(cls, Global) and cls.module.split(".")[0] == "__torch__":
            if args != ():
                raise CorruptFileError(f"TorchScript object {cls.full} built with arguments")
            return ScriptObject(cls.full)
        if isinstance(cls, Global) and cls.full in _NEWOBJ:
            return self._budgeted_call(cls, args, _NEWOBJ)
        raise refuse(cls.full if isinstance(cls, Global) else type(cls).__name__, "it cannot be instantiated")

    # -- opcodes; a handler returns True at STOP
    def op_proto(self) -> None:
        self.protocol = self._take(1)[0]
        if self.protocol > 5:
            raise CorruptFileError("unsupported pickle protocol")

    def op_frame(self) -> None:
        self._take(8)

    def op_stop(self) -> bool:
        return True

    def op_mark(self) -> None:
        if len(self.metastack) >= self.limits.max_depth:
            raise LimitExceededError(f"marks nested too deeply (over {self.limits.max_depth} levels; limit max_depth)")
        self.metastack.append(self.stack)
        self.stack = []

    def op_pop(self) -> None:
        self._pop()

    def op_pop_mark(self) -> None:
        self._pop_mark()

    def op_dup(self) -> None:
        self._push(self._top())

    def _memo_put(self, index: int) -> None:
        if index not in self.memo:
            self.cost += _MEMO_COST
        self.memo[index] = self._top()

    def op_put(self) -> None:
        self._memo_put(int(self._line()))

    def op_binput(self) -> None:
        self._memo_put(self._take(1)[0])

    def op_long_binput(self) -> None:
        self._memo_put(self._u("<I"))

    def op_memoize(self) -> None:
        self._memo_put(len(self.memo))

    def _get(self, index: int) -> None:
        if index not in self.memo:
            raise CorruptFileError(f"memo key {index} is missing")
        self._push(self.memo[index])

    def op_get(self) -> None:
        self._get(int(self._line()))

    def op_binget(self) -> None:
        self._get(self._take(1)[0])

    def op_long_binget(self) -> None:
        self._get(self._u("<I"))

    def op_none(self) -> None:
        self._push(None)

    def op_newtrue(self) -> None:
        self._push(True)

    def op_newfalse(self) -> None:
        self._push(False)

    def op_int(self) -> None:
        text = self._line()
        self._push(text == b"01" if text in (b"00", b"01") else int(text))  # protocol 0 writes bools as 00/01

    def op_binint(self) -> None:
        self._push(self._u("<i"))

    def op_binint1(self) -> None:
        self._push(self._take(1)[0])

    def op_binint2(self) -> None:
        self._push(self._u("<H"))

    def op_long(self) -> None:
        self._push(int(self._line().rstrip(b"L")))

    def op_long1(self) -> None:
        self._push(int.from_bytes(self._take(self._take(1)[0]), "little", signed=True))

    def op_long4(self) -> None:
        self._push(int.from_bytes(self._take(self._u("<i")), "little", signed=True))

    def op_float(self) -> None:
        self._push(float(self._line()))

    def op_binfloat(self) -> None:
        self._push(self._u(">d"))

    def op_unicode(self) -> None:
        self._push(self._line().decode("raw_unicode_escape"))

    def op_short_binunicode(self) -> None:
        self._push(_utf8(self._take(self._u("<B")), "a string"))

    def op_binunicode(self) -> None:
        self._push(_utf8(self._take(self._u("<I")), "a string"))

    def op_binunicode8(self) -> None:
        self._push(_utf8(self._take(self._u("<Q")), "a string"))

    def op_string(self) -> None:  # protocol 0 Python 2 str: a quoted, escaped literal
        text = self._line().rstrip(b"\r")
        if len(text) < 2 or text[:1] not in (b"'", b'"') or text[-1:] != text[:1]:
            raise CorruptFileError("malformed STRING")
        self._push(codecs.escape_decode(text[1:-1])[0].decode("latin-1"))

    def op_short_binstring(self) -> None:  # Python 2 str
        self._push(self._take(self._take(1)[0]).decode("latin-1"))

    def op_binstring(self) -> None:
        self._push(self._take(self._u("<i")).decode("latin-1"))

    def op_short_binbytes(self) -> None:
        self._push(self._take(self._u("<B")))

    def op_binbytes(self) -> None:
        self._push(self._take(self._u("<I")))

    def op_binbytes8(self) -> None:
        self._push(self._take(self._u("<Q")))

    def op_bytearray8(self) -> None:
        self._push(bytearray(self._take(self._u("<Q"))))

    def op_empty_tuple(self) -> None:
        self._push(())

    def op_tuple(self) -> None:
        items = self._pop_mark()
        self._push(self._nested(tuple(items), items))

    def _tuple_n(self, n: int) -> None:
        if len(self.stack) < n:
            raise CorruptFileError("stack underflow")
        items = self.stack[-n:]
        self.stack[-n:] = [self._nested(tuple(items), items)]

    def op_tuple1(self) -> None:
        self._tuple_n(1)

    def op_tuple2(self) -> None:
        self._tuple_n(2)

    def op_tuple3(self) -> None:
        self._tuple_n(3)

    def op_empty_list(self) -> None:
        self._push([])

    def op_list(self) -> None:
        self._push(self._pop_mark())

    def _extend(self, items: list[Any]) -> None:
        target = self._top()
        if not isinstance(target, list):
            raise CorruptFileError(f"APPEND to a {type(target).__name__}")
        target.extend(items)

    def op_append(self) -> None:
        self._extend([self._pop()])

    def op_appends(self) -> None:
        self._extend(self._pop_mark())

    def op_empty_dict(self) -> None:
        self._push({})

    def _set_items(self, target: Any, items: list[Any]) -> None:
        if not isinstance(target, dict) or len(items) % 2:
            raise CorruptFileError(f"SETITEMS on a {type(target).__name__}")
        self._count_hashes(target, items[::2])
        self.cost += _ITEM_COST * (len(items) // 2)
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def op_dict(self) -> None:
        d: dict[Any, Any] = {}
        self._set_items(d, self._pop_mark())
        self._push(d)

    def op_setitem(self) -> None:
        value = self._pop()
        key = self._pop()
        self._set_items(self._top(), [key, value])

    def op_setitems(self) -> None:
        items = self._pop_mark()
        self._set_items(self._top(), items)

    def op_empty_set(self) -> None:
        self._push(set())

    def op_additems(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if not isinstance(target, set):
            raise CorruptFileError(f"ADDITEMS to a {type(target).__name__}")
        self._count_hashes(target, items)
        target.update(items)

    def op_frozenset(self) -> None:
        items = self._pop_mark()
        self._count_hashes(items, items)
        self._push(self._nested(frozenset(items), items))

    def op_global(self) -> None:
        module = _utf8(self._line(), "a module name")
        self._push(self._global(module, _utf8(self._line(), "a global name")))

    def op_stack_global(self) -> None:
        name = self._pop()
        module = self._pop()
        if not isinstance(module, str) or not isinstance(name, str):
            raise CorruptFileError("STACK_GLOBAL needs two strings")
        self._push(self._global(module, name))

    def op_inst(self) -> None:
        module = _utf8(self._line(), "a module name")
        cls = self._global(module, _utf8(self._line(), "a global name"))
        self._push(self._reduce(cls, tuple(self._pop_mark())))

    def op_obj(self) -> None:
        items = self._pop_mark()
        if not items:
            raise CorruptFileError("OBJ without a class")
        self._push(self._reduce(items[0], tuple(items[1:])))

    def op_reduce(self) -> None:
        args = self._pop()
        self._push(self._reduce(self._pop(), args))

    def op_newobj(self) -> None:
        args = self._pop()
        self._push(self._new_object(self._pop(), args))

    def op_newobj_ex(self) -> None:
        kwargs = self._pop()
        args = self._pop()
        if kwargs:
            raise CorruptFileError("NEWOBJ_EX with keyword arguments")
        self._push(self._new_object(self._pop(), args))

    def op_build(self) -> None:
        state = self._pop()
        inst = self._top()
        if isinstance(inst, PickledOrderedDict):
            if not isinstance(state, dict):
                raise CorruptFileError("OrderedDict state is not a dict")
            inst.state = state
        elif isinstance(inst, ScriptObject):
            inst.state = state
        elif isinstance(inst, TensorView):
            inst.riders.append(state)
        else:
            raise CorruptFileError(f"cannot set the state of a {type(inst).__name__}")

    def op_persid(self) -> None:
        self._push(self.persistent_load(_utf8(self._line(), "a persistent id")))

    def op_binpersid(self) -> None:
        self._push(self.persistent_load(self._pop()))

    def op_ext1(self) -> None:
        raise refuse(f"copyreg extension code {self._take(1)[0]}", "extension codes name arbitrary globals")

    def op_ext2(self) -> None:
        raise refuse(f"copyreg extension code {self._u('<H')}", "extension codes name arbitrary globals")

    def op_ext4(self) -> None:
        raise refuse(f"copyreg extension code {self._u('<i')}", "extension codes name arbitrary globals")

    def op_next_buffer(self) -> None:
        raise refuse("an out-of-band buffer", "pickle buffers come from outside the file")

    op_readonly_buffer = op_next_buffer


def _dispatch() -> list[Callable[[RestrictedUnpickler], bool | None] | None]:
    """The handler of each opcode byte (None: not a pickle opcode, or one refused outright)."""
    import pickletools  # opcode names and codes only; nothing here loads a pickle

    table: list[Callable[[RestrictedUnpickler], bool | None] | None] = [None] * 256
    for op in pickletools.opcodes:
        handler = getattr(RestrictedUnpickler, f"op_{op.name.lower()}", None)
        if handler is not None:
            table[op.code.encode("latin-1")[0]] = handler
    return table


_DISPATCH = _dispatch()


# ---------------------------------------------------------------------------------------------
# Naming what the tree holds


def _plain_repr(value: Any, room: int) -> str | None:
    """repr(value) for a plain scalar whose repr fits in ``room`` characters, else None."""
    if isinstance(value, (str, bytes)):
        return repr(value) if len(value) <= room else None
    if isinstance(value, int) and not isinstance(value, bool):
        return repr(value) if value.bit_length() <= 3 * room else None  # about 0.3 digits per bit
    return repr(value) if type(value) in (bool, float, complex) or value is None else None


def _tuple_repr(key: tuple, limit: int) -> str | None:
    """repr(key) if it is a tuple of plain values and tuples no longer than ``limit``, else None;
    never builds more than about ``limit`` characters, however large (or shared) its parts."""
    size = 0
    todo: list[Any] = [key]
    while todo:
        item = todo.pop()
        if isinstance(item, tuple):
            size += 2 + 2 * len(item)
            todo.extend(item)
        else:
            text = _plain_repr(item, limit - size)
            if text is None:
                return None
            size += len(text)
        if size > limit:
            return None
    return repr(key)


def _key_text(key: Any) -> str:
    """A dict key as it appears in a tensor's path: the key if a string, else its repr when
    that is short, else its type (a file may key many entries by one huge tuple)."""
    if isinstance(key, str):
        return key
    if type(key) in (int, bool, float) or key is None:
        return _plain_repr(key, MAX_KEY_TEXT) or f"<int of {key.bit_length()} bits>"
    if isinstance(key, tuple):
        return _tuple_repr(key, MAX_KEY_TEXT) or f"<tuple of {len(key)}>"
    if isinstance(key, bytes):
        return _plain_repr(key, MAX_KEY_TEXT) or f"<bytes of {len(key)}>"
    return type(key).__name__


def walk_tensors(root: Any, prefix: str = "", max_depth: int = DEFAULT_LIMITS.max_depth
                 ) -> Iterator[tuple[str, TensorView | StorageRef | StorageSlice]]:
    """Every tensor and bare storage in ``root``, in pickle order, with its path.

    Paths join dict keys and list positions with "/" and TorchScript attributes with ".", so a
    state dict's tensors keep their keys ("layer1.0.conv1.weight"). A tensor referenced twice is
    reported twice (under both paths); containers are entered once, so cycles end.
    """
    visited: set[int] = set()
    todo: list[tuple[str, Any, int]] = [(prefix, root, 0)]

    def join(path: str, part: str, sep: str = "/") -> str:
        return f"{path}{sep}{part}" if path else part

    while todo:
        path, obj, depth = todo.pop()
        if depth > max_depth:
            raise LimitExceededError(f"pickle: containers nested too deeply (over {max_depth} levels; limit max_depth)")
        if isinstance(obj, (TensorView, StorageRef, StorageSlice)):
            yield path, obj
            if not isinstance(obj, TensorView) or id(obj) in visited:
                continue
        if isinstance(obj, (dict, list, tuple, TensorView, CompositeTensor, ScriptObject)):
            if id(obj) in visited:
                continue
            visited.add(id(obj))
        children: list[tuple[str, Any]]
        if isinstance(obj, dict):
            children = [(join(path, _key_text(k)), v) for k, v in obj.items()]
            if isinstance(obj, PickledOrderedDict) and obj.state:
                children.append((join(path, "@state"), obj.state))
        elif isinstance(obj, (list, tuple)):
            children = [(join(path, str(i)), v) for i, v in enumerate(obj)]
        elif isinstance(obj, ScriptObject):
            if isinstance(obj.state, dict):
                children = [(join(path, _key_text(k), "."), v) for k, v in obj.state.items()]
            else:
                children = [(join(path, "@state"), obj.state)]
        elif isinstance(obj, TensorView):
            children = [(join(path, f"@{i}"), v) for i, v in enumerate(obj.riders)]
        elif isinstance(obj, CompositeTensor):
            children = [(join(path, f"@{i}"), v) for i, v in enumerate(obj.parts)]
        else:
            continue  # a plain value, or a set (unordered: not used for names)
        todo.extend((p, v, depth + 1) for p, v in reversed(children))
