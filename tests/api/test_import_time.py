"""``import nncodec`` is cheap: at most 100 ms in a fresh interpreter, and onnx, torch and
onnxruntime stay unimported until something needs them (the public names load on first use)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("onnx", "torch", "onnxruntime")
PROBE = """
import json, sys, time
start = time.perf_counter()
import nncodec
seconds = time.perf_counter() - start
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print(json.dumps({"seconds": seconds, "heavy": heavy, "public": sorted(nncodec.__all__)}))
""" % (HEAVY,)


def probe() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_import_nncodec_takes_at_most_100_ms_without_heavy_modules():
    runs = [probe() for _ in range(5)]  # the best of five: the machine may be busy with other work
    assert all(r["heavy"] == [] for r in runs), runs[0]["heavy"]
    assert min(r["seconds"] for r in runs) <= 0.100, [round(r["seconds"], 3) for r in runs]


def test_public_names_load_on_first_use():
    code = ("import sys, nncodec; assert 'numpy' not in sys.modules; f = nncodec.encode_file; "
            "assert callable(f) and 'nncodec.api' in sys.modules; "
            "assert {'torch', 'onnxruntime'}.isdisjoint(sys.modules); print(sorted(dir(nncodec))[:1])")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
