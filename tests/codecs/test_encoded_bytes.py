"""The encoders write the bytes they wrote when bench/byte_identity.json was recorded: every coded
tensor (codec id, parameters, payload) of the example model and of generated models under each
codec and mode, and of each encoder binding called directly. Whole files are compared by the
bench script itself (python bench/byte_identity.py --check bench/byte_identity.json): their
metadata blobs are the Python front end's to change."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import byte_identity  # noqa: E402


def test_coded_tensors_are_byte_identical():
    expected = json.loads((ROOT / "bench" / "byte_identity.json").read_text())
    assert byte_identity.differences(expected, byte_identity.record(), tensors_only=True) == []
