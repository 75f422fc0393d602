// The page: takes a dropped or chosen .nnz file (and the .nnz files of its base model, if it was
// coded against one), hands them to worker.mjs and shows what comes back (tensor table, progress,
// one download link per restored file with its SHA-256).
// document.body.dataset.state says where it is: idle, decoding, done or error (tests wait on it).

const $ = (id) => document.getElementById(id);
const status = $("status");
const progress = $("progress");
let worker = null;
let links = [];  // object URLs of the previous file's downloads
let started = 0;
let current = null;  // the file last chosen: decoded again when base files are chosen after it
let bases = [];      // the base files chosen

function setState(state, text) {
  document.body.dataset.state = state;
  status.textContent = text;
  status.className = state === "error" ? "error" : "";
}

function megabytes(n) {
  return `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;
}

function row(cells, numeric = []) {
  const tr = document.createElement("tr");
  cells.forEach((cell, i) => {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell); else td.textContent = cell;
    if (numeric.includes(i)) td.className = "num";
    tr.append(td);
  });
  return tr;
}

function showTensors(tensors) {
  const body = $("tensors").tBodies[0];
  body.replaceChildren(...tensors.map((t) =>
    row([t.name, t.dtype, t.shape.length ? t.shape.join("×") : "scalar", t.codec, String(t.codedBytes)], [4])));
  $("tensors-section").hidden = false;
}

function showFiles(files) {
  const body = $("files").tBodies[0];
  body.replaceChildren(...files.map((f) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([f.bytes], { type: "application/octet-stream" }));
    a.download = f.name.split("/").pop();
    a.textContent = f.name;
    links.push(a.href);
    const hash = document.createElement("span");
    hash.className = "hash";
    hash.textContent = f.sha256;
    return row([a, String(f.bytes.length), hash], [1]);
  }));
  $("files-section").hidden = false;
}

function onMessage({ data: m }) {
  if (m.type === "info") {
    showTensors(m.tensors);
    const against = m.base ? `, coded against ${m.base.name}` : "";
    setState("decoding", `Format ${m.formatVersion}, ${m.tensors.length} tensors${against}.`);
    if (m.totalBytes !== null) {
      progress.max = Math.max(m.totalBytes, 1);
      progress.hidden = false;
      setState("decoding", `Format ${m.formatVersion}, ${m.tensors.length} tensors: restoring ${megabytes(m.totalBytes)}…`);
    }
  } else if (m.type === "tensors-only") {
    setState("done", `Listed the tensors; no model file to download: ${m.message}.`);
  } else if (m.type === "progress") {
    progress.value = m.done;
    status.textContent = `Restoring: ${Math.floor((100 * m.done) / Math.max(m.total, 1))}% ` +
      `(${megabytes(m.done)} of ${megabytes(m.total)})`;
  } else if (m.type === "files") {
    progress.value = progress.max;
    showFiles(m.files);
    const total = m.files.reduce((n, f) => n + f.bytes.length, 0);
    setState("done", `Restored ${m.files.length} file(s), ${megabytes(total)}, in ${Math.round(performance.now() - started)} ms.`);
  } else if (m.type === "error") {
    const code = m.code === null ? "" : ` (code ${m.code})`;
    const what = { open: "Cannot read this file", base: "Cannot attach the base model", restore: "Cannot restore the model" };
    setState("error", `${what[m.stage]}: ${m.message}${code}`);
  }
}

async function decodeFile(file) {
  current = file;
  worker?.terminate();
  links.forEach((url) => URL.revokeObjectURL(url));
  links = [];
  $("tensors-section").hidden = true;
  $("files-section").hidden = true;
  progress.hidden = true;
  progress.value = 0;
  setState("decoding", `Reading ${file.name} (${megabytes(file.size)})…`);
  started = performance.now();
  const buffer = await file.arrayBuffer();
  const baseFiles = await Promise.all(bases.map(async (f) => ({ name: f.name, buffer: await f.arrayBuffer() })));
  worker = new Worker(new URL("worker.mjs", import.meta.url), { type: "module" });
  worker.onmessage = onMessage;
  worker.onerror = (e) => setState("error", `The decoder failed to start: ${e.message ?? "worker error"}`);
  worker.postMessage({ buffer, bases: baseFiles }, [buffer, ...baseFiles.map((b) => b.buffer)]);
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) decodeFile(e.dataTransfer.files[0]);
});
$("file").addEventListener("change", (e) => { if (e.target.files.length) decodeFile(e.target.files[0]); });
$("base").addEventListener("change", (e) => {
  bases = Array.from(e.target.files);
  if (current) decodeFile(current);
});
setState("idle", "No file yet.");
