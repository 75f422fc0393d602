"""Do fidelity targets met on generated inputs hold on other generated inputs? How many runs?

    python bench/generated_targets.py [--models ocr_cls,ocr_det,...] [--runs 4:0,8:4,16:8]
                                      [--targets 0.999,0.9995,0.9999] [--fresh 16] [--fresh-seeds 1000-1007]

Without --inputs, `nncodec encode --target-cosine` searches on random inputs generated from the
model's input signature. For each public ONNX model and each (searched runs : held-out runs)
setting, this runs the search as the encoder does (nearest rounding, the encoder's lossy tensors)
and then judges the chosen bounds on FRESH runs of another seed, as `nncodec verify --samples 16
--seed 1000` would: the min over outputs of the cosine over those runs. Reported per target: the
coded size of the lossy tensors, the cosine reached on the searched runs (and held-out ones), on
the fresh runs of each of several seeds (the worst seed, the first, and on how many seeds the
target held), the evaluations and seconds. Also whether a stricter target ever gave a smaller
file. Prints a Markdown table; the machine is printed with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from nncodec.codecs.coding import EncodeOptions, lossy_candidate  # noqa: E402
from nncodec.errors import NnzError  # noqa: E402
from nncodec.fidelity import OnnxEvaluator, choose_error_bounds, coded_tensor, output_cosines  # noqa: E402
from nncodec.formats import onnx_format  # noqa: E402

MODELS = {
    "ocr_cls": "rapidocr-onnxruntime__ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "ocr_det": "rapidocr-onnxruntime__ch_PP-OCRv4_det_infer.onnx",
    "ocr_rec": "rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx",
    "vad_onnx": "silero-vad__silero_vad.onnx",
    "nudenet": "nudenet__320n.onnx",
}


def fresh_cosines(doc, decoded: dict, runs: int, seeds: list[int]) -> list[float]:
    """Per seed: min over outputs of the cosine over ``runs`` generated runs of that seed (runs
    the search never saw), as `nncodec verify --samples RUNS --seed SEED` measures it."""
    result = []
    for seed in seeds:
        fresh = OnnxEvaluator(doc, generated_runs=runs, held_out_runs=0, seed=seed, block_runs=0)
        result.append(min(output_cosines(fresh({}), fresh(decoded)).values()))
    return result


def one_setting(doc, runs: int, held: int, block: int, targets: list[float], fresh: int,
                fresh_seeds: list[int]) -> list[dict]:
    options = EncodeOptions(codec="eb")
    evaluator = OnnxEvaluator(doc, generated_runs=runs, held_out_runs=held, block_runs=block)
    candidates = [n for n, a in doc.tensors.items() if lossy_candidate(n, a, options)]
    rows, measurements = [], None
    for target in sorted(targets):
        t0 = time.perf_counter()
        try:
            plan = choose_error_bounds(doc.tensors, candidates, evaluator, target, options=options,
                                       measurements=measurements)
        except NnzError:  # not reachable on some group of runs even at the finest bounds
            rows.append(dict(runs=runs, held=held, block=block, target=target, bytes=None))
            continue
        seconds = time.perf_counter() - t0
        measurements = plan.measurements
        decoded = {n: coded_tensor(doc.tensors, n, e, None, options) for n, e in plan.error_by_tensor.items()}
        rows.append(dict(runs=runs, held=held, block=block, target=target, bytes=plan.coded_bytes, achieved=plan.achieved,
                         fresh=fresh_cosines(doc, decoded, fresh, fresh_seeds), evaluations=plan.evaluations,
                         seconds=seconds))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--runs", default="4:0:0,16:8:0,32:16:4,64:32:8",
                   help="searched:held-out:block run counts to compare (block 0: not judged by blocks)")
    p.add_argument("--targets", default="0.999,0.9995,0.9999")
    p.add_argument("--fresh", type=int, default=16)
    p.add_argument("--fresh-seeds", default="1000-1007", help="seeds of the fresh runs (FIRST-LAST)")
    args = p.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    first, last = (int(v) for v in args.fresh_seeds.split("-"))
    fresh_seeds = list(range(first, last + 1))
    settings = [tuple(int(v) for v in s.split(":")) for s in args.runs.split(",")]
    paths = corpus.fetch(names=[MODELS[k] for k in args.models.split(",")])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"command: python bench/generated_targets.py {' '.join(sys.argv[1:])}\n")
    print("| model | runs searched : held out : block | target | lossy bytes | cosine (searched, held-out) | "
          f"fresh {args.fresh} runs: worst seed | seed {first} | seeds met | evaluations | seconds |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in args.models.split(","):
        doc = onnx_format.read(paths[MODELS[key]])
        for runs, held, block in settings:
            rows = one_setting(doc, runs, held, block, targets, args.fresh, fresh_seeds)
            sizes = [r["bytes"] for r in rows if r["bytes"] is not None]
            monotone = all(a <= b for a, b in zip(sizes, sizes[1:]))  # targets ascending: stricter later
            for r in rows:
                if r["bytes"] is None:
                    print(f"| {key} | {runs} : {held} : {block or '-'} | {r['target']} | unreachable "
                          "(some group of runs misses it at the finest bounds) | | | | | | |")
                    continue
                print(f"| {key} | {runs} : {held} : {block or '-'} | {r['target']} | {r['bytes']:,} | {r['achieved']:.6f} | "
                      f"{min(r['fresh']):.6f} | {r['fresh'][0]:.6f} | "
                      f"{sum(c >= r['target'] for c in r['fresh'])}/{len(r['fresh'])} | "
                      f"{r['evaluations']} | {r['seconds']:.1f} |")
            if not monotone:
                print(f"| {key} | {runs} : {held} : {block or '-'} | a stricter target gave a smaller file | | | | | | | |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
