"""Delta coding against a base model (--base): round trips, the base check, deduplication, chains,
the command line, and random bases with random perturbations (hypothesis)."""

from __future__ import annotations

import os
import shutil
import struct
import zlib

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

import nncodec
from nncodec import BaseMismatchError, CorruptFileError, LimitExceededError
from nncodec.cli import main
from nncodec.delta import BaseModel, DeltaPlan, content_key
from nncodec.limits import Limits
from nncodec.model import TENSORS_ONLY, ModelDocument
from nncodec.nnzfile import NnzFile, write_document
from nncodec.codecs.coding import EncodeOptions
from nnz_reference import build, delta_chunks, delta_decode, lane_chunk_tables, parse


def _base_and_tuned(seed: int = 0):
    rng = np.random.default_rng(seed)
    base = {"embed": (rng.standard_normal((300, 64)) * 0.05).astype(np.float32),
            "w": (rng.standard_normal((128, 96)) * 0.04).astype(np.float32),
            "bias": rng.standard_normal(96).astype(np.float32),
            "steps": np.arange(10, dtype=np.int64)}
    tuned = {k: v.copy() for k, v in base.items()}
    tuned["w"] += (rng.standard_normal(tuned["w"].shape) * 1e-4).astype(np.float32)
    tuned["embed"][:20] += np.float32(1e-3)
    tuned["head"] = tuned["embed"].copy()  # tied: stored once
    return base, tuned


@pytest.fixture
def files(tmp_path):
    base, tuned = _base_and_tuned()
    save_file(base, tmp_path / "base.safetensors")
    save_file(tuned, tmp_path / "tuned.safetensors")
    out = nncodec.encode_file(tmp_path / "tuned.safetensors", tmp_path / "tuned.nnz", base=tmp_path / "base.safetensors")
    return tmp_path, base, tuned, out


def test_round_trip_is_exact_and_smaller(files):
    tmp, base, tuned, out = files
    alone = nncodec.encode_file(tmp / "tuned.safetensors", tmp / "alone.nnz")
    assert out.stat().st_size * 1.3 < alone.stat().st_size
    restored = nncodec.decode_file(out, tmp / "restored.safetensors", base=tmp / "base.safetensors")
    assert restored.read_bytes() == (tmp / "tuned.safetensors").read_bytes()
    with nncodec.load(out, base=base) as f:
        codecs = {t.name: t.codec for t in f.tensors}
        assert all(np.array_equal(f[k], v) for k, v in tuned.items())
    assert codecs == {"embed": "delta", "w": "delta", "bias": "delta", "steps": "delta", "head": "delta"}
    with NnzFile(out) as f:
        sizes = {t.name: t.coded_bytes for t in f.tensors}
        assert f.needs_base and f.base_name == "base.safetensors"
        assert sorted(t[0] for t in f.base_tensors) == ["bias", "embed", "steps", "w"]
    assert sizes["bias"] == sizes["steps"] == sizes["head"] == 0  # references only


def _no_output(tmp):
    return not (tmp / "restored.safetensors").exists() and not any(p.name.startswith(".nncodec") for p in tmp.iterdir())


def test_missing_base_fails_before_writing(files):
    tmp, _, _, out = files
    with pytest.raises(BaseMismatchError, match="base.safetensors"):
        nncodec.decode_file(out, tmp / "restored.safetensors")
    assert _no_output(tmp)
    with nncodec.load(out) as f:  # lists its tensors; tensors that need the base say so
        assert len(f) == 5
        with pytest.raises(BaseMismatchError, match="'w'.*not given"):
            f["w"]


def test_wrong_base_names_the_first_mismatching_tensor(files):
    tmp, base, _, out = files
    changed = {k: v.copy() for k, v in base.items()}
    changed["w"][3, 4] = np.nextafter(changed["w"][3, 4], np.float32(1))  # one bit of one tensor
    save_file(changed, tmp / "changed.safetensors")
    with pytest.raises(BaseMismatchError, match="tensor 'w' differs"):
        nncodec.decode_file(out, tmp / "restored.safetensors", base=tmp / "changed.safetensors")
    assert _no_output(tmp)
    other = dict(base)
    del other["bias"]
    save_file(other, tmp / "other.safetensors")
    with pytest.raises(BaseMismatchError, match="no tensor 'bias'"):
        nncodec.decode_file(out, tmp / "restored.safetensors", base=tmp / "other.safetensors")
    reshaped = {**base, "w": base["w"].reshape(96, 128)}
    save_file(reshaped, tmp / "reshaped.safetensors")
    with pytest.raises(BaseMismatchError, match=r"tensor 'w' is float32 \[96, 128\]"):
        nncodec.decode_file(out, tmp / "restored.safetensors", base=tmp / "reshaped.safetensors")
    with pytest.raises(BaseMismatchError):
        nncodec.load(out, base={k: v.astype(np.float64) for k, v in base.items()})
    assert _no_output(tmp)


