"""An independent pure-Python implementation of the .nnz container layout (docs/FORMAT.md).

Used by the tests to cross-check the native reader and to craft files the native writer would
never produce (hostile sizes, future versions, unknown codecs) with valid checksums.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

MAGIC = b"\x89NNZ\r\n\x1a\n"
HEADER_BYTES = 64
_M64 = (1 << 64) - 1
_P1, _P2, _P3, _P4, _P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                           0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _M64, 31) * _P1) & _M64


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64, straight from its specification."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M64, (seed + _P2) & _M64, seed, (seed - _P1) & _M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = _round(v[k], int.from_bytes(data[i + 8 * k:i + 8 * k + 8], "little"))
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M64
        for lane in v:
            h = ((h ^ _round(0, lane)) * _P1 + _P4) & _M64
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i:i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i:i + 4], "little") * _P1) & _M64
        h = (_rotl(h, 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M64
        h = (_rotl(h, 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    return h ^ (h >> 32)


@dataclass
class Tensor:
    name: str
    dtype_code: int
    shape: tuple[int, ...]
    codec: str
    params: bytes
    payload: bytes
    offset: int = 0
    declared_bytes: int | None = None  # override the payload length written in the index
    hash: int | None = None            # override the payload checksum


@dataclass
class Blob:
    name: str
    encoding: int
    data: bytes
    offset: int = 0


@dataclass
class Container:
    tensors: list[Tensor] = field(default_factory=list)
    blobs: list[Blob] = field(default_factory=list)
    major: int = 1
    minor: int = 0
    flags: int = 0
    alignment_log2: int = 3


FLAG_ZLIB_INDEX = 1  # header flag: the index is a zlib stream (format 1.6)


def _name(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<H", len(b)) + b


def build(c: Container) -> bytes:
    """Serialise a container (payloads aligned, index last, checksums filled in)."""
    body = bytearray(HEADER_BYTES)
    align = 1 << c.alignment_log2

    def put(data: bytes) -> int:
        body.extend(b"\0" * ((-len(body)) % align))
        offset = len(body)
        body.extend(data)
        return offset

    for t in c.tensors:
        t.offset = put(t.payload)
    for b in c.blobs:
        b.offset = put(b.data)
    index = bytearray(struct.pack("<II", len(c.tensors), len(c.blobs)))
    for t in c.tensors:
        index += _name(t.name) + struct.pack("<BB", t.dtype_code, len(t.shape))
        index += b"".join(struct.pack("<Q", d) for d in t.shape)
        index += struct.pack("<B", len(t.codec)) + t.codec.encode()
        index += struct.pack("<I", len(t.params)) + t.params
        size = len(t.payload) if t.declared_bytes is None else t.declared_bytes
        index += struct.pack("<QQQ", t.offset, size, xxh64(t.payload) if t.hash is None else t.hash)
    for b in c.blobs:
        index += _name(b.name) + struct.pack("<BQQQ", b.encoding, b.offset, len(b.data), xxh64(b.data))
    if c.flags & FLAG_ZLIB_INDEX:
        index = zlib.compress(bytes(index), 9)
    index_offset = put(bytes(index))
    header = MAGIC + struct.pack("<HHIQQQB", c.major, c.minor, c.flags, index_offset, len(index), xxh64(bytes(index)),
                                 c.alignment_log2)
    header += b"\0" * (56 - len(header))
    header += struct.pack("<Q", xxh64(header))
    body[:HEADER_BYTES] = header
    return bytes(body)


def apply_files_patch(base: bytes, patch: bytes) -> bytes:
    """The section nncodec/files a patch (format 1.6, docs/FORMAT.md 9.5) rebuilds from the base's."""
    if patch[:5] != b"NNZP\x01":
        raise ValueError("not a files patch of version 1")
    count = struct.unpack_from("<I", patch, 24)[0]
    pos, out = 28 + 16 * count, []
    for k in range(count):
        n, at = struct.unpack_from("<QQ", patch, 28 + 16 * k)
        if at == (1 << 64) - 1:
            out.append(patch[pos:pos + n])
            pos += n
        else:
            out.append(base[at:at + n])
    if pos != len(patch):
        raise ValueError("bytes after the patch's literal bytes")
    return b"".join(out)


