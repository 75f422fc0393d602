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


def same_model(a, b) -> None:
    assert type(a) is type(b) and a.dtype == b.dtype and a.training == b.training is False
    assert a.config.to_diff_dict() | {"_name_or_path": ""} == b.config.to_diff_dict() | {"_name_or_path": ""}
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_bert_equals_from_pretrained_on_the_folder(bert):
    from transformers import AutoModel, BertModel

    root, nnz = bert
    for model_class in (BertModel, AutoModel):
        want = model_class.from_pretrained(root)
        got = nncodec.transformers.from_pretrained(model_class, nnz)
        same_model(want, got)
        with torch.no_grad():
            assert torch.equal(got(TOKENS).last_hidden_state, want(TOKENS).last_hidden_state)
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
        want = model_class.from_pretrained(root)
        got = nncodec.transformers.from_pretrained(model_class, nnz)
        same_model(want, got)
        assert got.dtype == torch.bfloat16
        assert got.generation_config.to_dict() == want.generation_config.to_dict()
        with torch.no_grad():
            assert torch.equal(got(TOKENS).logits, want(TOKENS).logits)


def test_from_pretrained_keywords_are_transformers_own(llama_sharded):
    from transformers import AutoModelForCausalLM

    root, nnz = llama_sharded
    kwargs = {"dtype": torch.float32, "attn_implementation": "eager", "rms_norm_eps": 1e-3}  # a config override too
    want = AutoModelForCausalLM.from_pretrained(root, **kwargs)
    got = nncodec.transformers.from_pretrained(AutoModelForCausalLM, nnz, **kwargs)
    same_model(want, got)
    assert got.config.rms_norm_eps == 1e-3 and got.config._attn_implementation == "eager"
    with torch.no_grad():
        assert torch.equal(got(TOKENS).logits, want(TOKENS).logits)


def test_tied_embeddings_and_pytorch_bin_weights(tmp_path):
    from transformers import LlamaForCausalLM

    model = llama(torch.float32, tie_word_embeddings=True)
    root = tmp_path / "bin-llama"
    model.config.save_pretrained(root)
    torch.save(model.state_dict(), root / "pytorch_model.bin")  # how older checkpoints ship
    want = LlamaForCausalLM.from_pretrained(root)
    got = nncodec.transformers.from_pretrained(LlamaForCausalLM, nncodec.encode_file(root))
    same_model(want, got)
    assert got.lm_head.weight.data_ptr() == got.model.embed_tokens.weight.data_ptr()
    with torch.no_grad():
        assert torch.equal(got(TOKENS).logits, want(TOKENS).logits)


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
