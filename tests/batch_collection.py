"""A small model collection for the tests of ``nncodec batch``: a base, fine-tunes of it made by
short real training loops (Adam on a classification task), exact copies (the same file, and the
same weights as a torch file), unrelated models, a sharded checkpoint folder of a small BERT and a
fine-tune of it, and a file that is no model."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

from hf_models import save_bert


def _mlp(seed: int, hidden: int = 256) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def _task(seed: int, n: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Points around 10 class centres in 64 dimensions (the task ``seed`` shifts the centres)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 64, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return centres[labels] + 0.5 * torch.randn(n, 64, generator=g), labels


def train(model: nn.Module, seed: int, steps: int, lr: float) -> dict[str, torch.Tensor]:
    x, y = _task(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def _save_safetensors(state: dict, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))


def _fine_tune_bert(src: Path, dst: Path, steps: int) -> None:
    from transformers import BertModel

    model = BertModel.from_pretrained(src)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    tokens = torch.randint(5, 64, (8, 16), generator=torch.Generator().manual_seed(3))
    for _ in range(steps):
        opt.zero_grad()
        model(input_ids=tokens).last_hidden_state.pow(2).mean().backward()
        opt.step()
    model.save_pretrained(dst, max_shard_size="40KB")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (src / name).exists():
            shutil.copy(src / name, dst / name)


def build(root: Path, big_elems: int = 0) -> dict[str, str]:
    """Writes the collection under ``root``; returns model path -> what it is. ``big_elems``: also
    a large unrelated float32 checkpoint of that many elements (for tests that need a long task)."""
    base_model = _mlp(0)
    base = train(base_model, 0, 60, 1e-2)
    _save_safetensors(base, root / "mlp/base.safetensors")
    kinds = {"mlp/base.safetensors": "base"}
    for i, (lr, steps) in enumerate([(1e-4, 10), (1e-4, 20), (3e-4, 10)]):
        tuned = _mlp(0)
        tuned.load_state_dict(base)
        _save_safetensors(train(tuned, 10 + i, steps, lr), root / f"mlp/ft{i}.safetensors")
        kinds[f"mlp/ft{i}.safetensors"] = "fine-tune"
    tuned = _mlp(0)
    tuned.load_state_dict(base)
    (root / "mlp-torch").mkdir(parents=True, exist_ok=True)
    torch.save(train(tuned, 20, 10, 1e-4), root / "mlp-torch/ft3.pt")
    kinds["mlp-torch/ft3.pt"] = "fine-tune"
    (root / "copies").mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "mlp/base.safetensors", root / "copies/base-copy.safetensors")
    torch.save(base, root / "copies/base-as-torch.pt")
    kinds.update({"copies/base-copy.safetensors": "copy", "copies/base-as-torch.pt": "copy"})
    _save_safetensors(train(_mlp(7, 128), 7, 20, 1e-2), root / "other/unrelated.safetensors")
    kinds["other/unrelated.safetensors"] = "unrelated"
    bert = save_bert(root / "bert")
    (root / "bert-vocab.txt").unlink()
    kinds["bert"] = "folder"
    _fine_tune_bert(bert, root / "bert-tuned", 3)
    kinds["bert-tuned"] = "sharded fine-tune"
    if big_elems:
        kinds[add_large_checkpoint(root, big_elems)] = "unrelated"
    (root / "README.md").write_text("a model collection\n")
    return kinds


def add_large_checkpoint(root: Path, elems: int) -> str:
    """An unrelated float32 checkpoint of ``elems`` weights (a task that takes a while)."""
    g = torch.Generator().manual_seed(5)
    _save_safetensors({"w": torch.randn(elems, generator=g) * 0.02}, root / "big/ckpt.safetensors")
    return "big/ckpt.safetensors"


def overwrite_with_fine_tune(path: Path) -> None:
    """Replaces the model at ``path`` (safetensors or torch) by a fine-tune of it (a changed source)."""
    from safetensors.torch import load_file

    model = _mlp(0)
    torch_file = path.suffix == ".pt"
    model.load_state_dict(torch.load(path, weights_only=True) if torch_file else load_file(str(path)))
    tuned = train(model, 99, 5, 1e-4)
    if torch_file:
        torch.save(tuned, path)
    else:
        _save_safetensors(tuned, path)
