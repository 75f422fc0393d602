// Decode and restore speed of the WebAssembly module (web/nnz.mjs) on one .nnz file, timed like
// bench/native_decode_speed.c: "decode" decodes every float32 tensor into WebAssembly memory
// (withTensor), "copy" the same through decodeTensor (each copied out into a new TypedArray),
// "restore" runs restore(). Best of `repeat` runs each after a second of warm-up (wall time, and
// in Node the process's CPU time too, which a busy machine disturbs less), and the first
// decode run alone (`first_decode_seconds`: engines compile WebAssembly in tiers, the optimized
// code comes in while it runs). Used by bench/bench_wasm.py in Node and, through wasm_speed.html, in
// headless Chromium.
//
//   node bench/wasm_speed.mjs FILE.nnz REPEAT [WASM]     prints the result as JSON
//
// Node also gives the SHA-256 of each restored file (bench_wasm.py checks them).

// CPU time of this process in seconds (Node.js; null in browsers, which do not tell).
const cpuNow = () => (typeof process === "object" && process.cpuUsage
  ? (({ user, system }) => (user + system) / 1e6)(process.cpuUsage()) : null);

// Wall and CPU seconds of the fastest of `repeat` runs of fn (each the least of its own kind).
function best(repeat, fn) {
  let wall = Infinity;
  let cpu = Infinity;
  for (let k = 0; k < repeat; k++) {
    const start = performance.now();
    const cpuStart = cpuNow();
    fn();
    wall = Math.min(wall, (performance.now() - start) / 1e3);
    if (cpuStart !== null) cpu = Math.min(cpu, cpuNow() - cpuStart);
  }
  return [wall, cpuNow() === null ? null : cpu];
}

export async function measure(NNZ, bytes, repeat) {
  const file = await NNZ.open(bytes);
  const float32 = file.tensors.filter((t) => t.dtype === "float32");
  const result = { decode_bytes: float32.reduce((n, t) => n + t.decodedBytes, 0),
    restore_bytes: file.restoreInfo().totalBytes };
  const decode = () => {
    for (const t of float32) file.withTensor(t.name, () => {});
  };
  [result.first_decode_seconds] = best(1, decode);
  // Warm-up for a second: the engine's optimizing tier replaces the baseline code meanwhile.
  for (const start = performance.now(); performance.now() - start < 1000;) decode();
  [result.decode_seconds, result.decode_cpu_seconds] = best(repeat, decode);
  [result.copy_seconds] = best(repeat, () => {
    for (const t of float32) file.decodeTensor(t.name);
  });
  let files = [];
  [result.restore_seconds, result.restore_cpu_seconds] = best(repeat, () => {
    files = [];  // let the previous run's files go first
    files = file.restore();
  });
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
