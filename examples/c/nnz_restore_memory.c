/* nnz_restore_memory: restore the model files a .nnz file holds into memory with libnnz, the way
 * an app hands a runtime its model without writing anything to disk, and list them:
 *
 *   <size>  <XXH64 of the bytes, 16 hex digits>  <name>
 *
 * With OUT, the first file (the model itself: .onnx, .pt, .safetensors) is also written there, for
 * a runtime that wants a path.
 *
 * usage: nnz_restore_memory FILE.nnz [OUT]
 * build: cc nnz_restore_memory.c $(pkg-config --cflags --libs nnz)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnz/nnz.h>

/* The files restored so far: each one a name and a buffer of exactly the size announced. */
typedef struct restored_file {
  char* name;
  unsigned char* bytes;
  uint64_t size, filled;
} restored_file;

typedef struct memory_sink {
  restored_file* files;
  size_t count, capacity;
} memory_sink;

static int on_open(void* ctx, const char* name, uint64_t size) {
  memory_sink* m = (memory_sink*)ctx;
  restored_file* f;
  if (size > SIZE_MAX) return 1;
  if (m->count == m->capacity) {
    size_t capacity = m->capacity ? 2 * m->capacity : 4;
    restored_file* grown = (restored_file*)realloc(m->files, capacity * sizeof *grown);
    if (!grown) return 1;
    m->files = grown;
    m->capacity = capacity;
  }
  f = &m->files[m->count];
  f->name = (char*)malloc(strlen(name) + 1);
  f->bytes = (unsigned char*)malloc(size ? (size_t)size : 1);
  if (!f->name || !f->bytes) {
    free(f->name);
    free(f->bytes);
    return 1;
  }
  strcpy(f->name, name);
  f->size = size;
  f->filled = 0;
  m->count++;
  return 0;
}

static int on_write(void* ctx, const void* data, size_t n) {
  memory_sink* m = (memory_sink*)ctx;
  restored_file* f = &m->files[m->count - 1];
  if (n > f->size - f->filled) return 1;
  memcpy(f->bytes + f->filled, data, n);
  f->filled += n;
  return 0;
}

static int on_close(void* ctx) {
  memory_sink* m = (memory_sink*)ctx;
  restored_file* f = &m->files[m->count - 1];
  return f->filled == f->size ? 0 : 1;
}

int main(int argc, char** argv) {
  nnz_reader* reader = NULL;
  nnz_error error;
  nnz_sink sink = {on_open, on_write, on_close};
  memory_sink files = {NULL, 0, 0};
  size_t count, i;
  uint64_t total;
  int status = 0;

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s FILE.nnz [OUT]\n", argv[0]);
    return 2;
  }
  if (nnz_open_file(argv[1], NULL, &reader, &error) != NNZ_OK ||
      nnz_restore_size(reader, &count, &total, &error) != NNZ_OK ||
      nnz_restore(reader, &sink, &files, 0, &error) != NNZ_OK) {
    fprintf(stderr, "%s: %s (%s)\n", argv[1], error.message, nnz_status_string(error.status));
    status = 1;
  }
  for (i = 0; i < files.count && status == 0; ++i)
    printf("%" PRIu64 "  %016" PRIx64 "  %s\n", files.files[i].size,
           nnz_xxh64(files.files[i].bytes, (size_t)files.files[i].size), files.files[i].name);
  if (status == 0 && argc == 3 && files.count > 0) {
    FILE* out = fopen(argv[2], "wb");
    if (!out || fwrite(files.files[0].bytes, 1, (size_t)files.files[0].size, out) != files.files[0].size ||
        fclose(out) != 0) {
      fprintf(stderr, "%s: cannot write\n", argv[2]);
      status = 1;
    }
  }
  for (i = 0; i < files.count; ++i) {
    free(files.files[i].name);
    free(files.files[i].bytes);
  }
  free(files.files);
  nnz_close(reader);
  return status;
}
