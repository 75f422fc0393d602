"""The encoder's patch of a model's section nncodec/files against the base's (docs/FORMAT.md 9.5):
whatever the edits, the operations rebuild the section exactly and copy only from inside the base."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from nncodec.files_patch import LITERAL, make_patch
from nnz_reference import apply_files_patch

edits = st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 300), st.binary(max_size=200)), max_size=6)


@settings(max_examples=200, deadline=None)
@given(base=st.binary(min_size=0, max_size=4000) | st.just(bytes(range(256)) * 16), edits=edits)
def test_patch_rebuilds_the_section(base, edits):
    new = bytearray(base)
    for at, cut, insert in edits:  # the kinds of change a fine-tune makes: a name, a header entry, a file
        at = min(at, len(new))
        new[at:at + cut] = insert
    new = bytes(new)
    patch = make_patch(base, new)
    assert apply_files_patch(base, patch) == new
    count = struct.unpack_from("<I", patch, 24)[0]
    assert struct.unpack_from("<Q", patch, 8)[0] == len(base)
    for k in range(count):
        n, at = struct.unpack_from("<QQ", patch, 28 + 16 * k)
        assert n > 0 and (at == LITERAL or at + n <= len(base))
    if new == base and base:
        assert count == 1  # one copy of the whole section
