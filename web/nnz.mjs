// nnz.mjs: the .nnz decoder (libnnz compiled to WebAssembly) as an ES module, for browsers, Web
// Workers and Node.js (18+). No dependency; nnz.wasm is loaded from beside this file by default.
//
//   import * as NNZ from "./nnz.mjs";
//   const file = await NNZ.open(arrayBuffer);        // validates header and index
//   file.tensors          // [{name, dtype, shape, codec, codedBytes, decodedBytes}]
//   file.decodeTensor(name)                           // a TypedArray (see ARRAY_TYPES)
//   file.withTensor(name, (view) => ...)              // the same without a copy, during the call
//   file.restore({onProgress})                        // [{name, bytes: Uint8Array}]
//   file.base             // null, or {name, tensorCount} for a file coded against a base model
//   file.attachBase(baseFile or tensors)              // before decoding such a file (--base)
//   file.close();
//
// Every failure of the library is thrown as an NnzError: `.code` is the nnz_status of the C API
// (1 corrupt, 2 checksum, 3 unsupported, ... see STATUS), `.message` the library's message.
// Everything runs on the calling thread (one thread inside WebAssembly): call it from a Worker
// to keep a page responsive. Docs: web/README.md.

export const STATUS = Object.freeze({
  OK: 0, CORRUPT: 1, CHECKSUM: 2, UNSUPPORTED: 3, LIMIT: 4, INVALID_ARGUMENT: 5, IO: 6, NOT_FOUND: 7,
  INTERNAL: 8, OUT_OF_MEMORY: 9, UNSAFE: 10, BASE: 11,
});

export class NnzError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "NnzError";
    this.code = code;
  }
}

// The array type decodeTensor returns for each dtype: the element bytes as stored, little-endian.
// float16 and bfloat16 come as their 16-bit patterns, bool as one byte (0 or 1) per element.
export const ARRAY_TYPES = Object.freeze({
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array,
  uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array,
});

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();
const isNode = typeof process === "object" && typeof process.versions?.node === "string";

