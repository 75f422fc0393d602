"""The plan: which tensors a lossy codec may touch, and whether the sparse layer is tried.

It applies to every codec alike (the codecs themselves are in nncodec.codecs): a lossy codec
only ever sees tensors the plan allows it to touch; the others are coded lossless.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .codecs.base import Settings, check_known_keys
from .dtypes import FLOAT_DTYPES, dtype_name
from .errors import NnzError

# Name parts of biases and normalisation parameters (after splitting the name at non-letters and
# case changes): "conv1.bias", "encoder.LayerNorm.weight", "bn1.running_var", "ln_f.weight", ...
_PROTECTED_WORDS = re.compile(r"^(bias(es)?|bn\d*|ln\d*|gn\d*|norm\w*|\w*norm|running|mean|var|num|batches|tracked|"
                              r"gamma|beta)$", re.IGNORECASE)
DEFAULT_MIN_LOSSY_ELEMS = 1024
SPARSE_MODES = ("auto", "off")


def _name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", name) if w]


def _patterns(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(p, str) for p in value):
        raise NnzError(f"{what} must be a list of glob patterns")
    return tuple(value)


@dataclass(frozen=True)
class Plan(Settings):
    """``keep``: glob patterns of tensors that stay lossless; ``lossy``: patterns of float tensors
    that are lossy even if protected; ``protect`` False: every float tensor not kept is lossy;
    ``min_lossy_elems``: the smallest tensor a lossy codec touches; ``sparse``: "auto" (the
    sparse layer where smaller) or "off". See ``lossy_allowed``."""

    keep: tuple[str, ...] = ()
    lossy: tuple[str, ...] = ()
    protect: bool = True
    min_lossy_elems: int = DEFAULT_MIN_LOSSY_ELEMS
    sparse: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep", _patterns(self.keep, "keep"))
        object.__setattr__(self, "lossy", _patterns(self.lossy, "lossy"))
        if type(self.protect) is not bool:
            raise NnzError(f"protect must be true or false, not {self.protect!r}")
        if type(self.min_lossy_elems) is not int or self.min_lossy_elems < 0:
            raise NnzError(f"min-lossy-size must be a whole number >= 0, not {self.min_lossy_elems!r}")
        if self.sparse not in SPARSE_MODES:
            raise NnzError("sparse must be 'auto' or 'off'")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Plan:
        check_known_keys(cls, params, "plan")
        return cls(**params)

    def lossy_allowed(self, name: str, array: np.ndarray) -> bool:
        """Whether a lossy codec may touch tensor ``name`` (the protection rule).

        By default a tensor stays lossless unless all of these hold:
          - its dtype is a float type (integer and bool tensors are indices, shapes, quantized data);
          - it has at least 2 dimensions and ``min_lossy_elems`` elements (default 1024): vectors
            are biases and normalisation parameters, small tensors save nothing worth their error;
          - no part of its name says bias or normalisation (bias, bn1, ln_f, LayerNorm,
            running_var, gamma, beta, ...).
        ``keep`` patterns always stay lossless; ``lossy`` patterns and ``protect=False`` make every
        float tensor they cover lossy.
        """
        if dtype_name(array.dtype) not in FLOAT_DTYPES:
            return False
        if any(fnmatch.fnmatchcase(name, p) for p in self.keep):
            return False
        if any(fnmatch.fnmatchcase(name, p) for p in self.lossy) or not self.protect:
            return True
        if array.ndim < 2 or array.size < self.min_lossy_elems:
            return False
        return not any(_PROTECTED_WORDS.match(w) for w in _name_words(name))


PLAN_KEYS = Plan.keys()
