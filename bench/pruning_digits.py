"""Digits (scikit-learn's bundled 8x8 handwritten digits): data, models, training, ONNX export.

Helpers of bench/bench_pruning.py. Everything is offline and seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from nncodec.tools.train import surgery


@dataclass
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(image: bool) -> Split:
    """A fixed stratified split, 60% train / 20% validation / 20% test (random_state 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    idx = np.arange(len(y))
    train, rest = train_test_split(idx, test_size=0.4, stratify=y, random_state=0)
    val, test = train_test_split(rest, test_size=0.5, stratify=y[rest], random_state=0)
    shape = (-1, 1, 8, 8) if image else (-1, 64)

    def t(i):
        return torch.from_numpy(x[i].reshape(shape)), torch.from_numpy(y[i].astype(np.int64))

    return Split(*t(train), *t(val), *t(test))


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))


def cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


MODELS: dict[str, Callable[[], nn.Sequential]] = {"mlp": mlp, "cnn": cnn}


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    model.eval()
    return model(x).argmax(1).numpy()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * int((predictions(model, x) == y.numpy()).sum()) / len(y)


def train(model: nn.Module, data: Split, epochs: int, lr: float, seed: int,
          penalty: Callable[[], torch.Tensor] | None = None,
          after_step: Callable[[float], None] | None = None, batch: int = 64,
          param_groups: list[dict] | None = None, sgd: bool = False) -> nn.Module:
    """Adam (or SGD with momentum 0.9) on cross-entropy (+ penalty()); after_step(lr) runs after
    every optimiser step; param_groups overrides the single group of all parameters at lr."""
    g = torch.Generator().manual_seed(seed)
    groups = param_groups or [{"params": list(model.parameters())}]
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9) if sgd else torch.optim.Adam(groups, lr=lr)
    n = len(data.y_train)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(n, generator=g).split(batch):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            if penalty is not None:
                loss = loss + penalty()
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step(lr)
    model.eval()
    return model


def weight_layers(model: nn.Sequential) -> list[nn.Module]:
    return [m for m in model if isinstance(m, surgery.WEIGHT_LAYERS)]


def masked_fine_tune(model: nn.Sequential, masks: list[torch.Tensor], data: Split, epochs: int, seed: int,
                     lr: float = 1e-3) -> nn.Module:
    """Train with the zero pattern of each weight layer fixed (masks: True = kept)."""
    layers = weight_layers(model)

    def apply_masks(_lr: float) -> None:
        with torch.no_grad():
            for layer, mask in zip(layers, masks):
                layer.weight.mul_(mask)

    apply_masks(lr)
    return train(model, data, epochs, lr, seed, after_step=apply_masks)


def nonzero_params(model: nn.Module) -> int:
    return surgery.count_nonzero_params(model)


# ------------------------------------------------------------------------------------------------
# ONNX export of the plain Sequential models (and back), without torch.onnx.


def to_onnx(model: nn.Sequential, input_shape: tuple[int, ...]) -> onnx.ModelProto:
    nodes, inits = [], []
    cur = "input"
    for i, m in enumerate(model):
        out = f"t{i}"
        if isinstance(m, nn.Linear):
            inits += [numpy_helper.from_array(m.weight.detach().numpy(), f"{i}.weight"),
                      numpy_helper.from_array(m.bias.detach().numpy(), f"{i}.bias")]
            nodes.append(helper.make_node("Gemm", [cur, f"{i}.weight", f"{i}.bias"], [out], transB=1))
        elif isinstance(m, nn.Conv2d):
            inits += [numpy_helper.from_array(m.weight.detach().numpy(), f"{i}.weight"),
                      numpy_helper.from_array(m.bias.detach().numpy(), f"{i}.bias")]
            p = m.padding
            nodes.append(helper.make_node("Conv", [cur, f"{i}.weight", f"{i}.bias"], [out],
                                          kernel_shape=list(m.kernel_size), pads=[p[0], p[1], p[0], p[1]]))
        elif isinstance(m, nn.ReLU):
            nodes.append(helper.make_node("Relu", [cur], [out]))
        elif isinstance(m, nn.MaxPool2d):
            nodes.append(helper.make_node("MaxPool", [cur], [out], kernel_shape=[m.kernel_size] * 2,
                                          strides=[m.stride] * 2))
        elif isinstance(m, nn.Flatten):
            nodes.append(helper.make_node("Flatten", [cur], [out], axis=1))
        elif isinstance(m, surgery.SelectInputs):
            inits.append(numpy_helper.from_array(m.indices.numpy().astype(np.int64), f"{i}.indices"))
            axis = 1 if m.channels else len(input_shape) - 1
            nodes.append(helper.make_node("Gather", [cur, f"{i}.indices"], [out], axis=axis))
        else:
            raise TypeError(f"cannot export {type(m).__name__}")
        cur = out
    nodes.append(helper.make_node("Identity", [cur], ["logits"]))
    graph = helper.make_graph(nodes, "digits", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                              ["batch", *input_shape[1:]])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def load_onnx_weights(model: nn.Sequential, weights: dict[str, np.ndarray]) -> nn.Sequential:
    """Copy ``{index}.weight`` / ``{index}.bias`` arrays (as exported by to_onnx) into ``model``."""
    with torch.no_grad():
        for i, m in enumerate(model):
            if isinstance(m, surgery.WEIGHT_LAYERS):
                m.weight.copy_(torch.from_numpy(np.array(weights[f"{i}.weight"])))
                m.bias.copy_(torch.from_numpy(np.array(weights[f"{i}.bias"])))
    return model


def onnx_predictions(path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.numpy()})[0].argmax(1)
