"""Task-level fidelity: whether a decoded model gives the same answers as the original on held-out items.

Per model a Task: held-out items of the model's own kind (none of them a calibration input), an
evaluator of the model on them (tensors replaceable, as every evaluator of bench/models.py), the
answers read from its outputs, and the agreement of two lists of answers:
  - OCR recognisers (PP-OCRv4 rec, EasyOCR): 120 text lines of seeded word combinations; answer:
    the CTC greedy decoding (argmax per step, repeats collapsed, blank 0 dropped), agreeing when
    the character sequence is identical;
  - PP-OCRv4 det: 15 pages of those lines; the DB map thresholded at 0.3, connected components with
    mean probability >= 0.5 and both sides >= 3 px, boxes grown by area x 1.6 / perimeter (RapidOCR's
    unclip, on the bounding rectangle); items: the original's boxes, each agreeing when the decoded
    model has a box with IoU >= 0.9 (one-to-one), plus the decoded model's unmatched boxes;
  - NudeNet: 12 photographs x 10 views (whole, mirrored, 8 seeded crops) and 100 mosaics of 2 x 2
    faces (the 100 faces of scikit-image's LFW subset, 4 seeded arrangements, half mirrored): the
    photographs alone give 32 boxes, too few to tell 99 %; NudeNet's letterbox, candidates with a
    class score >= 0.2, class-agnostic NMS (score 0.25, IoU 0.45) as its package does; items as for
    the detector above, a match also needing the same class;
  - EfficientNet-Lite0: the same 120 views; top-1 class per image;
  - Silero VAD (onnx, jit, safetensors): 40 s of speech the calibration did not use (20 s to
    60 s); speech decision (probability > 0.5) per 512-sample frame;
  - all-MiniLM-L6-v2: 120 seeded sentences; for each, its nearest neighbour (cosine) among the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import math

import numpy as np

import models as bench_models

Evaluator = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]

TASK_PHOTOS = ("camera", "stereo_motorcycle", "coins", "clock", "moon", "colorwheel", "retina",
               "immunohistochemistry", "hubble_deep_field", "page", "text", "cell")
VIEWS_PER_PHOTO = 10
FACE_MOSAICS = 100  # 2 x 2 mosaics of LFW faces (NudeNet)
TASK_LINES = 120
LINES_PER_PAGE = 8
TASK_SENTENCES = 120
TASK_SPEECH = (20.0, 40.0)  # start, seconds: after the 20 s the calibration uses
AGREEMENT = 0.99


@dataclass
class Task:
    """A model's held-out items, the model evaluated on them, and how its answers are compared."""

    items: str                                    # what the items are
    evaluate: Evaluator                           # replaced tensors -> outputs on the held-out inputs
    answers: Callable[[dict[str, np.ndarray]], list]
    agreement: Callable[[list, list], tuple[int, int]]  # (reference answers, answers) -> (agreeing, items)

    def answers_of(self, replaced: Mapping[str, np.ndarray]) -> list:
        return self.answers(self.evaluate(replaced))

    def answers_of_model(self, model) -> list:
        """The answers of a converted ONNX model (a ModelProto), run on the same inputs."""
        return self.answers(self.evaluate._run(self.evaluate._session({}, model=model)))


# ---------------------------------------------------------------------------------------------
# Held-out items


def task_lines(n: int = TASK_LINES, seed: int = 18) -> list[str]:
    """``n`` distinct text lines of 2-3 words (and numbers), at most 20 characters, none a calibration line."""
    rng = np.random.default_rng(seed)
    words = sorted({w.strip(".,?!") for w in " ".join(bench_models.SENTENCES + bench_models.HELD_OUT_SENTENCES).split()}
                   - {""})
    taken = set(bench_models.CALIBRATION_LINES) | set(bench_models.TEXT_LINES)
    lines: list[str] = []
    while len(lines) < n:
        pick = [str(w) for w in rng.choice(words, size=int(rng.integers(2, 4)), replace=False)]
        if rng.random() < 0.3:
            where = int(rng.integers(0, len(pick) + 1))
            pick.insert(where, rng.choice(["No.", "$", "#", ""]) + str(rng.integers(1, 9999)))
        line = " ".join(pick)
        if len(line) <= 20 and line not in taken and line not in lines:
            lines.append(line)
    return lines


def task_pages(lines: list[str]) -> list[np.ndarray]:
    return [bench_models._text_page(320, 480, lines[i:i + LINES_PER_PAGE])
            for i in range(0, len(lines), LINES_PER_PAGE)]


