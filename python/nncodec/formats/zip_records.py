"""The records of a zip archive, read defensively, with where each one's bytes and CRC live.

PyTorch (``torch.save``, ``torch.jit.save``) writes zip archives whose tensor records are stored
uncompressed. To code those records in place and put them back bit for bit, the format modules
need each record's data offset and the positions of its CRC-32 fields, which Python's
``zipfile`` does not expose. Every size and offset is checked against the file before use.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import CorruptFileError, UnsupportedError

_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
_MAX_COMMENT = 0xFFFF
STORED = 0
FLAG_ENCRYPTED = 0x1
FLAG_DATA_DESCRIPTOR = 0x8


@dataclass(frozen=True)
class ZipRecord:
    name: str
    method: int           # 0: stored, 8: deflated
    flags: int
    crc: int
    compressed_size: int
    size: int
    data_offset: int      # where the record's (possibly compressed) bytes start in the file
    crc_fields: tuple[int, ...]  # file offsets of the CRC-32 copies (local header or data descriptor, directory)

    @property
    def is_stored(self) -> bool:
        """Bytes kept as they are, with the CRC in the headers (what torch writes for tensors)."""
        return self.method == STORED and self.compressed_size == self.size and not self.flags & FLAG_ENCRYPTED


def _unpack(fmt: str, buf: Sequence[int] | bytes, offset: int, size: int, what: str) -> tuple:
    end = offset + struct.calcsize(fmt)
    if offset < 0 or end > size:
        raise CorruptFileError(f"zip archive truncated: {what} runs past the end of the file")
    return struct.unpack(fmt, buf[offset:end])


def _find_end_record(buf, size: int) -> int:
    lo = max(0, size - 22 - _MAX_COMMENT)
    pos = buf.rfind(_EOCD, lo, size)
    while pos >= 0:
        (comment_len,) = _unpack("<H", buf, pos + 20, size, "end of central directory")
        if pos + 22 + comment_len <= size:
            return pos
        pos = buf.rfind(_EOCD, lo, pos)
    raise CorruptFileError("not a complete zip archive (no end of central directory: truncated?)")


def _zip64_extra(extra: bytes, need: list[str], values: dict[str, int]) -> None:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[pos:pos + 4])
        body = extra[pos + 4:pos + 4 + length]
        if tag == 0x0001:
            if len(body) < 8 * len(need):
                raise CorruptFileError("zip64 extra field too short")
            for i, key in enumerate(need):
                values[key] = struct.unpack("<Q", body[8 * i:8 * i + 8])[0]
            return
        pos += 4 + length
    if need:
        raise CorruptFileError("zip64 sizes announced but no zip64 extra field")


def read_records(buf, size: int) -> list[ZipRecord]:
    """The records of the zip archive in ``buf`` (bytes or mmap, ``size`` bytes), in directory order."""
    end = _find_end_record(buf, size)
    disk, cd_disk, _, count, cd_size, cd_offset = _unpack("<HHHHII", buf, end + 4, size, "end of central directory")
    if disk or cd_disk:
        raise UnsupportedError("multi-part zip archives are not supported")
    if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        sig, _, locator_offset, _ = _unpack("<4sIQI", buf, end - 20, size, "zip64 locator")
        if sig != _EOCD64_LOCATOR or locator_offset + 56 > end:
            raise CorruptFileError("zip64 end of central directory locator is damaged")
        sig, *_, count, cd_size, cd_offset = _unpack("<4sQHHIIQQQQ", buf, locator_offset, size, "zip64 end record")
        if sig != _EOCD64:
            raise CorruptFileError("zip64 end of central directory is damaged")
        end = locator_offset
    if cd_offset + cd_size > end or count > cd_size // 46:
        raise CorruptFileError("zip central directory does not fit in the file")
    records: list[ZipRecord] = []
    names: set[str] = set()
    pos = cd_offset
    for _ in range(count):
        (sig, _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len, _, _, _,
         local) = _unpack("<4sHHHHHHIIIHHHHHII", buf, pos, end, "central directory entry")
        if sig != _CENTRAL:
            raise CorruptFileError("zip central directory entry is damaged")
        name_raw = bytes(buf[pos + 46:pos + 46 + name_len])
        extra = bytes(buf[pos + 46 + name_len:pos + 46 + name_len + extra_len])
        crc_central = pos + 16
        pos += 46 + name_len + extra_len + comment_len
        if pos > end:
            raise CorruptFileError("zip central directory entry runs past the directory")
        values = {"usize": usize, "csize": csize, "local": local}
        need = [k for k in ("usize", "csize", "local") if values[k] == 0xFFFFFFFF]
        if need:
            _zip64_extra(extra, need, values)
        try:
            name = name_raw.decode("utf-8")
        except UnicodeDecodeError:
            name = name_raw.decode("cp437")
        if name in names:
            raise CorruptFileError(f"zip archive lists {name!r} twice")
        names.add(name)
        sig, _, _, _, _, _, local_crc, _, _, local_name_len, local_extra_len = _unpack(
            "<4sHHHHHIIIHH", buf, values["local"], size, f"local header of {name!r}")
        if sig != _LOCAL or bytes(buf[values["local"] + 30:values["local"] + 30 + local_name_len]) != name_raw:
            raise CorruptFileError(f"zip local header of {name!r} is damaged")
        data = values["local"] + 30 + local_name_len + local_extra_len
        data_end = data + values["csize"]
        if data_end > cd_offset:
            raise CorruptFileError(f"zip record {name!r} runs past the end of the data")
        # The CRC is in the central directory, and in the local header or (flag bit 3, as torch
        # writes) in a data descriptor after the data, with or without its signature. Only the
        # copies that hold it are CRC fields: the others are kept as they are.
        crc_fields = [crc_central]
        if flags & FLAG_DATA_DESCRIPTOR:
            at = data_end + 4 if buf[data_end:data_end + 4] == _DESCRIPTOR else data_end
            if at + 4 > cd_offset:
                raise CorruptFileError(f"zip data descriptor of {name!r} runs past the end of the data")
            if struct.unpack("<I", buf[at:at + 4])[0] == crc:
                crc_fields.append(at)
        if local_crc == crc:
            crc_fields.append(values["local"] + 14)
        records.append(ZipRecord(name, method, flags, crc, values["csize"], values["usize"], data,
                                 tuple(sorted(crc_fields))))
    return records
