"""nncodec.transformers: a transformers model and tokenizer from a compressed model folder, equal
to from_pretrained on the original folder (same outputs, bit for bit), with no weights on disk.
Models are built here from a config (nothing downloaded)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

import nncodec
import nncodec.transformers
from hf_models import llama, save_bert
from nncodec.errors import UnsupportedError

TOKENS = torch.tensor([[2, 7, 11, 30, 5, 3, 9, 1]])


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> tuple[Path, Path]:
    root = save_bert(tmp_path_factory.mktemp("bert") / "tiny-bert")
    return root, nncodec.encode_file(root, root.with_name("tiny-bert.nnz"))


@pytest.fixture(scope="module")
def llama_sharded(tmp_path_factory) -> tuple[Path, Path]:
    """A bfloat16 Llama saved in three safetensors shards, with its own generation settings."""
    from transformers import GenerationConfig

    root = tmp_path_factory.mktemp("llama") / "tiny-llama"
    model = llama(torch.bfloat16)
    model.generation_config = GenerationConfig(do_sample=True, temperature=0.7, top_p=0.9, max_new_tokens=5)
    model.save_pretrained(root, max_shard_size="40KB")
    assert len(list(root.glob("model-*.safetensors"))) > 1
    return root, nncodec.encode_file(root, root.with_name("tiny-llama.nnz"))


def loaded_alike(model_class, root: Path, nnz: Path, **kwargs):
    """``from_pretrained`` on the folder and nncodec's on its .nnz file, checked to give the same
    model: class, dtype, config, every weight, the first output (hidden states or logits)."""
    want = model_class.from_pretrained(root, **kwargs)
    got = nncodec.transformers.from_pretrained(model_class, nnz, **kwargs)
    assert type(got) is type(want) and got.dtype == want.dtype and got.training == want.training is False
    assert got.config.to_diff_dict() | {"_name_or_path": ""} == want.config.to_diff_dict() | {"_name_or_path": ""}
    ours, theirs = got.state_dict(), want.state_dict()
    assert list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
    with torch.no_grad():
        assert torch.equal(got(TOKENS)[0], want(TOKENS)[0])
    return want, got


def test_bert_equals_from_pretrained_on_the_folder(bert):
    from transformers import AutoModel, BertModel

    root, nnz = bert
    for model_class in (BertModel, AutoModel):
        _, got = loaded_alike(model_class, root, nnz)
        assert got.config.name_or_path == str(nnz)


def test_the_tokenizer_comes_from_the_container(bert):
    from transformers import AutoTokenizer

    root, nnz = bert
    want, got = AutoTokenizer.from_pretrained(root), nncodec.transformers.tokenizer(nnz)
    assert type(got) is type(want) and got.get_vocab() == want.get_vocab()
    text = "tok1 tok7 tok58 unknown"
    assert got(text)["input_ids"] == want(text)["input_ids"]


def test_a_sharded_bfloat16_llama_gives_the_same_logits_and_generation_settings(llama_sharded):
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    root, nnz = llama_sharded
    for model_class in (LlamaForCausalLM, AutoModelForCausalLM):
        want, got = loaded_alike(model_class, root, nnz)
        assert got.dtype == torch.bfloat16
        assert got.generation_config.to_dict() == want.generation_config.to_dict()


def test_from_pretrained_keywords_are_transformers_own(llama_sharded):
    from transformers import AutoModelForCausalLM

    root, nnz = llama_sharded
    kwargs = {"dtype": torch.float32, "attn_implementation": "eager", "rms_norm_eps": 1e-3}  # a config override too
    _, got = loaded_alike(AutoModelForCausalLM, root, nnz, **kwargs)
    assert got.dtype == torch.float32 and got.config.rms_norm_eps == 1e-3 and got.config._attn_implementation == "eager"


def test_tied_embeddings_and_pytorch_bin_weights(tmp_path):
    from transformers import LlamaForCausalLM

    model = llama(torch.float32, tie_word_embeddings=True)
    root = tmp_path / "bin-llama"
    model.config.save_pretrained(root)
    torch.save(model.state_dict(), root / "pytorch_model.bin")  # how older checkpoints ship
    torch.save({"state": {0: {"exp_avg": torch.ones(3)}}}, root / "optimizer.pt")  # weights, not the model's
    _, got = loaded_alike(LlamaForCausalLM, root, nncodec.encode_file(root))
    assert got.lm_head.weight.data_ptr() == got.model.embed_tokens.weight.data_ptr()
    (root / "pytorch_model.bin").unlink()
    with pytest.raises(UnsupportedError, match="none of the weight files from_pretrained reads"):
        nncodec.transformers.from_pretrained(LlamaForCausalLM, nncodec.encode_file(root, force=True))


def test_no_weights_are_written_and_the_support_files_go_away(llama_sharded, monkeypatch, tmp_path):
    from transformers import LlamaForCausalLM

    root, nnz = llama_sharded
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with nncodec.transformers.support_files(nnz) as folder:
        assert sorted(p.name for p in folder.iterdir()) == ["config.json", "generation_config.json"]
        assert (folder / "config.json").read_bytes() == (root / "config.json").read_bytes()
    nncodec.transformers.from_pretrained(LlamaForCausalLM, nnz)
    assert list(tmp_path.iterdir()) == []


def test_a_single_model_file_is_not_a_folder(tmp_path):
    from transformers import BertModel

    torch.save({"w": torch.ones(2)}, tmp_path / "m.pt")
    with pytest.raises(UnsupportedError, match="not a model folder"):
        nncodec.transformers.from_pretrained(BertModel, nncodec.encode_file(tmp_path / "m.pt"))
