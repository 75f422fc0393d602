"""The restricted unpickler on its own: plain values come back as Python's pickle would give them,
and any bytes at all end in a value or an nncodec error, never another exception or a hang.
"""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncodec.errors import CorruptFileError, LimitExceededError, NnzError
from nncodec.formats.torch_pickle import PickledOrderedDict, RestrictedUnpickler, walk_tensors


def _load(data: bytes):
    return RestrictedUnpickler(data, persistent_load=lambda pid: pid).load()[0]


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4)
    | st.frozensets(st.integers(), max_size=3).map(set),
    max_leaves=20)


@given(plain, st.integers(0, 5))
def test_plain_values_load_as_python_pickles_them(value, protocol):
    assert _load(pickle.dumps(value, protocol=protocol)) == value


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_arbitrary_bytes_give_a_value_or_an_nncodec_error(data):
    try:
        _load(data)
    except NnzError:
        pass


@given(plain, st.integers(2, 5), st.data())
def test_truncated_pickles_are_corrupt(value, protocol, data):
    raw = pickle.dumps(value, protocol=protocol)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(CorruptFileError):
        _load(raw[:cut])


def test_ordered_dict_keeps_its_attribute_state():
    loaded = _load(b"\x80\x02ccollections\nOrderedDict\n)R}X\x09\x00\x00\x00_metadata}sb.")
    assert isinstance(loaded, PickledOrderedDict) and loaded.state == {"_metadata": {}}


def test_self_referencing_containers_end():
    value: list = []
    value.append(value)
    loaded = _load(pickle.dumps(value, protocol=2))
    assert loaded[0] is loaded
    assert list(walk_tensors(loaded)) == []


def test_deep_nesting_is_refused_not_a_crash():
    data = b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b"."
    with pytest.raises(LimitExceededError, match="deeply"):
        list(walk_tensors(_load(data)))