def task_photos(seed: int = 18) -> list[np.ndarray]:
    """RGB float photographs, each whole, mirrored and in 8 seeded crops (40-90 % of its area, half mirrored)."""
    import skimage.data

    rng = np.random.default_rng(seed)
    out = []
    for name in TASK_PHOTOS:
        pixels = getattr(skimage.data, name)()
        pixels = pixels[0] if isinstance(pixels, tuple) else pixels
        pixels = np.repeat(pixels[..., None], 3, -1) if pixels.ndim == 2 else pixels[..., :3]
        pixels = pixels.astype(np.float32) / 255.0
        h, w = pixels.shape[:2]
        views = [pixels, pixels[:, ::-1]]
        for _ in range(VIEWS_PER_PHOTO - 2):
            area, aspect = rng.uniform(0.4, 0.9), rng.uniform(0.75, 1.33)
            ch, cw = min(h, int(h * np.sqrt(area / aspect))), min(w, int(w * np.sqrt(area * aspect)))
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = pixels[y:y + ch, x:x + cw]
            views.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
        out += [np.ascontiguousarray(v) for v in views]
    return out


def task_faces(n: int = FACE_MOSAICS, seed: int = 18) -> list[np.ndarray]:
    """``n`` RGB mosaics of 2 x 2 faces (50 x 50 px) of scikit-image's LFW subset (its first 100
    images are faces), in seeded arrangements; every other one mirrored."""
    import skimage.data

    faces = skimage.data.lfw_subset()[:100].astype(np.float32)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(faces)) for _ in range(math.ceil(4 * n / len(faces)))])
    out = []
    for k in range(n):
        a, b, c, d = faces[order[4 * k:4 * k + 4]]
        tile = np.concatenate([np.concatenate([a, b], 1), np.concatenate([c, d], 1)], 0)
        tile = tile[:, ::-1] if k % 2 else tile
        out.append(np.ascontiguousarray(np.repeat(tile[..., None], 3, -1)))
    return out


SUBJECTS = ["The teacher", "My brother", "A young pilot", "The old farmer", "Our neighbour", "The nurse",
            "A tourist", "The manager", "The little girl", "A famous singer", "The mechanic", "My aunt"]
ACTIONS = ["bought a new bicycle", "cooked dinner for everyone", "missed the morning train", "painted the fence",
           "wrote a long letter", "lost the house keys", "planted apple trees", "repaired the old radio",
           "read a book about volcanoes", "visited the art museum", "sold the family car", "learned to play chess"]
WHEN = ["last weekend", "in the city centre", "before breakfast", "after the storm", "at the airport",
        "during the holidays", "on a rainy Tuesday", "near the harbour", "with great care", "for the first time"]


def task_sentences(n: int = TASK_SENTENCES, seed: int = 18) -> list[str]:
    rng = np.random.default_rng(seed)
    combos = [(s, a, w) for s in range(len(SUBJECTS)) for a in range(len(ACTIONS)) for w in range(len(WHEN))]
    picked = rng.choice(len(combos), size=n, replace=False)
    return [f"{SUBJECTS[combos[i][0]]} {ACTIONS[combos[i][1]]} {WHEN[combos[i][2]]}." for i in picked]


# ---------------------------------------------------------------------------------------------
# Answers


def ctc_greedy(steps: np.ndarray) -> tuple[int, ...]:
    """CTC greedy decoding of (time, classes) scores: argmax per step, repeats collapsed, blank 0 dropped."""
    best = steps.argmax(-1)
    keep = np.concatenate([[True], best[1:] != best[:-1]]) & (best != 0)
    return tuple(int(c) for c in best[keep])


def recognised_text(output: str, lines: int, classes: int) -> Callable[[dict], list]:
    return lambda out: [ctc_greedy(s) for s in out[output].reshape(lines, -1, classes)]


def top1(output: str, classes: int) -> Callable[[dict], list]:
    return lambda out: [int(c) for c in out[output].reshape(-1, classes).argmax(-1)]


def speech_frames(out: dict) -> list:
    return [bool(p > 0.5) for p in out["speech_prob"]]


