// The page's Web Worker: decodes one .nnz file with nnz.mjs off the main thread.
//
// In:  {buffer: ArrayBuffer, bases: [{name, buffer}]}  (transferred; bases: .nnz files, the
//      base model of a file coded against one and, for a chain, the bases below it, found by
//      the file name each file records for its base)
// Out: {type: "info", formatVersion, tensors, base: {name, tensorCount} | null, totalBytes | null}
//      {type: "tensors-only", message}             (no model files to restore: format 1.0)
//      {type: "progress", done, total}             (at most about 200 per file)
//      {type: "files", files: [{name, bytes, sha256}]}   (bytes transferred)
//      {type: "error", stage: "open" | "base" | "restore", code, message}
import * as NNZ from "./nnz.mjs";

async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function progressReporter(total) {
  const step = Math.max(1, Math.floor(total / 200));
  let next = 0;
  return (done) => {
    if (done < next && done < total) return;
    next = done + step;
    postMessage({ type: "progress", done, total });
  };
}

function errorMessage(stage, e) {
  return { type: "error", stage, code: e instanceof NNZ.NnzError ? e.code : null, message: String(e.message ?? e) };
}

// A chain of base files cannot be longer than the files given; 16 as nncodec's max_base_depth.
const MAX_BASE_DEPTH = 16;

// Attaches to `file` its base among `bases` (by the name the file records), itself opened with its
// own base attached, down the chain.
async function attachBase(file, bases, depth = 1) {
  const entry = bases.find((b) => b.name === file.base.name);
  if (!entry) {
    throw new NNZ.NnzError(NNZ.STATUS.BASE, `the file was coded against the base model '${file.base.name}': choose its .nnz file as the base`);
  }
  if (depth > MAX_BASE_DEPTH) throw new NNZ.NnzError(NNZ.STATUS.BASE, `a chain of more than ${MAX_BASE_DEPTH} base models`);
  const base = await NNZ.open(entry.buffer);
  try {
    if (base.base) await attachBase(base, bases, depth + 1);
    file.attachBase(base);
  } finally {
    base.close();
  }
}

async function decode(buffer, bases) {
  let file;
  try {
    file = await NNZ.open(buffer);
  } catch (e) {
    postMessage(errorMessage("open", e));
    return;
  }
  if (file.base) {
    try {
      await attachBase(file, bases);
    } catch (e) {
      postMessage({ type: "info", formatVersion: file.formatVersion, tensors: file.tensors, base: file.base, totalBytes: null });
      postMessage(errorMessage("base", e));
      file.close();
      return;
    }
  }
  try {
    let restore = null;
    let unsupported = null;  // files of format 1.0, or holding tensors only: no model files
    try {
      restore = file.restoreInfo();
    } catch (e) {
      if (!(e instanceof NNZ.NnzError && e.code === NNZ.STATUS.UNSUPPORTED)) throw e;
      unsupported = e;
    }
    postMessage({ type: "info", formatVersion: file.formatVersion, tensors: file.tensors, base: file.base,
      totalBytes: restore ? restore.totalBytes : null });
    if (unsupported) {
      postMessage({ type: "tensors-only", message: unsupported.message });
      return;
    }
    const files = file.restore({ onProgress: progressReporter(restore.totalBytes) });
    const out = await Promise.all(files.map(async (f) => ({ ...f, sha256: await sha256(f.bytes) })));
    postMessage({ type: "files", files: out }, out.map((f) => f.bytes.buffer));
  } catch (e) {
    postMessage(errorMessage("restore", e));
  } finally {
    file.close();
  }
}

onmessage = (event) => decode(event.data.buffer, event.data.bases ?? []);
