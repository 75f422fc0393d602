"""nncodec.torch.load_state_dict: the tensors torch.load / safetensors give for the original file,
straight from the .nnz file (dtypes, shapes, strides, storage offsets, shared storages)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from onnx import numpy_helper
from safetensors.torch import load_file, save_file

import nncodec
import nncodec.torch
from nncodec.errors import LimitExceededError, NotFoundError, UnsupportedError
from nncodec.limits import Limits
from onnx_models import constants_and_subgraphs, mlp
from loader_checks import check_as_torch_load, check_same_tensors
from torch_checkpoints import checkpoints, storage_bytes

GOLDEN_MODELS = Path(__file__).resolve().parents[1] / "golden" / "v1" / "models"
HOSTILE = Path(__file__).resolve().parents[1] / "hostile" / "corpus"


def encoded(tmp_path: Path, obj, legacy: bool = False) -> tuple[Path, Path]:
    src = tmp_path / "model.pt"
    torch.save(obj, src, _use_new_zipfile_serialization=not legacy)
    return src, nncodec.encode_file(src, tmp_path / "model.nnz", force=True)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@given(obj=checkpoints())
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_checkpoint_loads_as_torch_load_gives_it(tmp_path, legacy, obj):
    src, nnz = encoded(tmp_path, obj, legacy)
    check_as_torch_load(torch.load(src, weights_only=True), nncodec.torch.load_state_dict(nnz))


def test_views_shared_storages_and_bfloat16_as_in_the_file(tmp_path):
    base = torch.randn(6, 4)
    half = torch.randn(5, 3).to(torch.bfloat16)
    state = collections.OrderedDict(
        w=base, w_t=base.t(), rows=base[2:], element=base.reshape(-1)[5], strided=base.reshape(-1)[1::3],
        bf=half, bf_view=half.t()[1:], alone=torch.randn(3, 2).t(), ints=torch.arange(10), mask=torch.tensor([True, False]),
        empty=torch.empty(0, 3), complex=torch.randn(3, dtype=torch.complex64), u16=torch.tensor([1, 65535], dtype=torch.uint16))
    src, nnz = encoded(tmp_path, state)
    got = nncodec.torch.load_state_dict(nnz)
    check_as_torch_load(torch.load(src, weights_only=True), got)
    assert got["bf_view"].dtype == torch.bfloat16 and got["bf_view"].storage_offset() == 1
    assert got["w_t"].untyped_storage().data_ptr() == got["w"].untyped_storage().data_ptr()
    got["w"][0, 0] = 42.0  # one storage, as torch.load gives it: a change shows through every view
    assert got["w_t"][0, 0] == 42.0 and got["rows"].untyped_storage().data_ptr() == got["w"].untyped_storage().data_ptr()


def test_a_modules_state_dict_loads_into_the_module(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(10, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 10))
    model[2].weight = model[0].weight  # tied: one storage under two names
    src, nnz = encoded(tmp_path, model.state_dict())
    state = nncodec.torch.load_state_dict(nnz)
    check_as_torch_load(torch.load(src, weights_only=True), state)
    fresh = torch.nn.Sequential(torch.nn.Embedding(10, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 10))
    fresh.load_state_dict(state)
    x = torch.arange(10)
    assert torch.equal(fresh(x), model(x))


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")  # deprecated, still in checkpoints
def test_a_stride_zero_view_stays_a_view_and_quantized_tensors_are_refused(tmp_path):
    src, nnz = encoded(tmp_path, {"ones": torch.ones(1).expand(1 << 20), "w": torch.ones(3)})
    got = nncodec.torch.load_state_dict(nnz, limits=Limits(max_tensor_bytes=1 << 16))
    assert got["ones"].stride() == (0,) and got["ones"].untyped_storage().nbytes() == 4
    check_as_torch_load(torch.load(src, weights_only=True), got)
    with nncodec.safe_open(nnz, limits=Limits(max_tensor_bytes=1 << 16)) as f:
        with pytest.raises(LimitExceededError, match="max_tensor_bytes"):
            f.get_tensor("ones")  # numpy copies a view out: the limit applies
    _, nnz = encoded(tmp_path, {"q": torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8)})
    with pytest.raises(UnsupportedError, match="quantized"):
        nncodec.torch.load_state_dict(nnz)


def test_a_hostile_view_is_refused(tmp_path):
    with nncodec.safe_open(HOSTILE / "stride_zero_view.nnz", limits=Limits(max_memory=1 << 30)) as f:
        with pytest.raises(LimitExceededError, match="memory budget"):
            f.get_tensor("w")  # 4 GiB once copied out
    state = nncodec.torch.load_state_dict(HOSTILE / "stride_zero_view.nnz")  # a torch view costs nothing
    assert state["w"].shape == (1 << 30,) and state["w"].stride() == (0,)


def bf16_state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"embed.weight": torch.randn(16, 8, generator=g).to(torch.bfloat16),
            "norm.weight": torch.ones(8, dtype=torch.float16), "ids": torch.arange(5, dtype=torch.int64),
            "flags": torch.tensor([True, False, True]), "scale": torch.tensor(2.5, dtype=torch.float64)}


def test_safetensors_single_and_sharded_load_as_load_file(tmp_path):
    save_file(bf16_state(0), tmp_path / "model.safetensors", metadata={"format": "pt"})
    nnz = nncodec.encode_file(tmp_path / "model.safetensors")
    check_same_tensors(load_file(tmp_path / "model.safetensors"), nncodec.torch.load_state_dict(nnz))

    shards = {"model-00001-of-00002.safetensors": bf16_state(1), "model-00002-of-00002.safetensors":
              {f"layer.{k}": v for k, v in bf16_state(2).items()}}
    for name, tensors in shards.items():
        save_file(tensors, tmp_path / name)
    index = {"metadata": {}, "weight_map": {k: name for name, tensors in shards.items() for k in tensors}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    got = nncodec.torch.load_state_dict(nncodec.encode_file(tmp_path / "model.safetensors.index.json"))
    check_same_tensors({k: v for name in shards for k, v in load_file(tmp_path / name).items()}, got, ordered=False)


def test_a_safetensors_dtype_nncodec_codes_as_bytes_is_refused_by_name(tmp_path):
    save_file({"f8": torch.ones(4).to(torch.float8_e4m3fn), "w": torch.ones(2)}, tmp_path / "m.safetensors")
    nnz = nncodec.encode_file(tmp_path / "m.safetensors")
    with pytest.raises(UnsupportedError, match="'f8'"):
        nncodec.torch.load_state_dict(nnz)


@pytest.mark.parametrize("external", [False, True], ids=["inside", "external-data"])
def test_onnx_initializers_by_name(tmp_path, external):
    model = mlp(hidden=48)
    onnx.save_model(model, str(tmp_path / "m.onnx"), save_as_external_data=external, location="m.onnx.data",
                    size_threshold=0)
    got = nncodec.torch.load_state_dict(nncodec.encode_file(tmp_path / "m.onnx"))
    want = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "m.onnx")).graph.initializer}
    assert list(got) == list(want)
    for name, array in want.items():
        assert np.array_equal(got[name].numpy(), array) and got[name].numpy().dtype == array.dtype


def test_onnx_constants_by_the_name_of_their_output(tmp_path):
    model = constants_and_subgraphs()
    onnx.save_model(model, str(tmp_path / "c.onnx"))
    got = nncodec.torch.load_state_dict(nncodec.encode_file(tmp_path / "c.onnx"))
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in model.graph.node if n.op_type == "Constant"}
    constants = {name: array for name, array in constants.items() if array.dtype.kind != "O"}  # strings are not weights
    assert constants and set(constants) <= set(got)
    for name, array in constants.items():
        assert tuple(got[name].shape) == array.shape and storage_bytes(got[name]) == array.tobytes(), name
    with nncodec.load(tmp_path / "c.nnz") as f:
        assert list(got) == list(f)


def test_a_folder_gives_each_weight_file_by_its_path_or_the_files_chosen(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    save_file(bf16_state(0), root / "model.safetensors")
    torch.save({"w": torch.randn(3, 3), "w_t": torch.randn(3, 3).t()}, root / "extra.bin")
    (root / "config.json").write_text("{}")
    nnz = nncodec.encode_file(root, tmp_path / "m.nnz")
    everything = nncodec.torch.load_state_dict(nnz)
    assert sorted(everything) == sorted([f"model.safetensors:{k}" for k in bf16_state(0)] + ["extra.bin:w", "extra.bin:w_t"])
    check_same_tensors(load_file(root / "model.safetensors"), nncodec.torch.load_state_dict(nnz, files="model.safetensors"))
    check_as_torch_load(torch.load(root / "extra.bin", weights_only=True),
                        nncodec.torch.load_state_dict(nnz, files=["extra.bin"]))
    with pytest.raises(NotFoundError, match="no weight file 'config.json'"):
        nncodec.torch.load_state_dict(nnz, files=["config.json"])


@pytest.mark.parametrize("case", ["torch-zip", "torch-legacy", "safetensors-sharded"])
def test_format_1_0_files_load_as_their_decoded_files(tmp_path, case):
    nnz = GOLDEN_MODELS / f"{case}.nnz"
    out = nncodec.decode_file(nnz, tmp_path / ("model.pt" if case.startswith("torch") else "model.safetensors.index.json"))
    got = nncodec.torch.load_state_dict(nnz)
    if case.startswith("torch"):
        check_as_torch_load(torch.load(out, weights_only=True), got)
        return
    shards = sorted(p for p in tmp_path.iterdir() if p.suffix == ".safetensors")
    check_same_tensors({k: v for shard in shards for k, v in load_file(shard).items()}, got, ordered=False)


def test_a_file_of_tensors_only_gives_its_tensors():
    nnz = GOLDEN_MODELS.parent / "tensors.nnz"
    got = nncodec.torch.load_state_dict(nnz)
    with nncodec.load(nnz) as f:
        assert list(got) == list(f)
        for name in f:
            assert tuple(got[name].shape) == f[name].shape and storage_bytes(got[name]) == f[name].tobytes()


def test_another_device_gets_the_same_layout(tmp_path):
    base = torch.randn(6, 4)
    src, nnz = encoded(tmp_path, {"w": base, "w_t": base.t(), "tail": base[2:], "h": torch.ones(3, dtype=torch.bfloat16)})
    on_cpu, elsewhere = nncodec.torch.load_state_dict(nnz), nncodec.torch.load_state_dict(nnz, device="meta")
    assert list(elsewhere) == list(on_cpu)
    for name, t in on_cpu.items():
        other = elsewhere[name]
        assert other.device.type == "meta" and other.dtype == t.dtype
        assert (other.shape, other.stride(), other.storage_offset()) == (t.shape, t.stride(), t.storage_offset())
        assert other.untyped_storage().nbytes() == t.untyped_storage().nbytes()


PEAK_PROBE = """
import resource, sys, torch, nncodec.torch
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
state = nncodec.torch.load_state_dict(sys.argv[1])
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) << 10, sum(t.untyped_storage().nbytes() for t in state.values()))
"""


def test_memory_grows_by_the_tensors_and_about_one_more(tmp_path):
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    tensor_bytes = 16 << 20
    state = {f"layer{i}.weight": torch.from_numpy(rng.standard_normal(tensor_bytes // 4).astype(np.float32)) for i in range(6)}
    save_file(state, tmp_path / "big.safetensors")
    nnz = nncodec.encode_file(tmp_path / "big.safetensors")
    del state
    out = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(nnz)], capture_output=True, text=True, check=True, timeout=300)
    grown, held = map(int, out.stdout.split())
    assert held == 6 * tensor_bytes
    assert grown <= held + 2 * tensor_bytes + (48 << 20), (grown, held)
