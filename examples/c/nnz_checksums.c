/* nnz_checksums: decode every tensor of a .nnz file with libnnz and print one line per tensor:
 *
 *   <FNV-1a 64 of the decoded bytes, 16 hex digits>  <dtype>  <shape>  <name>
 *
 * usage: nnz_checksums FILE.nnz [THREADS]
 * build: cc nnz_checksums.c $(pkg-config --cflags --libs nnz)   (or CMake: see CMakeLists.txt)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <nnz/nnz.h>

/* FNV-1a, 64 bit: a checksum simple enough to recompute anywhere. */
static uint64_t fnv1a64(const unsigned char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325u;
  size_t i;
  for (i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3u;
  }
  return h;
}

int main(int argc, char** argv) {
  nnz_reader* reader = NULL;
  nnz_error error;
  size_t i, d;
  int threads = 0, status = 0;

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s FILE.nnz [THREADS]\n", argv[0]);
    return 2;
  }
  if (argc == 3) threads = atoi(argv[2]);
  if (nnz_open_file(argv[1], NULL, &reader, &error) != NNZ_OK) {
    fprintf(stderr, "%s: %s (%s)\n", argv[1], error.message, nnz_status_string(error.status));
    return 1;
  }
  for (i = 0; i < nnz_tensor_count(reader) && status == 0; ++i) {
    nnz_tensor_info info;
    uint64_t size;
    void* buffer;
    if (nnz_tensor_info_at(reader, i, &info, &error) != NNZ_OK ||
        nnz_decoded_size(reader, i, &size, &error) != NNZ_OK) {
      status = 1;
      break;
    }
    buffer = malloc(size ? (size_t)size : 1);
    if (buffer == NULL) {
      fprintf(stderr, "out of memory\n");
      status = 1;
      break;
    }
    if (nnz_decode_tensor(reader, i, buffer, (size_t)size, threads, &error) == NNZ_OK) {
      printf("%016" PRIx64 "  %s  ", fnv1a64((const unsigned char*)buffer, (size_t)size), nnz_dtype_name(info.dtype));
      if (info.rank == 0) printf("scalar");
      for (d = 0; d < info.rank; ++d) printf(d ? "x%" PRIu64 : "%" PRIu64, info.shape[d]);
      printf("  %s\n", info.name);
    } else {
      status = 1;
    }
    free(buffer);
  }
  if (status != 0) fprintf(stderr, "%s: %s (%s)\n", argv[1], error.message, nnz_status_string(error.status));
  nnz_close(reader);
  return status;
}
