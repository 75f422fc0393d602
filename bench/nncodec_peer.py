"""Runs Fraunhofer NNCodec 2.1.3 on a set of tensors; executed with the peer's own interpreter
(bench/setup_fraunhofer_venv.sh), never imported by the project.

    python nncodec_peer.py TENSORS.npz OUT_DIR QP [QP ...]

For each QP (absolute step 2^(QP/4)): OUT_DIR/qp{QP}.npz with the decoded tensors, and a line of
"RESULT " + JSON on stdout: {"qp", "bytes", "encode_s", "decode_s"} (NNCodec prints too).
"""

import json
import sys
import time

import numpy as np
from nncodec import nnc


def main() -> None:
    src, out_dir, qps = sys.argv[1], sys.argv[2], [int(q) for q in sys.argv[3:]]
    with np.load(src) as data:
        tensors = {k: np.ascontiguousarray(data[k], dtype=np.float32) for k in data.files}
    for qp in qps:
        t0 = time.perf_counter()
        bitstream = nnc.compress(dict(tensors), qp=qp, qp_density=2, use_dq=True, return_bitstream=True)
        t1 = time.perf_counter()
        decoded = nnc.decompress(bitstream)
        t2 = time.perf_counter()
        np.savez(f"{out_dir}/qp{qp}.npz", **{k: np.asarray(decoded[k], np.float32) for k in tensors})
        print("RESULT " + json.dumps({"qp": qp, "bytes": len(bitstream), "encode_s": t1 - t0, "decode_s": t2 - t1}),
              flush=True)


if __name__ == "__main__":
    main()
