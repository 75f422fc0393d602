"""Training-time pruning (optional: ``pip install nncodec[train]``, needs PyTorch).

Drop-in PyTorch modules and regularisers, each with a ``prune()`` that removes what the training
switched off and returns a smaller plain ``nn.Sequential``:

* ``gates``: L0 regularisation with stochastic gates: hard-concrete (Louizos, Welling and Kingma
  2018) and symmetric mixture gates (logistic and Gaussian pairs).
* ``c2s2``: cost-aware channel sparse selection: 1x1 depth-wise pruning layers and the cost-aware,
  layer-by-layer choice of each layer's sparsity.
* ``norm_l1``: weights decomposed into norm x direction per neuron / conv kernel, with an L1
  penalty (a proximal step) on the norms.
* ``surgery``: the shared model surgery (removing units, folding scales) and parameter / MAC counts.

Nothing here is imported by ``import nncodec``; torch is imported only when this package is.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    from ...errors import UnsupportedError

    raise UnsupportedError("nncodec.tools.train needs PyTorch: pip install 'nncodec[train]'") from exc
