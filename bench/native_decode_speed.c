/* Decode and restore speed of native libnnz on one thread, for bench/bench_wasm.py: the calls the
 * WebAssembly module makes (web/nnz.mjs), timed the same way as bench/wasm_speed.mjs times them.
 *
 *   native_decode_speed FILE.nnz REPEAT
 *
 * The file is read into memory and opened with nnz_open_memory. "decode": every float32 tensor
 * decoded with nnz_decode_tensor (threads = 1) into a fresh buffer; "restore": nnz_restore
 * (threads = 1) into one buffer per file, as restore() collects them. Best of REPEAT runs each.
 * Prints one JSON object: {"decode_bytes", "decode_seconds", "decode_cpu_seconds", "restore_bytes",
 * "restore_seconds", "restore_cpu_seconds"} (wall and CPU time of the fastest run of each). */
#define _POSIX_C_SOURCE 200809L
#include <nnz/nnz.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall time, and the CPU time of this thread (what other processes on a busy machine take from
 * it does not count). */
typedef struct {
  double wall, cpu;
} Clock;

static double seconds(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static Clock now(void) {
  Clock c = {seconds(CLOCK_MONOTONIC), seconds(CLOCK_THREAD_CPUTIME_ID)};
  return c;
}
/* Keeps in *best the shortest wall and CPU times, of those so far and the run since `start`. */
static void keep_best(Clock start, Clock* best) {
  const Clock end = now();
  if (end.wall - start.wall < best->wall) best->wall = end.wall - start.wall;
  if (end.cpu - start.cpu < best->cpu) best->cpu = end.cpu - start.cpu;
}

static unsigned char* read_all(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* data = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
    *size = (size_t)n;
  }
  fclose(f);
  return data;
}

/* One buffer per restored file, freed on close (the bytes are not kept: only timed). */
typedef struct {
  unsigned char* file;
  size_t at, size;
} Collect;

static int sink_open(void* ctx, const char* name, uint64_t size) {
  Collect* c = ctx;
  (void)name;
  c->file = malloc(size ? (size_t)size : 1);
  c->at = 0;
  c->size = (size_t)size;
  return c->file == NULL;
}
static int sink_write(void* ctx, const void* data, size_t size) {
  Collect* c = ctx;
  if (c->at + size > c->size) return 1;
  memcpy(c->file + c->at, data, size);
  c->at += size;
  return 0;
}
static int sink_close(void* ctx) {
  Collect* c = ctx;
  free(c->file);
  c->file = NULL;
  return c->at != c->size;
}

/* Decodes every float32 tensor once; adds their bytes to *bytes. 0 on failure. */
static int decode_float32(const nnz_reader* r, uint64_t* bytes, nnz_error* err) {
  for (size_t i = 0; i < nnz_tensor_count(r); ++i) {
    nnz_tensor_info t;
    uint64_t size;
    void* out;
    if (nnz_tensor_info_at(r, i, &t, err) != NNZ_OK) return 0;
    if (t.dtype != NNZ_DTYPE_FLOAT32) continue;
    if (nnz_decoded_size(r, i, &size, err) != NNZ_OK) return 0;
    out = malloc(size ? (size_t)size : 1);
    if (!out || nnz_decode_tensor(r, i, out, (size_t)size, 1, err) != NNZ_OK) return 0;
    free(out);
    *bytes += size;
  }
  return 1;
}

int main(int argc, char** argv) {
  size_t size = 0;
  unsigned char* data;
  nnz_reader* r;
  nnz_error err;
  const nnz_sink sink = {sink_open, sink_write, sink_close};
  Collect collect = {NULL, 0, 0};
  Clock best_decode = {1e30, 1e30}, best_restore = {1e30, 1e30};
  uint64_t decode_bytes = 0, restore_bytes = 0;
  size_t files;
  int repeat, k;
  if (argc != 3 || (repeat = atoi(argv[2])) < 1) {
    fprintf(stderr, "usage: native_decode_speed FILE.nnz REPEAT\n");
    return 2;
  }
  if (!(data = read_all(argv[1], &size))) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  if (nnz_open_memory(data, size, NULL, &r, &err) != NNZ_OK ||
      nnz_restore_size(r, &files, &restore_bytes, &err) != NNZ_OK) {
    fprintf(stderr, "%s: %s\n", argv[1], err.message);
    return 1;
  }
  for (k = 0; k < repeat; ++k) {
    Clock start = now();
    decode_bytes = 0;
    if (!decode_float32(r, &decode_bytes, &err)) break;
    keep_best(start, &best_decode);
    start = now();
    if (nnz_restore(r, &sink, &collect, 1, &err) != NNZ_OK) break;
    keep_best(start, &best_restore);
  }
  if (k < repeat) {
    fprintf(stderr, "%s: %s\n", argv[1], err.message);
    return 1;
  }
  printf("{\"decode_bytes\": %llu, \"decode_seconds\": %.6f, \"decode_cpu_seconds\": %.6f, \"restore_bytes\": %llu, "
         "\"restore_seconds\": %.6f, \"restore_cpu_seconds\": %.6f}\n",
         (unsigned long long)decode_bytes, best_decode.wall, best_decode.cpu, (unsigned long long)restore_bytes,
         best_restore.wall, best_restore.cpu);
  nnz_close(r);
  free(data);
  return 0;
}
