"""Every registered codec through the shared checkers: round trip (exact, or within the bound its
parameters declare), the same bytes for any thread count, damaged payloads refused or harmless,
and settings that survive meta.json (JSON values, typed as nncodec.meta checks them)."""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest
from checkers import check_corruption, check_deterministic, check_roundtrip, payload_decoder

from nncodec import codecs
from nncodec.codecs.coding import EncodeOptions
from nncodec.meta import _type_ok

# Settings a codec's tests use where its defaults code nothing (eb has no default bound).
EXAMPLE_PARAMS = {"eb": {"rel_error": 0.05}, "pl": {"p": "0.01std"}, "dq": {"rel_rmse": 0.05}}
BUILTIN = ["lossless", "raw", "pl", "eb", "dq"]


def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    w = (rng.standard_normal((48, 40)) * 0.1).astype(np.float32)
    w.flat[[3, 50, 900]] = [np.nan, np.inf, -0.0]
    return {
        "f32": w, "f16": w.astype(np.float16), "bf16": w.astype(ml_dtypes.bfloat16), "f64": w.astype(np.float64),
        "pruned": np.where(rng.random((64, 64)) < 0.9, 0, w[0, 0]).astype(np.float32),
        "i8": rng.integers(-128, 128, 3000).astype(np.int8), "u16": rng.integers(0, 9, 700).astype(np.uint16),
        "i64": np.arange(300, dtype=np.int64) * 7, "mask": rng.random(333) < 0.2,
        "scalar": np.array(2.5, np.float32), "empty": np.zeros((0, 5), np.float32),
        "constant": np.full((32, 32), 0.25, np.float32),
    }


def coded_cases(codec_id: str):
    """(name, array, settings for it, options) for every test array the codec codes."""
    options = EncodeOptions.from_params(codec_id, EXAMPLE_PARAMS.get(codec_id, {}), chunk_elems=500)
    codec = options.unit
    for name, array in arrays().items():
        settings = codec.for_tensor(name, array, options.settings) if codec.applies(array) else None
        if settings is not None:
            yield name, array, settings, options


def bound_of(codec, encoded) -> float | None:
    """None (exact) where the codec chose an exact coding, else the bound its parameters declare."""
    return codecs.describe(encoded.codec, encoded.params).get("error_bound") if codec.lossy else None


@pytest.mark.parametrize("codec_id", BUILTIN)
def test_round_trip_exact_or_within_the_declared_bound(codec_id):
    cases = list(coded_cases(codec_id))
    assert len(cases) >= 4
    for name, array, settings, options in cases:
        codec = options.unit
        encoded = codec.encode(array, settings, options)
        check_roundtrip(encoded, array, bound_of(codec, encoded), threads=2)
        decoded, size = codec.roundtrip(array, settings, options)  # the writer's coding, for searches
        assert decoded.shape == array.shape
        assert size <= len(encoded.params) + encoded.coded_bytes or size == array.nbytes  # the smaller, or raw


@pytest.mark.parametrize("codec_id", BUILTIN)
def test_same_bytes_for_any_thread_count(codec_id):
    for name, array, settings, options in coded_cases(codec_id):
        codec = options.unit
        check_deterministic(lambda t: codec.encode(array, settings, EncodeOptions(
            codec_id, options.settings, options.plan, chunk_elems=options.chunk_elems, threads=t)))


@pytest.mark.parametrize("codec_id", BUILTIN)
def test_damaged_payloads_are_refused_or_harmless(codec_id):
    for name, array, settings, options in list(coded_cases(codec_id))[:3]:
        encoded = options.unit.encode(array, settings, options)
        check_corruption(encoded.payload, payload_decoder(encoded, array),
                         intact=lambda out: out.shape == array.shape)


@pytest.mark.parametrize("codec_id", codecs.ids())
def test_settings_survive_meta_json(codec_id):
    codec = codecs.get(codec_id)
    settings = codec.settings(EXAMPLE_PARAMS.get(codec_id, {}))
    record = json.loads(json.dumps(settings.to_json()))
    assert codec.Settings.from_params(record) == settings
    types = codec.Settings.json_types()
    for key, value in record.items():
        assert _type_ok(value, types[key]), (key, value)


@pytest.mark.parametrize("codec_id", BUILTIN)
def test_settings_validate_themselves(codec_id):
    codec = codecs.get(codec_id)
    with pytest.raises(ValueError, match="unknown"):
        codec.settings({"no_such_setting": 1})
