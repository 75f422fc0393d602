// What the WebAssembly decoder makes of .nnz files, as one JSON document on stdout, for
// tests/web/test_wasm_node.py to compare with the Python decoder.
//
//   node web/test/report.mjs FILE.nnz...
//
// Per file: the format version, every tensor's listing with the array type decodeTensor gave, its
// length and the SHA-256 of its bytes (and the same of the view withTensor gives), the restored files (name, size, SHA-256) with what the
// progress callback saw, and what calls on a closed file and on a missing tensor throw. Any
// failure is recorded as {error: {name, code, message}}: NnzError's code, or null for anything
// else (a trap of the WebAssembly module, a bug in nnz.mjs).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import * as NNZ from "../nnz.mjs";

const sha256 = (view) =>
  createHash("sha256").update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)).digest("hex");

function failure(e) {
  const code = e instanceof NNZ.NnzError ? e.code : null;
  return { error: { name: e?.name ?? typeof e, code, message: String(e?.message ?? e) } };
}

function attempt(fn) {
  try {
    return fn();
  } catch (e) {
    return failure(e);
  }
}

const describe = (a) => ({ array: a.constructor.name, length: a.length, sha256: sha256(a) });

function decoded(file, tensor) {
  return attempt(() => describe(file.decodeTensor(tensor.name)));
}

function restored(file) {
  const progress = { calls: 0, last: null, monotonic: true };
  return attempt(() => {
    const files = file.restore({
      onProgress: (done, total) => {
        if (progress.last && done < progress.last[0]) progress.monotonic = false;
        progress.calls += 1;
        progress.last = [done, total];
      },
    });
    return { files: files.map((f) => ({ name: f.name, size: f.bytes.length, sha256: sha256(f.bytes) })), progress };
  });
}

async function report(path) {
  let file;
  try {
    file = await NNZ.open(readFileSync(path));
  } catch (e) {
    return { path, ...failure(e) };
  }
  const out = {
    path,
    formatVersion: file.formatVersion,
    tensors: file.tensors.map((t) => ({ ...t, decoded: decoded(file, t), viewed: attempt(() => file.withTensor(t.name, describe)) })),
    restore: restored(file),
    missing: attempt(() => file.decodeTensor("\u0001 no such tensor")),
  };
  file.close();
  out.closed = attempt(() => file.decodeTensor(0));
  return out;
}

const results = [];
for (const path of process.argv.slice(2)) results.push(await report(path));
process.stdout.write(JSON.stringify({ version: await NNZ.version(), status: NNZ.STATUS, files: results }));
