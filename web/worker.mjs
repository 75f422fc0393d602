// The page's Web Worker: decodes one .nnz file with nnz.mjs off the main thread.
//
// In:  {buffer: ArrayBuffer}  (transferred)
// Out: {type: "info", formatVersion, tensors, totalBytes | null}
//      {type: "tensors-only", message}             (no model files to restore: format 1.0)
//      {type: "progress", done, total}             (at most about 200 per file)
//      {type: "files", files: [{name, bytes, sha256}]}   (bytes transferred)
//      {type: "error", stage: "open" | "restore", code, message}
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

async function decode(buffer) {
  let file;
  try {
    file = await NNZ.open(buffer);
  } catch (e) {
    postMessage(errorMessage("open", e));
    return;
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
    postMessage({ type: "info", formatVersion: file.formatVersion, tensors: file.tensors,
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

onmessage = (event) => decode(event.data.buffer);