def nearest_neighbours(output: str, dim: int) -> Callable[[dict], list]:
    def answers(out):
        e = out[output].reshape(-1, dim)
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        sim = e @ e.T
        np.fill_diagonal(sim, -np.inf)
        return [int(j) for j in sim.argmax(1)]
    return answers


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box a (x0, y0, x1, y1) with each row of b."""
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = w * h
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    order, keep = list(np.argsort(-scores, kind="stable")), []
    while order:
        i = order.pop(0)
        keep.append(i)
        if order:
            overlap = iou(boxes[i], boxes[order])
            order = [j for j, o in zip(order, overlap) if o <= threshold]
    return keep


def yolo_boxes(output: str, images: int, classes: int = 18) -> Callable[[dict], list]:
    """NudeNet's post-processing: per image [(class, box)] (boxes in the 320 x 320 input)."""
    def answers(out):
        result = []
        for pred in out[output].reshape(images, 4 + classes, -1):
            scores = pred[4:].max(0)
            cand = np.flatnonzero(scores >= 0.2)
            cx, cy, w, h = pred[:4, cand]
            boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
            kept = [i for i in nms(boxes, scores[cand], 0.45) if scores[cand][i] >= 0.25]
            result.append([(int(pred[4:, cand[i]].argmax()), boxes[i]) for i in kept])
        return result
    return answers


def db_boxes(output: str, pages: int, height: int = 320, width: int = 480) -> Callable[[dict], list]:
    """Text boxes of a DB probability map, roughly as RapidOCR finds them: per page [(0, box)]."""
    from scipy import ndimage

    def page_boxes(prob):
        labels, count = ndimage.label(prob > 0.3)
        boxes = []
        for k, found in enumerate(ndimage.find_objects(labels), 1):
            ys, xs = found
            h, w = ys.stop - ys.start, xs.stop - xs.start
            if min(h, w) < 3 or prob[found][labels[found] == k].mean() < 0.5:
                continue
            grow = h * w * 1.6 / (2 * (h + w))
            boxes.append((0, np.array([xs.start - grow, ys.start - grow, xs.stop + grow, ys.stop + grow])))
        return boxes
    return lambda out: [page_boxes(p) for p in out[output].reshape(pages, height, width)]


def same_answers(reference: list, answers: list) -> tuple[int, int]:
    return sum(a == b for a, b in zip(reference, answers)), len(reference)


def boxes_agreement(reference: list, answers: list, threshold: float = 0.9) -> tuple[int, int]:
    """Per image, the reference boxes matched one-to-one (same class, IoU >= threshold, best first);
    items: the reference boxes plus the unmatched boxes of the answers."""
    agreeing = items = 0
    for ref, got in zip(reference, answers):
        pairs = sorted(((float(iou(rb, gb[None])[0]), i, j) for i, (rc, rb) in enumerate(ref)
                        for j, (gc, gb) in enumerate(got) if rc == gc), reverse=True)
        used_ref, used_got = set(), set()
        for overlap, i, j in pairs:
            if overlap >= threshold and i not in used_ref and j not in used_got:
                used_ref.add(i)
                used_got.add(j)
        agreeing += len(used_ref)
        items += len(ref) + len(got) - len(used_got)
    return agreeing, items


# ---------------------------------------------------------------------------------------------


def task_for(key: str, bench) -> Task:
    """The task of bench model ``key`` (bench: its BenchModel, which gives the model on raw inputs)."""
    if key in ("ocr_rec", "easyocr"):
        lines = task_lines()
        ev = bench.on_inputs(lines)
        output = next(iter(ev({})))
        classes = 6625 if key == "ocr_rec" else bench.tensors["module.Prediction.weight"].shape[0]
        return Task("text lines", ev, recognised_text(output, len(lines), classes), same_answers)
    if key == "ocr_det":
        pages = task_pages(task_lines())
        ev = bench.on_inputs(pages)
        return Task(f"boxes on {len(pages)} text pages", ev, db_boxes(next(iter(ev({}))), len(pages)), boxes_agreement)
    if key == "nudenet":
        images = task_photos() + task_faces()
        ev = bench.on_inputs(images)
        return Task(f"boxes on {len(images) - FACE_MOSAICS} photo views + {FACE_MOSAICS} face mosaics", ev,
                    yolo_boxes(next(iter(ev({}))), len(images)), boxes_agreement)
    if key == "efficientnet":
        photos = task_photos()
        return Task("photo views", bench.on_inputs(photos), top1("logits", 1000), same_answers)
    if key.startswith("vad"):
        ev = bench.on_inputs(bench_models._speech(TASK_SPEECH[1], TASK_SPEECH[0]))
        return Task(f"frames of {TASK_SPEECH[1]:.0f} s of speech", ev, speech_frames, same_answers)
    if key == "minilm":
        sentences = task_sentences()
        return Task("sentences", bench.on_inputs(sentences), nearest_neighbours("embedding", 384),
                    same_answers)
    raise KeyError(f"no task for model {key!r}")
