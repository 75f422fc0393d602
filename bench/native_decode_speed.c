/* Decode and restore speed of native libnnz on one thread, for bench/bench_wasm.py: the calls the
 * WebAssembly module makes (web/nnz.mjs), timed the same way as bench/wasm_speed.mjs times them.
 *
 *   native_decode_speed FILE.nnz REPEAT
 *
 * The file is read into memory and opened with nnz_open_memory. "decode": every float32 tensor
 * decoded with nnz_decode_tensor (threads = 1) into a fresh buffer; "restore": nnz_restore
 * (threads = 1) into one buffer per file, as restore() collects them. Best of REPEAT runs each.
 * Prints one JSON object: {"decode_bytes", "decode_seconds", "restore_bytes", "restore_seconds"}. */
#define _POSIX_C_SOURCE 200809L
#include <nnz/nnz.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
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

/* Seconds to decode every float32 tensor once; adds their bytes to *bytes. -1 on failure. */
static double decode_float32(const nnz_reader* r, uint64_t* bytes, nnz_error* err) {
  const double start = now();
  for (size_t i = 0; i < nnz_tensor_count(r); ++i) {
    nnz_tensor_info t;
    uint64_t size;
    void* out;
    if (nnz_tensor_info_at(r, i, &t, err) != NNZ_OK) return -1;
    if (t.dtype != NNZ_DTYPE_FLOAT32) continue;
    if (nnz_decoded_size(r, i, &size, err) != NNZ_OK) return -1;
    out = malloc(size ? (size_t)size : 1);
    if (!out || nnz_decode_tensor(r, i, out, (size_t)size, 1, err) != NNZ_OK) return -1;
    free(out);
    *bytes += size;
  }
  return now() - start;
}

int main(int argc, char** argv) {
  size_t size = 0;
  unsigned char* data;
  nnz_reader* r;
  nnz_error err;
  const nnz_sink sink = {sink_open, sink_write, sink_close};
  Collect collect = {NULL, 0, 0};
  double best_decode = 1e30, best_restore = 1e30;
  uint64_t decode_bytes = 0, restore_bytes = 0;
  size_t files;
  int repeat;
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
  for (int k = 0; k < repeat; ++k) {
    uint64_t bytes = 0;
    const double d = decode_float32(r, &bytes, &err);
    double start, elapsed;
    if (d < 0) break;
    decode_bytes = bytes;
    if (d < best_decode) best_decode = d;
    start = now();
    if (nnz_restore(r, &sink, &collect, 1, &err) != NNZ_OK) break;
    elapsed = now() - start;
    if (elapsed < best_restore) best_restore = elapsed;
  }
  if (best_restore == 1e30) {
    fprintf(stderr, "%s: %s\n", argv[1], err.message);
    return 1;
  }
  printf("{\"decode_bytes\": %llu, \"decode_seconds\": %.6f, \"restore_bytes\": %llu, \"restore_seconds\": %.6f}\n",
         (unsigned long long)decode_bytes, best_decode, (unsigned long long)restore_bytes, best_restore);
  nnz_close(r);
  free(data);
  return 0;
}
