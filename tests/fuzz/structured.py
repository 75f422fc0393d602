"""Structure-aware inputs and properties for fuzzing the pickle interpreter and the JSON readers,
importable without atheris (the pytest replay of tests/fuzz/regressions/{pickle,json}/ uses the
properties; the atheris targets of fuzz_structured.py use the mutators too).

Byte-level mutation rarely builds what hostile files are made of: nesting tens of thousands deep,
floods of DUP or MEMOIZE, keys sharing one hash, huge shared tuples used as keys, JSON of deep or
countless containers. The mutators here work on opcodes and on JSON text and make exactly those,
so the budgets (nncodec.limits) are what stops them. The properties: a reader returns or raises
an NnzError subclass; anything else (RecursionError, MemoryError, TypeError...) is a bug.
"""

from __future__ import annotations

import pickletools
import random
import struct
import tempfile
from pathlib import Path

from nncodec import safe_json
from nncodec.errors import NnzError
from nncodec.formats import byte_layout, safetensors_format
from nncodec.formats.torch_pickle import RestrictedUnpickler, StorageRef, walk_tensors
from nncodec.limits import Limits
from nncodec.meta import checked

# Small budgets: the fuzzer (whose coverage instrumentation slows the interpreter about 15x) must
# reach them in milliseconds.
LIMITS = Limits(max_pickle_ops=20_000, max_pickle_memory=4 << 20, max_depth=200, max_equal_hashes=64,
                max_json_bytes=1 << 20, max_json_depth=32, max_json_values=100_000)
MAX_INPUT = 1 << 18
_WORK = Path(tempfile.mkdtemp(prefix="nncodec-fuzz-json-"))

# -------------------------------------------------------------------------------------------
# Pickles

_HASH_STEP = (1 << 61) - 1
_GLOBALS = [b"ctorch._utils\n_rebuild_tensor_v2\n", b"ccollections\nOrderedDict\n", b"ctorch\nFloatStorage\n",
            b"cbuiltins\nset\n", b"cbuiltins\nfrozenset\n", b"ctorch\nSize\n", b"cos\nsystem\n",
            b"c__builtin__\nset\n", b"ctorch._utils\n_rebuild_parameter\n"]


def _persistent_load(pid):
    if isinstance(pid, tuple) and len(pid) >= 2 and pid[0] == "storage":
        numel = pid[-1] if isinstance(pid[-1], int) and 0 <= pid[-1] < 1 << 20 else 4
        return StorageRef(str(pid[2] if len(pid) > 2 else "0"), "FloatStorage", numel, "float32")
    raise NnzError("not a storage")


def check_pickle(data: bytes) -> None:
    """The interpreter and what reads its result never fail but with an NnzError."""
    try:
        obj, _ = RestrictedUnpickler(data, persistent_load=_persistent_load, torchscript=len(data) % 2 == 1,
                                     limits=LIMITS).load()
        for _path, _tensor in walk_tensors(obj, "", LIMITS.max_depth):
            pass
    except NnzError:
        pass


def _ops(data: bytes) -> list[bytes] | None:
    """The pickle's opcodes as byte strings (None if it does not parse)."""
    try:
        positions = [pos for _, _, pos in pickletools.genops(data)]
    except Exception:  # noqa: BLE001 - any parse failure: mutate bytes instead
        return None
    ends = positions[1:] + [len(data)]
    return [data[a:b] for a, b in zip(positions, ends)]


def _nesting(rng: random.Random) -> bytes:
    depth = rng.choice([10, 300, 3000, 30000])
    kind = rng.randrange(4)
    if kind == 0:
        return b")" + b"\x85" * depth  # a tuple nested ``depth`` deep
    if kind == 1:
        return b"]" * depth + b"a" * (depth - 1)  # lists
    if kind == 2:
        return b"(" * depth + b"t" * depth  # marks
    return b"}" + b")" + b"\x85" * depth + b"Ns"  # a dict keyed by a deep tuple


def _flood(rng: random.Random) -> bytes:
    op = rng.choice([b"2", b"\x94", b"q\x00", b"h\x00", b"0", b"N0"])
    return b"N" + op * rng.choice([100, 10_000, 60_000])


