"""Format 1.0 skeletons, as nncodec wrote them before the binary layout of format 1.1: for tests
of the decoder's 1.0 path (and for crafting hostile 1.0 files). The library only reads them."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from nncodec.formats.byte_layout import LAYOUT_VERSION, MAGIC, FileLayout, _kept_pieces


def pack_v1(files: list[FileLayout], tensors: Mapping[str, np.ndarray], header: dict[str, Any]) -> bytes:
    """The format 1.0 skeleton of ``files``: the JSON layout, then their bytes minus the holes."""
    entries = []
    kept: list[bytes] = []
    for f in files:
        holes, pieces = _kept_pieces(f, tensors)
        kept.extend(pieces)
        entries.append({"name": f.name, "size": len(f.data),
                        "holes": [[h.offset, h.tensor, h.crc_fields, h.swap] for h in holes]})
    layout = json.dumps({"layout": LAYOUT_VERSION, **header, "files": entries},
                        sort_keys=True, separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack("<Q", len(layout)), layout, *kept])


