"""``nncodec compare``: the size of every tensor of a model in each format, side by side.

Formats: dense (the raw elements), CSR with 32-bit indices (csr32) and with minimal-width indices
(csr), CER and CSER (Wiedemann et al. 2020), nncodec's lossless codec, and the plan with PL
(``pl``: PL where it applies and helps, lossless elsewhere; the lossless column, like the encoder,
stores a tensor raw where coding does not make it smaller). Sizes are exact byte counts of the
real encoders (docs/piecewise-linearization.md defines the comparison formats); nncodec sizes
include each tensor's codec parameters. PL tensors are decoded again to measure their largest
error against the bound p.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core
from ..codecs import pl as _pl
from ..codecs.coding import EncodeOptions, decode_encoded, planned
from ..dtypes import dtype_name, element_bytes
from ..display import fit, name_width
from ..errors import NnzError
from ..plan import DEFAULT_MIN_LOSSY_ELEMS

MEASURED = _pl.CODEC  # the codec compare measures (its settings are compare's options)

MATRIX_FORMATS = ("dense", "csr32", "csr", "cer", "cser")
COLUMNS = MATRIX_FORMATS + ("lossless", "pl")
STAT_KEYS = ("position_bytes", "exception_bytes", "line_id_bytes", "table_bytes", "line_bytes", "slope_bytes",
             "framing_bytes")


@dataclass
class TensorSizes:
    name: str
    dtype: str
    shape: list[int]
    sizes: dict[str, int]         # column -> bytes
    codec: str                    # what the pl plan used for this tensor: "pl" or "lossless"
    error_bound: float | None = None
    max_error: float = 0.0        # measured by decoding (0 for exact coding)
    pl_stats: dict[str, int] = field(default_factory=dict)

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass
class Comparison:
    model: str
    settings: str
    tensors: list[TensorSizes]

    def total(self, where: Callable[[TensorSizes], bool] = lambda t: True) -> dict[str, int]:
        return {c: sum(t.sizes[c] for t in self.tensors if where(t)) for c in COLUMNS}

    def float32_total(self) -> dict[str, int]:
        return self.total(lambda t: t.dtype == "float32")

    def bits_per_weight(self) -> dict[str, float]:
        """Where the bytes of the PL-coded tensors go, in bits per weight they hold."""
        coded = [t for t in self.tensors if t.codec == "pl"]
        n = sum(t.elements for t in coded)
        if not n:
            return {}
        out = {k.removesuffix("_bytes"): 8 * sum(t.pl_stats.get(k, 0) for t in coded) / n for k in STAT_KEYS}
        out["params"] = 8 * sum(t.sizes["pl"] for t in coded) / n - sum(out.values())
        out["total"] = 8 * sum(t.sizes["pl"] for t in coded) / n
        return out

    def worst_error_ratio(self) -> float:
        """Largest max_error / p over the PL-coded tensors (<= 1 when the bound holds)."""
        ratios = [t.max_error / t.error_bound if t.error_bound else (0.0 if t.max_error == 0 else np.inf)
                  for t in self.tensors if t.codec == "pl"]
        return max(ratios, default=0.0)

    def to_json(self) -> dict[str, Any]:
        total, f32 = self.total(), self.float32_total()
        return {
            "model": self.model,
            "settings": self.settings,
            "tensors": [asdict(t) for t in self.tensors],
            "total": total,
            "float32_total": f32,
            "ratio_vs_dense": {c: _ratio(total["dense"], total[c]) for c in COLUMNS},
            "size_vs_csr32": {c: _ratio(total[c], total["csr32"]) for c in COLUMNS},
            "float32_ratio_vs_dense": {c: _ratio(f32["dense"], f32[c]) for c in COLUMNS},
            "float32_size_vs_csr32": {c: _ratio(f32[c], f32["csr32"]) for c in COLUMNS},
            "pl_bits_per_weight": self.bits_per_weight(),
            "pl_worst_error_over_p": self.worst_error_ratio(),
        }


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _matrix_rows(array: np.ndarray) -> int:
    return array.shape[0] if array.ndim else 1


def compare_tensor(name: str, array: np.ndarray, options: EncodeOptions) -> TensorSizes:
    dtype = dtype_name(array.dtype)
    if dtype is None:
        raise NnzError(f"tensor {name!r}: unsupported dtype {array.dtype}")
    data = element_bytes(array)
    rows = _matrix_rows(array)
    sizes = {f: int(_core.matrix_format_bytes(f, data, dtype, rows)) for f in MATRIX_FORMATS}
    lossless = _core.encode_lossless(data, dtype, options.chunk_elems, options.threads)
    # What `nncodec encode` writes: the lossless codec, or the raw bytes where that is not smaller.
    sizes["lossless"] = min(lossless.coded_bytes + len(lossless.params), sizes["dense"])
    result = TensorSizes(name, dtype, list(array.shape), sizes, "lossless")
    sizes["pl"] = sizes["lossless"]
    if planned(name, array, options)[0] is MEASURED:
        coded, stats = _pl.fit(array, options.settings, options.threads)
        pl_bytes = coded.coded_bytes + len(coded.params)
        if pl_bytes < sizes["lossless"]:  # the plan's rule: PL only where it is smaller
            flat = array.reshape(-1)
            finite = np.isfinite(flat)
            decoded = decode_encoded(coded, array).reshape(-1)
            if not np.array_equal(decoded[~finite].view(np.uint32), flat[~finite].view(np.uint32)):
                raise NnzError(f"tensor {name!r}: pl did not keep its NaN/Inf values")  # a bug, never expected
            err = np.abs(decoded[finite].astype(np.float64) - flat[finite].astype(np.float64))
            sizes["pl"] = pl_bytes
            result.codec = "pl"
            result.error_bound = MEASURED.describe(coded.params)["error_bound"]
            result.max_error = float(err.max()) if err.size else 0.0
            result.pl_stats = {k: int(stats[k]) for k in STAT_KEYS}
    return result


def compare_tensors(tensors: Mapping[str, np.ndarray], options: EncodeOptions, model: str = "",
                    progress: Callable[[str, np.ndarray], None] | None = None) -> Comparison:
    if options.codec != MEASURED.id:
        raise NnzError(f"compare measures the {MEASURED.id} codec: EncodeOptions(codec={MEASURED.id!r}, ...)")
    rows = []
    for name, array in tensors.items():
        rows.append(compare_tensor(name, array, options))
        if progress:
            progress(name, array)
    return Comparison(model, options.settings.label(), rows)


def compare_file(model: str | Path, params: Mapping[str, Any] | None = None, threads: int = 1,
                 progress: Callable[[str, np.ndarray], None] | None = None) -> Comparison:
    from .. import formats

    model = Path(model)
    if not model.is_file():
        raise NnzError(f"{model}: no such file")
    doc = formats.detect(model).read(model)
    options = EncodeOptions.from_params(MEASURED.id, params, threads=threads)
    return compare_tensors(doc.tensors, options, model.name, progress)


# ---------------------------------------------------------------------------------------------
# Presentation

_HEAD = {"dense": "dense", "csr32": "CSR32", "csr": "CSR", "cer": "CER", "cser": "CSER", "lossless": "lossless",
         "pl": "PL"}


def format_table(c: Comparison, max_rows: int | None = None) -> str:
    """The per-tensor table with totals and ratios (plain text, aligned)."""
    name_w = name_width([t.name for t in c.tensors], 44, "tensor")
    head = f"{'tensor':<{name_w}} {'shape':<16}" + "".join(f" {_HEAD[col]:>12}" for col in COLUMNS) + \
        f" {'codec':>8} {'err/p':>6}"
    lines = [f"{c.model}: {c.settings}", head, "-" * len(head)]
    shown = c.tensors if max_rows is None else c.tensors[:max_rows]
    for t in shown:
        name = fit(t.name, name_w)
        shape = "x".join(map(str, t.shape)) or "scalar"
        errp = f"{t.max_error / t.error_bound:.3f}" if t.codec == "pl" and t.error_bound else "-"
        lines.append(f"{name:<{name_w}} {shape:<16}" + "".join(f" {t.sizes[col]:>12,}" for col in COLUMNS) +
                     f" {t.codec:>8} {errp:>6}")
    if len(shown) < len(c.tensors):
        lines.append(f"... {len(c.tensors) - len(shown)} more tensors")
    lines.append("-" * len(head))
    for label, total in (("total", c.total()), ("float32 tensors", c.float32_total())):
        lines.append(f"{label:<{name_w + 17}}" + "".join(f" {total[col]:>12,}" for col in COLUMNS))
        lines.append(f"{'  ratio vs dense':<{name_w + 17}}" +
                     "".join(f" {_fmt(_ratio(total['dense'], total[col]), 'x'):>12}" for col in COLUMNS))
        lines.append(f"{'  size vs CSR32':<{name_w + 17}}" +
                     "".join(f" {_fmt(_ratio(total[col], total['csr32']), ''):>12}" for col in COLUMNS))
    bpw = c.bits_per_weight()
    if bpw:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in bpw.items() if k != "total")
        lines.append(f"PL bits per weight: {bpw['total']:.3f} ({parts})")
        lines.append(f"PL largest error / p: {c.worst_error_ratio():.4f}")
    return "\n".join(lines)


def _fmt(v: float | None, suffix: str) -> str:
    return "-" if v is None else f"{v:.3f}{suffix}"


def plot(c: Comparison, path: str | Path) -> None:
    """Ratio against dense per tensor (float tensors of at least 1024 elements), as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        raise NnzError("--plot needs matplotlib: pip install matplotlib") from None
    shown = [t for t in c.tensors if t.elements >= DEFAULT_MIN_LOSSY_ELEMS and t.dtype.startswith(("float", "bfloat"))]
    if not shown:
        raise NnzError(f"nothing to plot: no float tensor with at least {DEFAULT_MIN_LOSSY_ELEMS} elements")
    x = np.arange(len(shown))
    fig, ax = plt.subplots(figsize=(max(8.0, len(shown) * 0.08), 4.5))
    for col, style in (("pl", "-o"), ("lossless", "-s"), ("csr", "--"), ("csr32", ":"), ("cser", "-.")):
        ratios = [t.sizes["dense"] / t.sizes[col] if t.sizes[col] else np.nan for t in shown]
        ax.plot(x, ratios, style, markersize=2.5, linewidth=1, label=_HEAD[col])
    ax.axhline(1.0, color="grey", linewidth=0.5)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
    ax.set_xlabel("tensor (file order)")
    ax.set_ylabel("ratio vs dense (higher is smaller)")
    ax.set_title(f"{c.model}: {c.settings}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