def parse(data: bytes) -> Container:
    """Parse header and index (no payload decoding); raises ValueError on anything malformed."""
    if len(data) < HEADER_BYTES or data[:8] != MAGIC:
        raise ValueError("not a .nnz file")
    major, minor, flags, index_offset, index_bytes, index_hash, align = struct.unpack_from("<HHIQQQB", data, 8)
    if xxh64(data[:56]) != struct.unpack_from("<Q", data, 56)[0]:
        raise ValueError("header checksum")
    index = data[index_offset:index_offset + index_bytes]
    if len(index) != index_bytes or xxh64(index) != index_hash:
        raise ValueError("index")
    if flags & ~FLAG_ZLIB_INDEX:
        raise ValueError("unknown header flags")
    if flags & FLAG_ZLIB_INDEX:  # format 1.6
        index = zlib.decompress(index)
    c = Container(major=major, minor=minor, flags=flags, alignment_log2=align)
    pos = 8
    ntensors, nblobs = struct.unpack_from("<II", index, 0)

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from(fmt, index, pos)
        pos += struct.calcsize(fmt)
        return values

    def take_bytes(n: int) -> bytes:
        nonlocal pos
        out = index[pos:pos + n]
        pos += n
        return out

    for _ in range(ntensors):
        name = take_bytes(take("<H")[0]).decode()
        dtype_code, ndim = take("<BB")
        shape = take(f"<{ndim}Q") if ndim else ()
        codec = take_bytes(take("<B")[0]).decode()
        params = take_bytes(take("<I")[0])
        offset, size, h = take("<QQQ")
        t = Tensor(name, dtype_code, tuple(shape), codec, params, data[offset:offset + size], offset, size, h)
        c.tensors.append(t)
    for _ in range(nblobs):
        name = take_bytes(take("<H")[0]).decode()
        encoding, offset, size, _h = take("<BQQQ")
        c.blobs.append(Blob(name, encoding, data[offset:offset + size], offset))
    if pos != len(index):
        raise ValueError("trailing index bytes")
    return c


# ---------------------------------------------------------------------------------------------
# Codecs `lossless` and `lossless-values`, decoded as docs/FORMAT.md sections 5.2, 5.8, 6 and 7
# describe (slow, for tests).

FLOAT_LAYOUT = {1: (32, 8, 23), 2: (16, 5, 10), 3: (16, 8, 7), 4: (64, 11, 52)}  # code: W, E, M
INT_LAYOUT = {5: (8, True), 6: (8, False), 7: (16, True), 8: (16, False), 9: (32, True), 10: (32, False),
              11: (64, True), 12: (64, False), 13: (8, False)}


