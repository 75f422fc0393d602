"""Small transformers models built here from a config and saved with save_pretrained (nothing
downloaded), for the tests of model folders."""

from __future__ import annotations

from pathlib import Path

import torch


def save_bert(root: Path) -> Path:
    """A small BERT and its tokenizer (a WordPiece vocabulary of 64 tokens) in ``root``."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)
    BertModel(config).save_pretrained(root)
    vocab = root.parent / f"{root.name}-vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"tok{i}" for i in range(59)]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(root)
    return root


def llama(dtype: torch.dtype = torch.bfloat16, tie_word_embeddings: bool = False):
    """A small Llama for causal LM (grouped-query attention), weights in ``dtype``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=tie_word_embeddings)
    return LlamaForCausalLM(config).to(dtype)