async function wasmSource(source) {
  if (source instanceof WebAssembly.Module || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    return source;
  }
  const url = new URL(source ?? "nnz.wasm", import.meta.url);
  if (url.protocol === "file:" && isNode) {
    const { readFile } = await import("node:fs/promises");
    return readFile(url);
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

let runtime = null;

// Loads and compiles the WebAssembly module once (open() calls it). `source`: a URL or path
// relative to this file (default "nnz.wasm"), the module's bytes, or a WebAssembly.Module.
export function init(source) {
  runtime ??= wasmSource(source).then(async (bytes) => {
    const sinks = new SinkTable();
    const imports = {
      nnz_js: {
        sink_open: (ctx, name, size) => sinks.call(ctx, (s) => s.open(rt.string(name), size)),
        sink_write: (ctx, data, size) => sinks.call(ctx, (s) => s.write(rt.bytes(data, size))),
        sink_close: (ctx) => sinks.call(ctx, (s) => s.close()),
      },
      env: { emscripten_notify_memory_growth: () => {} },
      wasi_snapshot_preview1: { proc_exit: (code) => { throw new NnzError(STATUS.INTERNAL, `libnnz aborted (${code})`); } },
    };
    const { instance } = bytes instanceof WebAssembly.Module
      ? { instance: await WebAssembly.instantiate(bytes, imports) }
      : await WebAssembly.instantiate(bytes, imports);
    const rt = new Runtime(instance.exports, sinks);
    return rt;
  });
  runtime.catch(() => { runtime = null; });  // a failed load may be retried
  return runtime;
}

// Opens a .nnz file held in memory (ArrayBuffer or a typed array view; copied into WebAssembly
// memory, so the caller's buffer may be reused or transferred afterwards).
export async function open(data, options = {}) {
  const rt = await init(options.wasm);
  return new NnzFile(rt, data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

export async function version() {
  const rt = await init();
  return rt.string(rt.x.nnz_version_string());
}

// Restore sinks in progress, by the id the C side passes back (restore() is synchronous, so
// there is one at a time, but nothing here relies on it).
class SinkTable {
  constructor() { this.sinks = new Map(); this.next = 1; }
  add(sink) { const id = this.next++; this.sinks.set(id, sink); return id; }
  remove(id) { this.sinks.delete(id); }
  // Runs fn on the sink; an exception becomes a non-zero return (C must not unwind through JS
  // frames) and is kept to be rethrown by restore().
  call(id, fn) {
    const sink = this.sinks.get(id);
    try {
      fn(sink);
      return 0;
    } catch (e) {
      sink.error ??= e;
      return 1;
    }
  }
}

// The instantiated module: exports, memory views and the out-parameters the C API writes.
class Runtime {
  constructor(exports, sinks) {
    this.x = exports;
    this.sinks = sinks;
    exports._initialize?.();
    this.error = this.malloc(exports.nnzw_error_size());
    this.messageOffset = exports.nnzw_error_message_offset();
    this.scratch = this.malloc(16);  // u64 and size_t out-parameters
    const layout = exports.nnzw_tensor_info_layout() >>> 0;
    const fields = ["size", "name", "nameLength", "dtype", "elementSize", "rank", "shape", "elementCount",
      "decodedBytes", "codedBytes", "codec"];
    this.info = Object.fromEntries(fields.map((f, i) => [f, this.view().getUint32(layout + 4 * i, true)]));
    this.infoPtr = this.malloc(this.info.size);
    const baseLayout = exports.nnzw_base_tensor_layout() >>> 0;
    this.baseTensor = Object.fromEntries(["size", "name", "dtype", "rank", "shape", "data", "bytes"]
      .map((f, i) => [f, this.view().getUint32(baseLayout + 4 * i, true)]));
    this.dtypeCodes = new Map();  // "float32" -> 1, ... (the codes the library knows)
    for (let code = 1; code < 64; ++code) {
      const name = exports.nnz_dtype_name(code) >>> 0;
      if (name) this.dtypeCodes.set(this.string(name), code);
    }
  }
  // Fresh views each time: growing the memory detaches the old buffer.
  view() { return new DataView(this.x.memory.buffer); }
  heap() { return new Uint8Array(this.x.memory.buffer); }
  bytes(ptr, size) { return new Uint8Array(this.x.memory.buffer, ptr >>> 0, size >>> 0); }
  u32(ptr) { return this.view().getUint32(ptr >>> 0, true); }
  u64(ptr) { return Number(this.view().getBigUint64(ptr >>> 0, true)); }
  string(ptr) {
    const heap = this.heap();
    const start = ptr >>> 0;
    const end = heap.indexOf(0, start);
    return utf8.decode(heap.subarray(start, end));
  }
  malloc(size) {
    const ptr = this.x.malloc(Math.max(size, 1)) >>> 0;
    if (ptr === 0) throw new NnzError(STATUS.OUT_OF_MEMORY, `out of memory (WebAssembly heap, ${size} bytes)`);
    return ptr;
  }
  free(ptr) { this.x.free(ptr); }
  // A copy of `bytes` in WebAssembly memory (to be freed by the caller).
  copyIn(bytes) {
    const ptr = this.malloc(bytes.length);
    this.heap().set(bytes, ptr);
    return ptr;
  }
  // Throws the library's error when a call returned a status other than NNZ_OK.
  check(status) {
    if (status === STATUS.OK) return;
    const code = this.u32(this.error);
    throw new NnzError(code, this.string(this.error + this.messageOffset));
  }
}

function tensorInfo(rt, reader, index) {
  rt.check(rt.x.nnz_tensor_info_at(reader, index, rt.infoPtr, rt.error));
  const at = (field) => rt.infoPtr + rt.info[field];
  const rank = rt.u32(at("rank"));
  const shapePtr = rt.u32(at("shape"));
  const shape = Array.from({ length: rank }, (_, d) => rt.u64(shapePtr + 8 * d));
  const dtypeCode = rt.view().getInt32(at("dtype"), true);
  const dtypeName = rt.x.nnz_dtype_name(dtypeCode) >>> 0;
  return {
    name: rt.string(rt.u32(at("name"))),
    dtype: dtypeName ? rt.string(dtypeName) : `dtype ${dtypeCode}`,
    shape,
    codec: rt.string(rt.u32(at("codec"))),
    codedBytes: rt.u64(at("codedBytes")),
    decodedBytes: rt.u64(at("decodedBytes")),
  };
}

// Collects restored files into JavaScript memory, reporting progress.
class CollectSink {
  constructor(total, onProgress) {
    this.total = total;
    this.done = 0;
    this.onProgress = onProgress;
    this.files = [];
    this.current = null;
    this.error = null;
  }
  open(name, size) {
    this.current = { name, bytes: new Uint8Array(size), written: 0 };
  }
  write(chunk) {
    const f = this.current;
    if (f.written + chunk.length > f.bytes.length) throw new NnzError(STATUS.INTERNAL, `${f.name}: more bytes than announced`);
    f.bytes.set(chunk, f.written);
    f.written += chunk.length;
    this.done += chunk.length;
    this.onProgress?.(this.done, this.total);
  }
  close() {
    const { name, bytes, written } = this.current;
    if (written !== bytes.length) throw new NnzError(STATUS.INTERNAL, `${name}: fewer bytes than announced`);
    this.files.push({ name, bytes });
    this.current = null;
  }
}

export class NnzFile {
  constructor(rt, data) {
    this.rt = rt;
    this.data = rt.copyIn(data);
    this.reader = 0;
    this.baseBuffers = [];  // base tensors attached from JavaScript memory: borrowed by the reader
    try {
      rt.check(rt.x.nnz_open_memory(this.data, data.length, 0, rt.scratch, rt.error));
      this.reader = rt.u32(rt.scratch);
      rt.check(rt.x.nnz_format_version(this.reader, rt.scratch, rt.scratch + 4, rt.error));
      this.formatVersion = `${rt.u32(rt.scratch)}.${rt.u32(rt.scratch + 4)}`;
      const count = rt.x.nnz_tensor_count(this.reader) >>> 0;
      this.tensors = Array.from({ length: count }, (_, i) => tensorInfo(rt, this.reader, i));
      this.base = null;
      if (rt.x.nnz_needs_base(this.reader) === 1) {
        rt.check(rt.x.nnz_base_info(this.reader, rt.scratch, rt.scratch + 4, rt.error));
        this.base = { name: rt.string(rt.u32(rt.scratch)), tensorCount: rt.u32(rt.scratch + 4) };
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.index = new Map(this.tensors.map((t, i) => [t.name, i]));
  }

  #live() {
    if (!this.reader) throw new NnzError(STATUS.INVALID_ARGUMENT, "the file is closed");
    return this.reader;
  }

  // The decoded tensor (by name or index) as a new TypedArray of ARRAY_TYPES[dtype].
  decodeTensor(nameOrIndex) {
    return this.withTensor(nameOrIndex, (view) => view.slice());
  }

  // Decodes a tensor into WebAssembly memory and returns fn(view), `view` a TypedArray of
  // ARRAY_TYPES[dtype] over the decoded elements, without copying them (for a GPU upload, a
  // hash, a copy into a buffer of your own). The view is valid during the call only: its memory
  // is freed afterwards, and any call into this module (on any file) may move it.
  withTensor(nameOrIndex, fn) {
    const reader = this.#live();
    const rt = this.rt;
    const index = typeof nameOrIndex === "number" ? nameOrIndex : this.index.get(nameOrIndex);
    if (index === undefined) throw new NnzError(STATUS.NOT_FOUND, `no tensor named '${nameOrIndex}'`);
    rt.check(rt.x.nnz_decoded_size(reader, index, rt.scratch, rt.error));
    const size = rt.u64(rt.scratch);
    const Type = ARRAY_TYPES[this.tensors[index].dtype] ?? Uint8Array;
    const out = rt.malloc(size);  // malloc aligns to 8 bytes: any element type can view it
    try {
      rt.check(rt.x.nnz_decode_tensor(reader, index, out, size, 1, rt.error));
      return fn(new Type(rt.x.memory.buffer, out, size / Type.BYTES_PER_ELEMENT));
    } finally {
      rt.free(out);
    }
  }

  // The model's files without restoring them: {files: [{name, size}], totalBytes}. Throws
  // NnzError UNSUPPORTED for files written before format 1.1 and files holding tensors only.
  restoreInfo() {
    const reader = this.#live();
    const rt = this.rt;
    rt.check(rt.x.nnz_restore_size(reader, rt.scratch, rt.scratch + 8, rt.error));
    const count = rt.u32(rt.scratch);
    const totalBytes = rt.u64(rt.scratch + 8);
    const files = Array.from({ length: count }, (_, i) => {
      rt.check(rt.x.nnz_restore_file(reader, i, rt.scratch, rt.scratch + 8, rt.error));
      return { name: rt.string(rt.u32(rt.scratch)), size: rt.u64(rt.scratch + 8) };
    });
    return { files, totalBytes };
  }

  // Every file of the model, byte for byte as encoded: [{name, bytes}] in order (the model file
  // first). `onProgress(bytesDone, bytesTotal)` is called as bytes come out.
  restore({ onProgress } = {}) {
    const reader = this.#live();
    const sink = new CollectSink(this.restoreInfo().totalBytes, onProgress);
    const id = this.rt.sinks.add(sink);
    try {
      const status = this.rt.x.nnzw_restore(reader, id, this.rt.error);
      if (sink.error) throw sink.error;
      this.rt.check(status);
    } finally {
      this.rt.sinks.remove(id);
    }
    return sink.files;
  }

  // Attaches the base model that a file coded against one (`nncodec encode --base`, `file.base`
  // not null) needs before its delta tensors decode or its files restore. `base` is another open
  // NnzFile (with its own base attached, for a chain of checkpoints; it may be closed afterwards),
  // or the base tensors, [{name, dtype, shape, data}] or {name: {dtype, shape, data}} with `data`
  // a TypedArray or ArrayBuffer of the element bytes (little-endian, C order; copied into
  // WebAssembly memory and kept until close()). Every base tensor the file refers to is checked
  // against its fingerprint (name, dtype, shape, XXH64 of the bytes): the first one missing or
  // different throws NnzError BASE naming it, and nothing is attached. A file whose model files
  // are a patch against the base's (format 1.6: a fine-tune or checkpoint keeps its base's layout)
  // restores them only with the base attached as an NnzFile; with tensors, restore() throws BASE.
  attachBase(base) {
    const reader = this.#live();
    if (base instanceof NnzFile) {
      this.rt.check(this.rt.x.nnz_attach_base(reader, base.#live(), 1, this.rt.error));
      return this;
    }
    const tensors = Array.isArray(base) ? base : Object.entries(base).map(([name, t]) => ({ name, ...t }));
    const temporary = [];  // the entries, names and shapes: read during the call only
    const kept = [];
    try {
      const rt = this.rt;
      const layout = rt.baseTensor;
      const entries = rt.malloc(layout.size * tensors.length);
      temporary.push(entries);
      tensors.forEach((t, i) => {
        const code = rt.dtypeCodes.get(t.dtype);
        if (code === undefined) throw new NnzError(STATUS.INVALID_ARGUMENT, `base tensor '${t.name}': unknown dtype '${t.dtype}'`);
        const bytes = t.data instanceof ArrayBuffer ? new Uint8Array(t.data)
          : new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        const name = rt.copyIn(utf8Encoder.encode(`${t.name}\0`));
        temporary.push(name);
        const shape = rt.malloc(8 * t.shape.length);
        temporary.push(shape);
        t.shape.forEach((d, k) => rt.view().setBigUint64(shape + 8 * k, BigInt(d), true));
        const data = rt.copyIn(bytes);
        kept.push(data);
        const at = entries + layout.size * i;
        const view = rt.view();
        view.setUint32(at + layout.name, name, true);
        view.setInt32(at + layout.dtype, code, true);
        view.setUint32(at + layout.rank, t.shape.length, true);
        view.setUint32(at + layout.shape, shape, true);
        view.setUint32(at + layout.data, data, true);
        view.setUint32(at + layout.bytes, bytes.length, true);
      });
      rt.check(rt.x.nnz_attach_base_tensors(reader, entries, tensors.length, rt.error));
      this.baseBuffers.push(...kept.splice(0));
      return this;
    } finally {
      for (const ptr of [...temporary, ...kept]) this.rt.free(ptr);
    }
  }

  // Frees the WebAssembly memory the file takes (the reader, the copy of its bytes, the base
  // tensors attached from JavaScript).
  close() {
    if (this.reader) this.rt.x.nnz_close(this.reader);
    if (this.data) this.rt.free(this.data);
    for (const ptr of this.baseBuffers) this.rt.free(ptr);
    this.reader = 0;
    this.data = 0;
    this.baseBuffers = [];
  }
}
