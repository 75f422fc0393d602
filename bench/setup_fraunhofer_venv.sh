#!/usr/bin/env bash
# Fraunhofer NNCodec 2.1.3 (DeepCABAC, ISO/IEC 15938-17) in a virtual environment of its own: its
# import name `nncodec` collides with ours, so it never goes into the project's environment. The
# benchmark runs it as a peer through bench/nncodec_peer.py. Pins: what installs and runs here.
set -euo pipefail
VENV="${1:-${NNCODEC_PEER_VENV:-$HOME/.cache/nncodec-bench/venv-fraunhofer}}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import nncodec.nnc" 2>/dev/null; then
  echo "$VENV"; exit 0
fi
python3 -m venv "$VENV"
PIP="$VENV/bin/pip install -q --disable-pip-version-check"
$PIP "torch==2.14.1" "torchvision==0.29.1"      # its import pulls torchvision
$PIP --no-deps "nncodec==2.1.3"                 # an sdist that compiles its C++ extension
$PIP "numpy<2" "opencv-python-headless<4.11" Click scikit-learn tqdm h5py pandas ptflops torchmetrics
"$VENV/bin/python" -c "import nncodec.nnc"
echo "$VENV"