def test_truncated_base_fails_before_writing(files):
    tmp, _, _, out = files
    data = (tmp / "base.safetensors").read_bytes()
    (tmp / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(nncodec.NnzError, match="cut.safetensors"):
        nncodec.decode_file(out, tmp / "restored.safetensors", base=tmp / "cut.safetensors")
    base_nnz = nncodec.encode_file(tmp / "base.safetensors", tmp / "base.nnz")
    (tmp / "cut.nnz").write_bytes(base_nnz.read_bytes()[:-100])
    with pytest.raises(CorruptFileError, match="cut.nnz"):
        nncodec.decode_file(out, tmp / "restored.safetensors", base=tmp / "cut.nnz")
    assert _no_output(tmp)


def test_base_given_as_nnz_and_as_folder(files):
    tmp, _, tuned, out = files
    base_nnz = nncodec.encode_file(tmp / "base.safetensors", tmp / "base.nnz")
    restored = nncodec.decode_file(out, tmp / "restored.safetensors", base=base_nnz)
    assert restored.read_bytes() == (tmp / "tuned.safetensors").read_bytes()
    folder = tmp / "folder"
    folder.mkdir()
    shutil.copy(tmp / "tuned.safetensors", folder / "model.safetensors")
    (folder / "config.json").write_text("{}")
    base_folder = tmp / "base_folder"
    base_folder.mkdir()
    shutil.copy(tmp / "base.safetensors", base_folder / "model.safetensors")
    coded = nncodec.encode_file(folder, tmp / "folder.nnz", base=base_folder)
    with NnzFile(coded) as f:
        assert f.needs_base and {t.codec for t in f.tensors} == {"delta"}
    back = nncodec.decode_file(coded, tmp / "back", base=base_folder)
    assert (back / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()


def test_copy_keeps_only_fingerprints_and_a_patch_of_the_bases_files(tmp_path):
    base, _ = _base_and_tuned()
    save_file(base, tmp_path / "base.safetensors", metadata={"format": "pt"})
    shutil.copy(tmp_path / "base.safetensors", tmp_path / "copy.safetensors")
    out = nncodec.encode_file(tmp_path / "copy.safetensors", tmp_path / "copy.nnz", base=tmp_path / "base.safetensors")
    alone = nncodec.encode_file(tmp_path / "base.safetensors", tmp_path / "base.nnz")
    with NnzFile(out) as f, NnzFile(alone) as g:
        assert f._reader.files_patched() and f.files_need_base and not g._reader.files_patched()
        assert len(f) == 4 and f.needs_base  # listed without the base
        # the patch copies the base's section: a few bytes against the base's own deflated section
        assert f._blobs["nncodec/files"][1] * 3 < g._blobs["nncodec/files"][1]
    assert main(["info", str(out)]) == 0
    for given in (tmp_path / "base.safetensors", alone):
        back = nncodec.decode_file(out, tmp_path / "restored.safetensors", base=given, force=True)
        assert back.read_bytes() == (tmp_path / "copy.safetensors").read_bytes()
    os.remove(tmp_path / "restored.safetensors")
    with nncodec.load(out, base=base) as f:  # tensors alone decode; the files need the base's files
        assert all(np.array_equal(f[k], v) for k, v in base.items())
        with pytest.raises(BaseMismatchError, match="base model's files, which were not given"):
            f.restore_into(tmp_path / "x")
    save_file(base, tmp_path / "other_meta.safetensors", metadata={"format": "np"})  # same tensors
    with pytest.raises(BaseMismatchError, match="its files .* differ"):
        nncodec.decode_file(out, tmp_path / "restored.safetensors", base=tmp_path / "other_meta.safetensors")
    assert _no_output(tmp_path)


def _with_patch(path, change) -> bytes:
    """The .nnz file at ``path`` with its files patch rewritten by ``change(bytearray)``."""
    c = parse(path.read_bytes())
    blob = next(b for b in c.blobs if b.name == "nncodec/files")
    patch = bytearray(zlib.decompress(blob.data))
    change(patch)
    blob.data = zlib.compress(bytes(patch))
    return build(c)


@pytest.mark.parametrize("damage,error", [
    (lambda p: struct.pack_into("<Q", p, 28 + 8, 1 << 40), "copies from beyond the base"),  # first op's source
    (lambda p: struct.pack_into("<Q", p, 28, 0), "empty patch operation"),
    (lambda p: struct.pack_into("<I", p, 24, 1 << 21), "too many patch operations"),
    (lambda p: struct.pack_into("<Q", p, 8, 1 << 40), "too large to patch"),
    (lambda p: p.extend(b"x"), "bytes after the last file"),
    (lambda p: p.__setitem__(4, 9), "patch version 9"),
])
def test_a_damaged_files_patch_fails_before_writing(tmp_path, damage, error):
    base, _ = _base_and_tuned()
    save_file(base, tmp_path / "base.safetensors")
    shutil.copy(tmp_path / "base.safetensors", tmp_path / "copy.safetensors")
    out = nncodec.encode_file(tmp_path / "copy.safetensors", tmp_path / "copy.nnz", base=tmp_path / "base.safetensors")
    (tmp_path / "bad.nnz").write_bytes(_with_patch(out, damage))
    with pytest.raises(nncodec.NnzError, match=error):
        nncodec.decode_file(tmp_path / "bad.nnz", tmp_path / "restored.safetensors", base=tmp_path / "base.safetensors")
    assert _no_output(tmp_path)


def test_dedup_inside_one_container_needs_no_base(tmp_path):
    _, tuned = _base_and_tuned()
    save_file(tuned, tmp_path / "m.safetensors")
    out = nncodec.encode_file(tmp_path / "m.safetensors")
    with NnzFile(out) as f:
        by_name = {t.name: t for t in f.tensors}
        assert not f.needs_base
        assert by_name["head"].codec == "delta" and by_name["head"].coded_bytes == 0
        assert by_name["embed"].codec == "lossless"
        assert np.array_equal(f["head"], tuned["embed"])
    back = nncodec.decode_file(out, tmp_path / "back.safetensors")
    assert back.read_bytes() == (tmp_path / "m.safetensors").read_bytes()


def _same_key_different_bytes(count: int) -> list[np.ndarray]:
    """`count` float32 tensors whose content keys are equal but whose bytes are not (each differs
    from zeros in one element the key does not sample)."""
    zeros = np.zeros(1 << 16, np.float32)
    hidden = [i for i in range(1000, zeros.size, 997) if content_key(_with_one(zeros, i)) == content_key(zeros)]
    assert len(hidden) >= count
    return [_with_one(zeros, i) for i in hidden[:count]]


def _with_one(zeros: np.ndarray, at: int) -> np.ndarray:
    out = zeros.copy()
    out[at] = 1.0
    return out


def test_tensors_of_equal_content_key_are_stored_once_only_when_equal(tmp_path):
    """The key samples the bytes: tensors it cannot tell apart are compared in full, so those
    that differ are each coded, and a copy of one of them is stored once."""
    a, b = _same_key_different_bytes(2)
    tensors = {"a": a, "b": b, "a_again": a.copy()}
    save_file(tensors, tmp_path / "m.safetensors")
    out = nncodec.encode_file(tmp_path / "m.safetensors")
    with NnzFile(out) as f:
        codecs = {t.name: (t.codec, t.coded_bytes) for t in f.tensors}
        assert codecs["a"][0] != "delta" and codecs["b"][0] != "delta"
        assert codecs["a_again"] == ("delta", 0)
        for name, want in tensors.items():
            assert f[name].tobytes() == want.tobytes()
    assert nncodec.decode_file(out, tmp_path / "back.safetensors").read_bytes() == (tmp_path / "m.safetensors").read_bytes()


def test_tensors_of_one_content_key_are_compared_with_a_bounded_number_of_others(monkeypatch):
    """A model of many tensors that one key cannot tell apart costs the writer a bounded number of
    full comparisons per tensor, not one with every earlier tensor."""
    import nncodec.delta as delta

    tensors = _same_key_different_bytes(40)
    compared = []
    real_equal = delta._equal
    monkeypatch.setattr(delta, "_equal", lambda x, y: compared.append(1) or real_equal(x, y))
    plan = DeltaPlan(None)
    assert all(plan.reference(f"t{i}", t) is None for i, t in enumerate(tensors))
    assert len(compared) <= 8 * len(tensors) < len(tensors) * (len(tensors) - 1) // 2


def _series(tmp, n=3):
    base, _ = _base_and_tuned()
    save_file(base, tmp / "ckpt_0.safetensors")
    rng = np.random.default_rng(1)
    state, previous = base, tmp / "ckpt_0.safetensors"
    for k in range(1, n + 1):
        state = {name: (v + (rng.standard_normal(v.shape) * 1e-4).astype(v.dtype)) if v.dtype == np.float32 else v
                 for name, v in state.items()}
        save_file(state, tmp / f"ckpt_{k}.safetensors")
        nncodec.encode_file(tmp / f"ckpt_{k}.safetensors", tmp / f"ckpt_{k}.nnz", base=previous)
        previous = tmp / f"ckpt_{k}.nnz"
    return state


def test_checkpoint_chain_resolves_by_recorded_names(tmp_path):
    last = _series(tmp_path)
    back = nncodec.decode_file(tmp_path / "ckpt_3.nnz", tmp_path / "back.safetensors", base=tmp_path / "ckpt_2.nnz")
    assert back.read_bytes() == (tmp_path / "ckpt_3.safetensors").read_bytes()
    assert all(np.array_equal(a, last[k]) for k, a in load_file(back).items())
    with pytest.raises(LimitExceededError, match="max_base_depth"):
        nncodec.load(tmp_path / "ckpt_3.nnz", base=tmp_path / "ckpt_2.nnz", limits=Limits(max_base_depth=1))
    os.remove(tmp_path / "ckpt_0.safetensors")  # the end of the chain is missing
    with pytest.raises(BaseMismatchError, match="ckpt_0.safetensors"):
        nncodec.decode_file(tmp_path / "ckpt_3.nnz", tmp_path / "x.safetensors", base=tmp_path / "ckpt_2.nnz")
    assert not (tmp_path / "x.safetensors").exists()


def test_base_chain_cycle_is_refused(tmp_path):
    base, tuned = _base_and_tuned()
    save_file(base, tmp_path / "m0.safetensors")
    save_file(tuned, tmp_path / "m1.safetensors")
    nncodec.encode_file(tmp_path / "m0.safetensors", tmp_path / "B.nnz")
    nncodec.encode_file(tmp_path / "m1.safetensors", tmp_path / "A.nnz", base=tmp_path / "B.nnz")  # A records B.nnz
    nncodec.encode_file(tmp_path / "m0.safetensors", tmp_path / "B2.nnz", base=tmp_path / "A.nnz")  # records A.nnz
    os.replace(tmp_path / "B2.nnz", tmp_path / "B.nnz")  # A -> B -> A
    with pytest.raises(BaseMismatchError, match="cycle"):
        nncodec.load(tmp_path / "A.nnz", base=tmp_path / "B.nnz")


def test_cli_base(files, capsys):
    tmp, _, _, _ = files
    assert main(["encode", str(tmp / "tuned.safetensors"), "-o", str(tmp / "cli.nnz"), "--base",
                 str(tmp / "base.safetensors"), "-q"]) == 0
    assert main(["info", str(tmp / "cli.nnz")]) == 0
    assert "coded against 'base.safetensors'" in capsys.readouterr().out
    assert main(["decode", str(tmp / "cli.nnz"), "-o", str(tmp / "restored.safetensors"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "--base" in err and len(err.strip().splitlines()) == 1 and _no_output(tmp)
    assert main(["decode", str(tmp / "cli.nnz"), "-o", str(tmp / "restored.safetensors"), "-q", "--base",
                 str(tmp / "base.safetensors")]) == 0
    assert (tmp / "restored.safetensors").read_bytes() == (tmp / "tuned.safetensors").read_bytes()


# Random bases and perturbations: decode(encode(x, base), base) == x bit for bit.

DTYPES = ("float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "int32", "uint32", "int64",
          "uint64", "bool")
PERTURBATIONS = ("none", "few_bits", "small_noise", "sign_flips", "nan_inf", "all_changed", "bursts")


def _numpy(name: str) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def _random_tensor(rng, dtype: np.dtype, n: int) -> np.ndarray:
    if dtype.kind == "f" or dtype == np.dtype(ml_dtypes.bfloat16):
        return (rng.standard_normal(n) * 10.0 ** rng.integers(-4, 2)).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, n).astype(np.bool_)
    return rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8).view(dtype)


def _perturbed(rng, base: np.ndarray, how: str) -> np.ndarray:
    bits = base.copy().view(np.dtype(f"u{base.dtype.itemsize}"))
    n = bits.size
    pick = rng.integers(0, max(n, 1), max(1, n // 50)) if n else np.zeros(0, np.int64)
    if how == "few_bits":
        bits[pick] ^= (1 << rng.integers(0, 8 * base.dtype.itemsize, pick.size)).astype(bits.dtype)
    elif how == "small_noise":
        bits += rng.integers(-3, 4, n).astype(bits.dtype)
    elif how == "sign_flips":
        bits[pick] ^= np.array(1 << (8 * base.dtype.itemsize - 1), dtype=np.uint64).astype(bits.dtype)
    elif how == "nan_inf" and base.dtype.kind != "b":
        specials = np.array([np.nan, np.inf, -np.inf], dtype=np.float64)
        if base.dtype.kind in "iu":
            bits[pick] = np.iinfo(bits.dtype).max
        else:
            out = bits.view(base.dtype)
            out[pick] = specials[rng.integers(0, 3, pick.size)].astype(base.dtype)
    elif how == "all_changed":
        bits[:] = rng.integers(0, 256, n * base.dtype.itemsize, dtype=np.uint8).view(bits.dtype)
    elif how == "bursts":  # small changes, with runs of large ones between (the decoder's paths change)
        bits += rng.integers(-3, 4, n).astype(bits.dtype)
        for start in pick[:8]:
            run = slice(start, start + int(rng.integers(1, 48)))
            bits[run] = rng.integers(0, 256, bits[run].size * base.dtype.itemsize, dtype=np.uint8).view(bits.dtype)
    out = bits.view(base.dtype)
    return out.astype(np.bool_) if base.dtype == np.bool_ else out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from(DTYPES), how=st.sampled_from(PERTURBATIONS),
       n=st.one_of(st.integers(0, 3000), st.integers(4096, 20000)),  # chunks of 4096 and more: mode lanes
       chunk=st.sampled_from([64, 1000, 4096, 1 << 18]), seed=st.integers(0, 2**32 - 1))
def test_random_base_and_perturbation_round_trip(tmp_path, dtype, how, n, chunk, seed):
    rng = np.random.default_rng(seed)
    base = _random_tensor(rng, _numpy(dtype), n)
    x = _perturbed(rng, base, how)
    path = tmp_path / f"{dtype}_{how}_{n}_{seed}.nnz"
    write_document(path, ModelDocument(TENSORS_ONLY, {"t": x}), EncodeOptions(chunk_elems=chunk),
                   delta=DeltaPlan(BaseModel("base", {"t": base})))
    with NnzFile(path, base={"t": base}) as f:
        got = f["t"]
        # An equal tensor is a copy; where most elements keep most of their bits, the difference
        # pays once the tensor outweighs its framing.
        expect_delta = (how == "none" and x.size >= 64) or (
            how in ("small_noise", "sign_flips") and x.size >= 1024 and x.dtype != np.bool_)
        assert f.tensors[0].codec == "delta" or not expect_delta
    assert got.dtype == x.dtype and np.array_equal(got.view(np.uint8), x.view(np.uint8))


def _fine_tune_file(tmp_path, dtype: str) -> tuple[np.ndarray, np.ndarray, bytes]:
    """A tensor of 3 x 8192 elements a little off its base, coded against it in chunks of 8192."""
    rng = np.random.default_rng(sum(map(ord, dtype)))
    base = _random_tensor(rng, _numpy(dtype), 3 * 8192)
    x = _perturbed(rng, base, "small_noise")
    path = tmp_path / f"{dtype}.nnz"
    write_document(path, ModelDocument(TENSORS_ONLY, {"t": x}), EncodeOptions(chunk_elems=8192),
                   delta=DeltaPlan(BaseModel("base", {"t": base})))
    return base, x, path.read_bytes()


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64", "int8", "uint16", "int32"])
def test_fine_tune_chunks_are_lane_streams_the_format_decodes_and_damage_is_refused(tmp_path, dtype):
    """Chunks of at least 4096 slightly changed elements are coded in mode lanes (format 1.7); the
    reference decoder of docs/FORMAT.md agrees with the file; a lane stream with a state out of
    range or a changed word is corrupt (the payload hash made right, so the decoder must see it)."""
    base, x, data = _fine_tune_file(tmp_path, dtype)
    c = parse(data)
    (t,) = c.tensors
    chunks = delta_chunks(t.payload, x.size, 8192)
    assert t.codec == "delta" and [t.payload[k.start] for k in chunks] == [2, 2, 2]
    assert delta_decode(t.payload, t.params, t.dtype_code, x.size, base.tobytes()) == x.tobytes()
    _, stream = lane_chunk_tables(t.payload[chunks[1]], 8 * x.itemsize)
    at = chunks[1].start + stream.start
    for offset, value in ((0, 0), (256 + (stream.stop - stream.start - 256) // 2, None)):
        bad = bytearray(t.payload)
        bad[at + offset:at + offset + 4] = b"\0\0\0\0" if value == 0 else bytes(v ^ 0x5A for v in bad[at + offset:at + offset + 4])
        t.payload, t.hash, original = bytes(bad), None, t.payload
        path = tmp_path / f"bad{offset}.nnz"
        path.write_bytes(build(c))
        t.payload = original
        with NnzFile(path, base={"t": base}) as f, pytest.raises(CorruptFileError, match=f"bad{offset}.nnz.*lane rANS"):
            f["t"]


@pytest.mark.parametrize("dtype, error", [(np.float32, 1e-4), (ml_dtypes.bfloat16, 2e-3), (np.float16, 5e-4)])
def test_lossy_codec_with_a_base_bounds_the_error_against_the_model(tmp_path, dtype, error):
    rng = np.random.default_rng(3)
    b = (rng.standard_normal((256, 256)) * 0.04).astype(np.float32)
    x = b + (rng.standard_normal(b.shape) * 2e-4).astype(np.float32)
    base, tuned = {"w": b.astype(dtype), "bias": b[0].astype(dtype)}, {"w": x.astype(dtype), "bias": x[0].astype(dtype)}
    save_file(base, tmp_path / "b.safetensors")
    save_file(tuned, tmp_path / "t.safetensors")
    alone = nncodec.encode_file(tmp_path / "t.safetensors", tmp_path / "a.nnz", codec="eb", params={"error": error})
    coded = nncodec.encode_file(tmp_path / "t.safetensors", tmp_path / "d.nnz", codec="eb", params={"error": error},
                                base=tmp_path / "b.safetensors")
    assert coded.stat().st_size * 2 < alone.stat().st_size
    with nncodec.load(coded, base=base) as f:
        w = f["w"].astype(np.float64)
        assert np.abs(w - tuned["w"].astype(np.float64)).max() <= error
        assert np.array_equal(f["bias"].view(np.uint8), tuned["bias"].view(np.uint8))  # protected: exact
        info = {t.name: t for t in f.tensors}
        assert info["w"].codec == "delta" and nncodec.codecs.describe("delta", info["w"].params)["error_bound"] == error


def test_framework_loaders_take_the_base(files):
    """load_state_dict, safe_open and the ONNX loader decode a delta file given its base, equal
    to the fine-tune's own loaders; without the base they refuse it."""
    import onnx
    import torch
    from onnx import helper, numpy_helper
    from safetensors.torch import load_file as torch_load_file

    import nncodec.onnx
    import nncodec.torch

    tmp, base, tuned, out = files
    expected = torch_load_file(tmp / "tuned.safetensors")
    state = nncodec.torch.load_state_dict(out, base=tmp / "base.safetensors")
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in expected)
    with nncodec.safe_open(out, "np", base=base) as f:
        assert sorted(f.keys()) == sorted(tuned) and all(np.array_equal(f.get_tensor(k), tuned[k]) for k in tuned)
    with pytest.raises(BaseMismatchError, match="base.safetensors"):
        nncodec.torch.load_state_dict(out)

    def graph(weights):
        w = numpy_helper.from_array(weights["w"], "w")
        node = helper.make_node("MatMul", ["x", "w"], ["y"])
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 128])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 96])], [w])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    onnx.save(graph(base), tmp / "base.onnx")
    onnx.save(graph(tuned), tmp / "tuned.onnx")
    delta = nncodec.encode_file(tmp / "tuned.onnx", tmp / "tuned_onnx.nnz", base=tmp / "base.onnx")
    x = np.random.default_rng(1).standard_normal((1, 128)).astype(np.float32)
    session = nncodec.onnx.inference_session(delta, base=tmp / "base.onnx")
    import onnxruntime

    original = onnxruntime.InferenceSession(str(tmp / "tuned.onnx"))
    assert np.array_equal(session.run(None, {"x": x})[0], original.run(None, {"x": x})[0])
    assert nncodec.onnx.load_model(delta, base=tmp / "base.onnx").SerializeToString() == \
        (tmp / "tuned.onnx").read_bytes()
