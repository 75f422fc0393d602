// What the WebAssembly decoder makes of .nnz files, as one JSON document on stdout, for
// tests/web/test_wasm_node.py to compare with the Python decoder.
//
//   node web/test/report.mjs FILE.nnz...
//   node web/test/report.mjs '{"path": "FILE.nnz", "bases": ["BASE.nnz", "ITS_BASE.nnz"], "as": "file"}'
//
// A file coded against a base model gets its base attached first: "bases" is its chain, nearest
// first, each attached to the one before it; "as": "file" attaches the nearest as an open file,
// "tensors" as its decoded tensors held in JavaScript memory ("tamper": true flips a bit of the
// first one that has bytes, which the fingerprint check must refuse).
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

// The nearest base of the chain, opened with its own chain attached (the caller closes it).
async function openChain(bases) {
  if (bases.length === 0) return null;
  const file = await NNZ.open(readFileSync(bases[0]));
  const below = await openChain(bases.slice(1));
  if (below) {
    file.attachBase(below);
    below.close();
  }
  return file;
}

async function attachBases(file, bases, as, tamper) {
  const base = await openChain(bases);
  try {
    if (as === "tensors") {
      const tensors = base.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: base.decodeTensor(t.name) }));
      const victim = tensors.find((t) => t.data.byteLength > 0);
      if (tamper) new Uint8Array(victim.data.buffer, victim.data.byteOffset, 1)[0] ^= 1;
      file.attachBase(tensors);
    } else {
      file.attachBase(base);
    }
    return { attached: true };
  } finally {
    base.close();
  }
}

async function report(spec) {
  const { path, bases = [], as = "file", tamper = false } = spec.startsWith("{") ? JSON.parse(spec) : { path: spec };
  let file;
  try {
    file = await NNZ.open(readFileSync(path));
  } catch (e) {
    return { path, ...failure(e) };
  }
  const attach = bases.length ? await attachBases(file, bases, as, tamper).catch(failure) : null;
  const out = {
    path,
    formatVersion: file.formatVersion,
    base: file.base,
    attach,
    tensors: file.tensors.map((t) => ({ ...t, decoded: decoded(file, t), viewed: attempt(() => file.withTensor(t.name, describe)) })),
    restore: restored(file),
    missing: attempt(() => file.decodeTensor("\u0001 no such tensor")),
  };
  file.close();
  out.closed = attempt(() => file.decodeTensor(0));
  return out;
}

const results = [];
for (const spec of process.argv.slice(2)) results.push(await report(spec));
process.stdout.write(JSON.stringify({ version: await NNZ.version(), status: NNZ.STATUS, files: results }));
