// Decode and restore speed of the WebAssembly module (web/nnz.mjs) on one .nnz file, timed like
// bench/native_decode_speed.c: "decode" decodes every float32 tensor with decodeTensor (into
// WebAssembly memory, then copied out into a new TypedArray), "restore" runs restore(). Best of
// `repeat` runs each, and the first decode run alone (`first_decode_seconds`: engines compile
// WebAssembly in tiers, the optimized code comes in while it runs). Used by bench/bench_wasm.py in Node and, through wasm_speed.html, in
// headless Chromium.
//
//   node bench/wasm_speed.mjs FILE.nnz REPEAT [WASM]     prints the result as JSON
//
// Node also gives the SHA-256 of each restored file (bench_wasm.py checks them).

export async function measure(NNZ, bytes, repeat) {
  const file = await NNZ.open(bytes);
  const float32 = file.tensors.filter((t) => t.dtype === "float32");
  const result = { decode_bytes: float32.reduce((n, t) => n + t.decodedBytes, 0), decode_seconds: Infinity,
    restore_bytes: file.restoreInfo().totalBytes, restore_seconds: Infinity };
  let files = [];
  for (let k = 0; k < repeat; k++) {
    let start = performance.now();
    for (const t of float32) file.decodeTensor(t.name);
    const seconds = (performance.now() - start) / 1e3;
    if (k === 0) result.first_decode_seconds = seconds;
    result.decode_seconds = Math.min(result.decode_seconds, seconds);
    files = [];  // let the previous run's files go first
    start = performance.now();
    files = file.restore();
    result.restore_seconds = Math.min(result.restore_seconds, (performance.now() - start) / 1e3);
  }
  file.close();
  return { result, files };
}

const isMain = typeof process === "object" && process.argv?.[1] && import.meta.url === (await import("node:url")).pathToFileURL(process.argv[1]).href;
if (isMain) {
  const [{ readFileSync }, { createHash }] = await Promise.all([import("node:fs"), import("node:crypto")]);
  const NNZ = await import("../web/nnz.mjs");
  const [path, repeat, wasm] = process.argv.slice(2);
  if (wasm) await NNZ.init(readFileSync(wasm));
  const { result, files } = await measure(NNZ, readFileSync(path), Number(repeat || 3));
  result.files = files.map((f) => ({ name: f.name, sha256: createHash("sha256").update(f.bytes).digest("hex") }));
  process.stdout.write(JSON.stringify(result));
}