def _colliding_keys(rng: random.Random) -> bytes:
    n = rng.choice([10, 100, 1000, 5000])
    keys = b"".join(b"\x8a\x0c" + (k * _HASH_STEP).to_bytes(12, "little", signed=True) + b"N" for k in range(1, n + 1))
    return b"}(" + keys + b"u"


def _shared_tuple_keys(rng: random.Random) -> bytes:
    width, keys = rng.choice([(100, 100), (2000, 500), (5000, 3000)])
    big = b"(" + b"K\x07" * width + b"t\x94"
    return b"}" + big + b"0(" + b"".join(b"h\x00" + b"K" + bytes([i % 256]) + b"\x86N" for i in range(keys)) + b"u"


_INSERTS = (_nesting, _flood, _colliding_keys, _shared_tuple_keys, lambda rng: rng.choice(_GLOBALS))


def mutate_pickle(data: bytes, seed: int) -> bytes:
    """``data`` with one structural change: a construct inserted, a span repeated or dropped."""
    rng = random.Random(seed)
    ops = _ops(data) or [b"\x80\x02", b"N", b"."]
    at = rng.randrange(len(ops))
    choice = rng.randrange(4)
    if choice == 0:
        ops.insert(at, rng.choice(_INSERTS)(rng))
    elif choice == 1:
        end = min(len(ops), at + rng.randint(1, 8))
        ops[at:end] = ops[at:end] * rng.choice([2, 10, 1000])
    elif choice == 2 and len(ops) > 2:
        del ops[at:at + rng.randint(1, 3)]
    else:
        ops.insert(at, struct.pack("<B", rng.choice(b"KJ\x8a")) + rng.randbytes(rng.choice([1, 4, 9]))[:4])
    return b"".join(ops)[:MAX_INPUT]


# -------------------------------------------------------------------------------------------
# JSON


def check_json(data: bytes) -> None:
    """Every JSON reader: the parser, the metadata check, safetensors headers, file layouts."""
    for read in (_read_json, _read_safetensors_header, _read_layout):
        try:
            read(data)
        except NnzError:
            pass


def _read_json(data: bytes) -> None:
    checked(safe_json.loads(data, "fuzz", LIMITS))


def _read_safetensors_header(data: bytes) -> None:
    buf = struct.pack("<Q", len(data)) + data + bytes(64)
    safetensors_format._parse_header(buf, len(buf), "fuzz.safetensors", LIMITS)


def _read_layout(data: bytes) -> None:
    skeleton = byte_layout.MAGIC + struct.pack("<Q", len(data)) + data + b"kept bytes"
    byte_layout.write_files(skeleton, {}, [_WORK / "file"], LIMITS)  # at most the 10 kept bytes


_JSON_PIECES = [b"[", b"]", b"{", b"}", b",", b":", b'"', b'"\\ud800"', b'"\\u0000"', b"1e999", b"-0", b"9" * 5000,
                b"NaN", b"null", b'"a":', b'{"dtype":"F32","shape":[1],"data_offsets":[0,4]}', b'"__metadata__"']


def mutate_json(data: bytes, seed: int) -> bytes:
    """``data`` with one structural change: wrapped in nesting, a span repeated, a piece inserted."""
    rng = random.Random(seed)
    choice = rng.randrange(4)
    at = rng.randrange(len(data) + 1)
    if choice == 0:
        depth = rng.choice([5, 40, 1000, 100_000])
        opener = rng.choice([b"[", b'{"k":'])
        closer = b"]" if opener == b"[" else b"}"
        out = opener * depth + data + closer * depth
    elif choice == 1 and data:
        end = min(len(data), at + rng.randint(1, 16))
        out = data[:at] + data[at:end] * rng.choice([2, 100, 20_000]) + data[end:]
    elif choice == 2:
        out = data[:at] + rng.choice(_JSON_PIECES) + data[at:]
    else:
        out = data[:at] + data[at + rng.randint(1, 4):]
    return out[:MAX_INPUT]