class _Bits:
    def __init__(self, data: bytes):
        self.value = int.from_bytes(data, "little")
        self.total = 8 * len(data)
        self.pos = 0

    def read(self, n: int) -> int:
        v = (self.value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return v


def _huffman_table(data: bytes, alphabet: int) -> tuple[dict[tuple[int, int], int], int]:
    first, count = struct.unpack_from("<HH", data, 0)
    if first + count > alphabet:
        raise ValueError("range")
    nibbles = [x for b in data[4:] for x in (b & 15, b >> 4)]
    lengths, k, s = {}, 0, first
    while s < first + count:
        v = nibbles[k]
        k += 1
        if v == 15:
            s += nibbles[k] + 16 * nibbles[k + 1] + 1
            k += 2
        elif v > 12:
            raise ValueError("length")
        else:
            if v:
                lengths[s] = v
            s += 1
    if len(lengths) < 2 or sum(2.0 ** -n for n in lengths.values()) != 1.0:
        raise ValueError("incomplete")
    codes, code, prev = {}, -1, 0
    for sym in sorted(lengths, key=lambda x: (lengths[x], x)):
        code = 0 if code < 0 else (code + 1) << (lengths[sym] - prev)
        prev = lengths[sym]
        codes[(lengths[sym], code)] = sym
    return codes, 4 + (k + 1) // 2


def huffman_decode(block: bytes, n: int, alphabet: int) -> list[int]:
    codes, pos = _huffman_table(block, alphabet)
    streams = 1 if n < 256 else 4
    sizes = list(struct.unpack_from(f"<{streams - 1}I", block, pos))
    pos += 4 * (streams - 1)
    sizes.append(len(block) - pos - sum(sizes))
    q = -(-n // streams)
    out = []
    for j in range(streams):
        bits = _Bits(block[pos:pos + sizes[j]])
        pos += sizes[j]
        for _ in range(max(0, min(n, (j + 1) * q) - j * q)):
            code = length = 0
            while (length, code) not in codes:
                code = (code << 1) | bits.read(1)  # MSB of the code comes first
                length += 1
                if length > 12:
                    raise ValueError("bad code")
            out.append(codes[(length, code)])
        if not bits.total - 8 < bits.pos <= bits.total and not (bits.total == 0 and bits.pos == 0):
            raise ValueError("stream length")
    return out


def _rans_table(data: bytes, pos: int, alphabet: int) -> tuple[list[int], int]:
    """Weights of a rANS table (section 10) and the position after it."""
    end, nbytes = data[pos] + 1, data[pos + 1]
    if end > alphabet:
        raise ValueError("rANS table: too many symbols")
    bits = _Bits(data[pos + 2:pos + 2 + nbytes])
    weights = [0] * alphabet
    for t in range(end):
        length = bits.read(4)
        if length >= 1:
            k = min(length - 1, 3)
            m = bits.read(k) if k else 0
            weights[t] = ((1 << k) | m) << (length - 1 - k)
    if not bits.total - 8 < bits.pos <= bits.total and not (bits.total == 0 and bits.pos == 0):
        raise ValueError("rANS table: length")
    return weights, pos + 2 + nbytes


def _rans_frequencies(weights: list[int], scale_bits: int) -> list[int]:
    total, size = sum(weights), 1 << scale_bits
    used = [w > 0 for w in weights]
    if not any(used) or sum(used) > size:
        raise ValueError("rANS table: invalid")
    f = [max(1, w * size // total) if w else 0 for w in weights]
    if sum(f) < size:
        f[f.index(max(f))] += size - sum(f)
    while sum(f) > size:
        i = f.index(max(f))
        f[i] -= min(sum(f) - size, max(1, f[i] // 16))
    return f


def rans_decode(data: bytes, n: int, freq: list[int], scale_bits: int) -> list[int]:
    """Four interleaved states, symbol i on state i mod 4 (section 10)."""
    starts = [sum(freq[:s]) for s in range(len(freq))]
    slot_symbol = [s for s, f in enumerate(freq) for _ in range(f)]
    states = list(struct.unpack_from("<4I", data, 0))
    if not all(1 << 23 <= x < 1 << 31 for x in states):
        raise ValueError("rANS: bad state")
    pos, mask, out = 16, (1 << scale_bits) - 1, []
    for i in range(n):
        x = states[i % 4]
        s = slot_symbol[x & mask]
        x = freq[s] * (x >> scale_bits) + (x & mask) - starts[s]
        while x < 1 << 23:
            x = (x << 8) | (data[pos] if pos < len(data) else 0)
            pos += 1
        states[i % 4] = x
        out.append(s)
    if pos != len(data) or any(x != 1 << 23 for x in states):
        raise ValueError("rANS: stream does not end where its symbols do")
    return out


def _plane(data: bytes, pos: int, n: int, width: int) -> tuple[list[int], int]:
    mode = data[pos]
    pos += 1
    if mode == 0:
        return [struct.unpack_from("<Q", data, pos)[0]] * n, pos + 8
    if mode == 1:
        size = -(-n * width // 8)
        bits = _Bits(data[pos:pos + size])
        return [bits.read(width) for _ in range(n)], pos + size
    if mode == 2:
        size = struct.unpack_from("<I", data, pos)[0]
        return huffman_decode(data[pos + 4:pos + 4 + size], n, 1 << width), pos + 4 + size
    if mode == 3:
        scale_bits = data[pos]
        weights, pos = _rans_table(data, pos + 1, 1 << width)
        size = struct.unpack_from("<I", data, pos)[0]
        freq = _rans_frequencies(weights, scale_bits)
        return rans_decode(data[pos + 4:pos + 4 + size], n, freq, scale_bits), pos + 4 + size
    raise ValueError("mode")


def lossless_decode(payload: bytes, params: bytes, dtype_code: int, count: int, values: bool = False) -> bytes:
    """Codec `lossless`, or with `values` codec `lossless-values` (its chunks may hold value tables)."""
    (chunk_elems,) = struct.unpack("<I", params)
    nchunks = -(-count // chunk_elems)
    sizes = struct.unpack_from(f"<{nchunks}I", payload, 0)
    pos = 4 * nchunks
    out = bytearray()
    for c in range(nchunks):
        chunk = payload[pos:pos + sizes[c]]
        pos += sizes[c]
        n = min(chunk_elems, count - c * chunk_elems)
        k, p = chunk[0], 1
        if dtype_code in FLOAT_LAYOUT:
            w, e, _ = FLOAT_LAYOUT[dtype_code]
            table = None
            if k & 0x80:  # codec lossless-values: a table of exact values (section 5.8)
                if not values:
                    raise ValueError("value table in a lossless chunk")
                k &= 0x7F
                v, size = struct.unpack_from("<HI", chunk, p)
                bits = _Bits(chunk[p + 6:p + 6 + size])
                keys = [bits.read(w)]
                for _ in range(v - 1):
                    length = bits.read(6) + 1
                    keys.append(keys[-1] + ((1 << (length - 1)) | bits.read(length - 1)))
                p += 6 + size
                if not 1 <= v <= 4096 - (1 << (e + k)) or keys[-1] >> w or not 0 <= size * 8 - bits.pos < 8:
                    raise ValueError("value table")
                table = [(key >> 1) | ((key & 1) << (w - 1)) for key in keys]  # keys: bits rotated left by one
            s = e + k
            m = 16 - s
            width = ((1 << s) + len(table) - 1).bit_length() if table else s
            sym, p = _plane(chunk, p, n, width)
            rest = [i for i in range(n) if sym[i] < (1 << s)]
            mid, p = _plane(chunk, p, len(rest), m)
            elems = [table[sym[i] - (1 << s)] if sym[i] >= (1 << s) else 0 for i in range(n)]
            residual = []
            for r, i in enumerate(rest):
                t = (sym[i] << m) | mid[r]
                residual.append((((t >> 1) | (t << 15)) & 0xFFFF) << (w - 16))
            for j in range((w - 16) // 8 - 1, -1, -1):
                low, p = _plane(chunk, p, len(rest), 8)
                residual = [x | (lo << (8 * j)) for x, lo in zip(residual, low)]
            for r, i in enumerate(rest):
                elems[i] = residual[r]
        else:
            w, signed = INT_LAYOUT[dtype_code]
            elems = [0] * n
            for b in range(w // 8):
                plane, p = _plane(chunk, p, n, 8)
                elems = [x | (v << (8 * b)) for x, v in zip(elems, plane)]
            if signed:
                elems = [((z >> 1) ^ -(z & 1)) & ((1 << w) - 1) for z in elems]
        if p != len(chunk):
            raise ValueError("chunk not consumed")
        out += b"".join(x.to_bytes(w // 8, "little") for x in elems)
    return bytes(out)


def _grid_elements(levels: list[int], scales: list[float], dtype_code: int) -> bytes:
    """dtype(q x s): binary64 products rounded to the dtype (16-bit dtypes through float32), a
    float32 magnitude beyond the largest finite one giving infinity."""
    import ml_dtypes
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):  # overflow to infinity is the rule
        product = np.array(levels, np.float64) * np.array(scales, np.float64)
        if dtype_code == 4:
            return product.tobytes()
        big = np.abs(product) > np.finfo(np.float32).max
        f32 = np.where(big, np.copysign(np.inf, product), product).astype(np.float32)
        target = {1: np.float32, 2: np.float16, 3: ml_dtypes.bfloat16}[dtype_code]
        return f32.astype(target).tobytes()


def grid_decode(payload: bytes, params: bytes, dtype_code: int, count: int) -> bytes:
    """Codec `lossless-grid` (format 1.5)."""
    version, layout, block, units = struct.unpack("<BBII", params)
    if version != 1 or layout > 1 or block < 1 or units < 1:
        raise ValueError("lossless-grid params")
    esize = {1: 4, 2: 2, 3: 2, 4: 8}[dtype_code]
    nscales = -(-count // block) if layout == 0 else min(count, block)
    fmt = "<d" if dtype_code == 4 else "<f"
    width = 8 if dtype_code == 4 else 4
    scales = [struct.unpack_from(fmt, payload, width * b)[0] for b in range(nscales)]
    pos = width * nscales
    chunk_elems = block * units
    nchunks = -(-count // chunk_elems)
    sizes = struct.unpack_from(f"<{nchunks}I", payload, pos)
    pos += 4 * nchunks
    out = bytearray()
    for c in range(nchunks):
        chunk = payload[pos:pos + sizes[c]]
        pos += sizes[c]
        first, n = c * chunk_elems, min(chunk_elems, count - c * chunk_elems)
        symbols, p = _plane(chunk, 0, n, 8)
        levels = [(z >> 1) ^ -(z & 1) for z in symbols]
        which = [(first + i) // block if layout == 0 else (first + i) % block for i in range(n)]
        elements = bytearray(_grid_elements(levels, [scales[w] for w in which], dtype_code))
        negative_zero = _grid_elements([1], [-0.0], dtype_code)  # symbol 255: -0 of the dtype
        for i, z in enumerate(symbols):
            if z == 255:
                elements[i * esize:(i + 1) * esize] = negative_zero
        (nexc,) = struct.unpack_from("<I", chunk, p)
        p += 4
        at = 0
        for _ in range(nexc):
            gap = shift = 0
            while True:
                b = chunk[p]
                p += 1
                gap |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            at += gap
            elements[at * esize:(at + 1) * esize] = chunk[p:p + esize]
            p += esize
            at += 1
        if p != len(chunk):
            raise ValueError("lossless-grid: chunk not consumed exactly")
        out += elements
    if pos != len(payload):
        raise ValueError("lossless-grid: payload not consumed exactly")
    return bytes(out)


def lane_rans_decode(stream: bytes, contexts: list[int], freqs: list[list[int]], scale_bits: int) -> list[int]:
    """A lane rANS stream (section 12): 64 states over 16-bit words, token i on state i mod 64 with
    the table of its context."""
    if len(stream) < 256 or (len(stream) - 256) % 2:
        raise ValueError("lane rANS: stream length")
    states = list(struct.unpack_from("<64I", stream, 0))
    words = struct.unpack_from(f"<{(len(stream) - 256) // 2}H", stream, 256)
    if not all(x >= 1 << 16 for x in states):
        raise ValueError("lane rANS: bad state")
    tables = [([sum(f[:s]) for s in range(len(f))], [s for s, n in enumerate(f) for _ in range(n)]) for f in freqs]
    mask, pos, out = (1 << scale_bits) - 1, 0, []
    for i, c in enumerate(contexts):
        starts, slot_symbol = tables[c]
        x = states[i % 64]
        s = slot_symbol[x & mask]
        x = freqs[c][s] * (x >> scale_bits) + (x & mask) - starts[s]
        if x < 1 << 16:
            if pos == len(words):
                raise ValueError("lane rANS: stream too short")
            x = (x << 16) | words[pos]
            pos += 1
        states[i % 64] = x
        out.append(s)
    if pos != len(words) or any(x != 1 << 16 for x in states):
        raise ValueError("lane rANS: stream does not end where its tokens do")
    return out


def _delta_key(y: int, dtype_code: int) -> int:
    """The context key of a base element (section 5.6, Contexts)."""
    if dtype_code in FLOAT_LAYOUT:
        _, e, m = FLOAT_LAYOUT[dtype_code]
        return (y >> m) & ((1 << e) - 1)
    w, signed = INT_LAYOUT[dtype_code]
    if signed:
        v = y - (1 << w) if y >> (w - 1) else y
        return ((v << 1) ^ (v >> (w - 1))).bit_length()
    return y.bit_length()


def lane_chunk_tables(chunk: bytes, w: int) -> tuple[list[list[int]], slice]:
    """A delta chunk in mode lanes: the frequencies of its contexts' tables and where its lane
    rANS stream lies."""
    nctx, scale_bits, p = chunk[1], chunk[4], 5
    if not 8 <= scale_bits <= 12:
        raise ValueError("delta: rANS precision")
    freqs = []
    for _ in range(nctx):
        weights, p = _rans_table(chunk, p, 4 * w)
        freqs.append(_rans_frequencies(weights, scale_bits))
    (size,) = struct.unpack_from("<I", chunk, p)
    return freqs, slice(p + 4, p + 4 + size)


def delta_chunks(payload: bytes, count: int, chunk_elems: int) -> list[slice]:
    """Where each chunk of a delta payload lies (framed as for lossless)."""
    nchunks = -(-count // chunk_elems)
    sizes = struct.unpack_from(f"<{nchunks}I", payload, 0)
    starts = [4 * nchunks + sum(sizes[:c]) for c in range(nchunks)]
    return [slice(a, a + n) for a, n in zip(starts, sizes)]


def _delta_chunk_tokens(chunk: bytes, keys: list[int], w: int) -> tuple[list[int], int]:
    """The tokens of a coded delta chunk (mode 1 or 2) and the position of its raw bits."""
    mode, nctx, lo = struct.unpack_from("<BBH", chunk, 0)
    if not 1 <= nctx <= 16:
        raise ValueError("delta: context count")
    contexts = [min(max(k, lo) - lo, nctx - 1) for k in keys]
    if mode == 2:
        freqs, stream = lane_chunk_tables(chunk, w)
        return lane_rans_decode(chunk[stream], contexts, freqs, chunk[4]), stream.stop
    if mode != 1:
        raise ValueError("delta: chunk mode")
    p = 4
    counts = [len(keys)]
    if nctx > 1:
        counts = list(struct.unpack_from(f"<{nctx}I", chunk, p))
        p += 4 * nctx
        if counts != [contexts.count(c) for c in range(nctx)]:
            raise ValueError("delta: context counts")
    planes = []
    for c in range(nctx):
        plane, p = _plane(chunk, p, counts[c], 8)
        planes.append(iter(plane))
    return [next(planes[c if nctx > 1 else 0]) for c in contexts], p


def delta_decode(payload: bytes, params: bytes, dtype_code: int, count: int, base: bytes) -> bytes:
    """Codec `delta` with transform sub (section 5.6) against the base's element bytes."""
    version, _, _, transform, chunk_elems = struct.unpack("<BBIBI", params)
    if version != 1 or transform != 1:
        raise ValueError("delta params")
    w = FLOAT_LAYOUT[dtype_code][0] if dtype_code in FLOAT_LAYOUT else INT_LAYOUT[dtype_code][0]
    esize, top = w // 8, (1 << w) - 1
    ys = [int.from_bytes(base[i * esize:(i + 1) * esize], "little") for i in range(count)]
    out = []
    for c, where in enumerate(delta_chunks(payload, count, chunk_elems)):
        chunk = payload[where]
        y = ys[c * chunk_elems:(c + 1) * chunk_elems]
        if chunk[0] == 0:
            if len(chunk) != 1:
                raise ValueError("delta: equal chunk")
            out += y
            continue
        tokens, p = _delta_chunk_tokens(chunk, [_delta_key(v, dtype_code) for v in y], w)
        if any(t >= 4 * w for t in tokens):
            raise ValueError("delta: token")
        (raw_bytes,) = struct.unpack_from("<I", chunk, p)
        bits = _Bits(chunk[p + 4:p + 4 + raw_bytes])
        if p + 4 + raw_bytes != len(chunk):
            raise ValueError("delta: chunk not consumed")
        for v, t in zip(y, tokens):
            r = ((t - 16) >> 2) + 2 if t >= 16 else 0
            z = ((4 | (t & 3)) << r) | bits.read(r) if t >= 16 else t
            out.append((v + ((z >> 1) ^ -(z & 1))) & top)
        if not bits.total - 8 < bits.pos <= bits.total and not (bits.total == bits.pos == 0):
            raise ValueError("delta: raw bits")
    return b"".join(x.to_bytes(esize, "little") for x in out)
