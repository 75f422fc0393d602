/* nnz.h: the embeddable .nnz decoder (C API of libnnz).
 *
 * Open a .nnz file from a path or a memory buffer, list its tensors, decode any of them into
 * memory you provide. No Python, no third-party dependency, no global state.
 *
 *   nnz_reader* r;
 *   nnz_error err;
 *   if (nnz_open_file("model.nnz", NULL, &r, &err) != NNZ_OK) { puts(err.message); return 1; }
 *   nnz_tensor_info t;
 *   nnz_tensor_info_at(r, 0, &t, NULL);
 *   void* buf = malloc(t.decoded_bytes);
 *   nnz_decode_tensor(r, 0, buf, t.decoded_bytes, 0, &err);
 *   nnz_close(r);
 *
 * Errors: every function that can fail returns an nnz_status (NNZ_OK = 0) and, when its last
 * argument `error` is not NULL, fills it with the status and a message naming what is wrong. No
 * function throws, aborts or prints. Input files may be hostile: a malformed file gives an error
 * status, never a crash, an out-of-bounds access, an allocation above the configured limits or a
 * hang.
 *
 * Threads: once open, a reader is read-only. Any number of threads may call the functions taking
 * a `const nnz_reader*` at the same time (decoding different or the same tensors); nnz_close
 * must not race with them. Functions with a `threads` argument use up to that many threads
 * internally (0 = one per available CPU); the decoded bytes never depend on it.
 *
 * Decoded data: the element bytes of a C-contiguous (row-major) array, little-endian (the native
 * layout on x86-64 and ARM); float16 and bfloat16 as their 16-bit patterns; bool as one byte per
 * element, exactly as stored by the encoder.
 */
#ifndef NNZ_NNZ_H
#define NNZ_NNZ_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(NNZ_SHARED_LIBRARY)
#if defined(NNZ_BUILDING_LIBRARY)
#define NNZ_API __declspec(dllexport)
#else
#define NNZ_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define NNZ_API __attribute__((visibility("default")))
#else
#define NNZ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this library (not of the file format). */
#define NNZ_VERSION_MAJOR 0
#define NNZ_VERSION_MINOR 1
#define NNZ_VERSION_PATCH 0
#define NNZ_VERSION_NUMBER (NNZ_VERSION_MAJOR * 10000 + NNZ_VERSION_MINOR * 100 + NNZ_VERSION_PATCH)

/* Status codes. Values are frozen (they equal nnz::ErrorCode in the C++ core). */
typedef enum nnz_status {
  NNZ_OK = 0,
  NNZ_ERR_CORRUPT = 1,          /* malformed bytes: not a .nnz file, truncated, impossible field */
  NNZ_ERR_CHECKSUM = 2,         /* a stored checksum does not match: the file was damaged */
  NNZ_ERR_UNSUPPORTED = 3,      /* valid but unknown here: newer format, codec or dtype */
  NNZ_ERR_LIMIT = 4,            /* a size in the file exceeds a configured limit */
  NNZ_ERR_INVALID_ARGUMENT = 5, /* the caller passed something wrong (NULL, small buffer, index) */
  NNZ_ERR_IO = 6,               /* the operating system refused to open or read the file */
  NNZ_ERR_NOT_FOUND = 7,        /* no tensor of that name */
  NNZ_ERR_INTERNAL = 8,         /* a bug in libnnz: please report it */
  NNZ_ERR_OUT_OF_MEMORY = 9,    /* an allocation failed */
  NNZ_ERR_UNSAFE = 10,          /* the file asks for something refused: a file name outside the
                                   output folder, a symlink on the way (docs/SECURITY.md) */
  NNZ_ERR_BASE = 11             /* a delta file's base model is missing, or is not the one the file
                                   was coded against (a tensor missing or differing) */
} nnz_status;

#define NNZ_ERROR_MESSAGE_SIZE 256

/* Filled by a failing call when passed non-NULL; untouched on success. */
typedef struct nnz_error {
  nnz_status status;
  char message[NNZ_ERROR_MESSAGE_SIZE]; /* NUL-terminated, UTF-8, truncated if longer */
} nnz_error;

/* Element types. Codes are frozen: they are the dtype codes stored in .nnz files. */
typedef enum nnz_dtype {
  NNZ_DTYPE_FLOAT32 = 1,
  NNZ_DTYPE_FLOAT16 = 2,
  NNZ_DTYPE_BFLOAT16 = 3,
  NNZ_DTYPE_FLOAT64 = 4,
  NNZ_DTYPE_INT8 = 5,
  NNZ_DTYPE_UINT8 = 6,
  NNZ_DTYPE_INT16 = 7,
  NNZ_DTYPE_UINT16 = 8,
  NNZ_DTYPE_INT32 = 9,
  NNZ_DTYPE_UINT32 = 10,
  NNZ_DTYPE_INT64 = 11,
  NNZ_DTYPE_UINT64 = 12,
  NNZ_DTYPE_BOOL = 13
} nnz_dtype;

/* Safety limits applied to a file while it is opened and decoded. */
typedef struct nnz_limits {
  uint64_t max_index_bytes;  /* largest tensor index accepted (default 256 MiB) */
  uint64_t max_tensor_bytes; /* largest decoded tensor accepted (default 64 GiB) */
} nnz_limits;

/* One tensor as listed in the file's index. Pointers stay valid until nnz_close. */
typedef struct nnz_tensor_info {
  const char* name;       /* UTF-8, NUL-terminated (name_length bytes before the NUL) */
  size_t name_length;
  int dtype;              /* an nnz_dtype code; codes this library does not know are passed on */
  size_t element_size;    /* bytes per element; 0 when the dtype is unknown */
  size_t rank;            /* number of dimensions (0: a scalar) */
  const uint64_t* shape;  /* rank extents, row-major; NULL when rank is 0 */
  uint64_t element_count; /* product of the shape */
  uint64_t decoded_bytes; /* element_count * element_size; 0 when the dtype is unknown */
  uint64_t coded_bytes;   /* size of the tensor's coded payload in the file */
  const char* codec;      /* codec id, e.g. "lossless" */
} nnz_tensor_info;

typedef struct nnz_reader nnz_reader;

/* Library version: NNZ_VERSION_NUMBER of the library actually linked, and "MAJOR.MINOR.PATCH". */
NNZ_API unsigned nnz_version(void);
NNZ_API const char* nnz_version_string(void);

/* A short static description of a status ("corrupt file", ...); never NULL. */
NNZ_API const char* nnz_status_string(nnz_status status);

/* Numpy-style name ("float32", "bfloat16", "bool", ...) and element size of a dtype code;
 * NULL / 0 for a code this library does not know. */
NNZ_API const char* nnz_dtype_name(int dtype);
NNZ_API size_t nnz_dtype_size(int dtype);

/* Threads a `threads` argument of 0 stands for: the CPUs this process may run on. */
NNZ_API int nnz_default_threads(void);

/* The default limits (to adjust before opening). */
NNZ_API void nnz_default_limits(nnz_limits* limits);

/* Opens a .nnz file: reads and validates its header and index (nothing is decoded yet).
 * `limits` may be NULL for the defaults. On success *reader is set; close it with nnz_close. */
NNZ_API nnz_status nnz_open_file(const char* path, const nnz_limits* limits, nnz_reader** reader,
                                 nnz_error* error);

/* Same from a memory buffer, which is borrowed (not copied): it must stay valid and unchanged
 * until nnz_close. */
NNZ_API nnz_status nnz_open_memory(const void* data, size_t size, const nnz_limits* limits, nnz_reader** reader,
                                   nnz_error* error);

/* Releases the reader (NULL is allowed). */
NNZ_API void nnz_close(nnz_reader* reader);

/* Version of the .nnz format the file was written with. */
NNZ_API nnz_status nnz_format_version(const nnz_reader* reader, unsigned* major, unsigned* minor,
                                      nnz_error* error);

/* Number of tensors, and the description of tensor `index` (0 <= index < count, file order). */
NNZ_API size_t nnz_tensor_count(const nnz_reader* reader);
NNZ_API nnz_status nnz_tensor_info_at(const nnz_reader* reader, size_t index, nnz_tensor_info* info,
                                      nnz_error* error);

/* Index of the tensor named `name` (NUL-terminated UTF-8); NNZ_ERR_NOT_FOUND if there is none. */
NNZ_API nnz_status nnz_find_tensor(const nnz_reader* reader, const char* name, size_t* index, nnz_error* error);

/* Bytes the decoded tensor takes (the buffer size nnz_decode_tensor needs). Fails with
 * NNZ_ERR_UNSUPPORTED for an unknown dtype and NNZ_ERR_LIMIT above limits.max_tensor_bytes, so a
 * size returned here is safe to allocate. */
NNZ_API nnz_status nnz_decoded_size(const nnz_reader* reader, size_t index, uint64_t* bytes, nnz_error* error);

/* Decodes tensor `index` into out[0 .. decoded size); `capacity` is the size of `out` and must be
 * at least the decoded size. The payload checksum is verified before decoding. `threads`: 0 for
 * one per CPU, else the most threads to use for this tensor. On failure the contents of `out`
 * are unspecified. */
NNZ_API nnz_status nnz_decode_tensor(const nnz_reader* reader, size_t index, void* out, size_t capacity, int threads,
                                     nnz_error* error);

/* Decodes several tensors in parallel: tensor i goes to outs[i] (capacity capacities[i]); both
 * arrays have nnz_tensor_count() entries, and a NULL outs[i] skips tensor i. Independent tensors
 * are decoded concurrently and large ones chunk-parallel. Stops at the first error, whose message
 * names the tensor; the contents of all outputs are then unspecified. */
NNZ_API nnz_status nnz_decode_all(const nnz_reader* reader, void* const* outs, const size_t* capacities, int threads,
                                  nnz_error* error);

/* Checks the stored checksum of tensor `index` without decoding it (NNZ_ERR_CHECKSUM if damaged). */
NNZ_API nnz_status nnz_verify_tensor(const nnz_reader* reader, size_t index, nnz_error* error);

/* Whole-file restore.
 * A .nnz file of format 1.1 or later holds the files of the model it was made from: an ONNX model
 * and its external-data files, a PyTorch archive, a safetensors file or a sharded checkpoint's
 * index and shards. nnz_restore streams them, in order, through a sink: each file is opened,
 * written in pieces and closed, byte for byte as it was encoded (after lossless coding), with
 * about one tensor in memory at a time. Every name is checked before the sink sees it: a relative
 * path with components separated by '/', no empty, "." or ".." component, no component starting
 * with a dot, no control or format character, no backslash or colon, at most 16 components and
 * 4096 bytes (docs/SECURITY.md), and no two names equal ignoring ASCII case.
 * Files written before format 1.1 hold the model in another form, which only the Python package
 * restores: these functions return NNZ_ERR_UNSUPPORTED for them (and for files holding tensors
 * only). */
typedef struct nnz_sink {
  /* Each returns 0 to go on; any other value stops the restore with NNZ_ERR_IO. open announces
   * the file's size; write is then called until exactly that many bytes were given. */
  int (*open)(void* ctx, const char* name, uint64_t size);
  int (*write)(void* ctx, const void* data, size_t size);
  int (*close)(void* ctx);
} nnz_sink;

/* Number of files of the model and their total size in bytes. */
NNZ_API nnz_status nnz_restore_size(const nnz_reader* reader, size_t* file_count, uint64_t* total_bytes,
                                    nnz_error* error);

/* Name (NUL-terminated UTF-8, valid until nnz_close) and size of file `index`, in restore order. */
NNZ_API nnz_status nnz_restore_file(const nnz_reader* reader, size_t index, const char** name, uint64_t* size,
                                    nnz_error* error);

/* Streams every file through `sink` (its callbacks get `sink_ctx`). `threads` as for decoding:
 * tensors are decoded on up to that many threads; the bytes written never depend on it. On
 * failure the sink may have seen part of the files: write them somewhere private and keep them
 * only on NNZ_OK. */
NNZ_API nnz_status nnz_restore(const nnz_reader* reader, const nnz_sink* sink, void* sink_ctx, int threads,
                               nnz_error* error);

/* Restores the files into the folder `dir` (created if missing), as `nncodec decode` does: they
 * are written into a private staging folder inside `dir`, synced, then moved into place without
 * ever following a symlink; an existing file is replaced only with `force` non-zero (and never a
 * symlink or anything but a regular file), and an existing sub-folder is entered only if it holds
 * nothing but this model's files. Every check passes before the first file moves: on failure
 * nothing of the model is left in `dir` (NNZ_ERR_UNSAFE for refused names and paths). */
NNZ_API nnz_status nnz_restore_to_dir(const nnz_reader* reader, const char* dir, int force, int threads,
                                      nnz_error* error);

/* Delta files (format 1.2).
 * A file coded against a base model (`nncodec encode --base`) holds the differences of its tensors
 * from the base's, and the fingerprint of every base tensor it refers to (name, dtype, shape and
 * XXH64 of the bytes). Its delta tensors decode (nnz_decode_tensor, nnz_decode_all, nnz_restore)
 * once the base is attached; before that they fail with NNZ_ERR_BASE. Tensors stored once for
 * several names (deduplication inside one file) need no base. Attach the base before decoding
 * starts, from one thread. */

/* 1 if the file refers to a base model, else 0 (also for NULL). */
NNZ_API int nnz_needs_base(const nnz_reader* reader);

/* The name the base model had when the file was written (a hint, valid until nnz_close; "" if the
 * file needs no base) and the number of base tensors the file refers to. */
NNZ_API nnz_status nnz_base_info(const nnz_reader* reader, const char** name, size_t* tensor_count,
                                 nnz_error* error);

/* Attaches the base from another open reader (which may have its own base attached: a chain).
 * Every base tensor the file refers to is decoded from `base` and checked against its fingerprint;
 * the first one missing or different fails with NNZ_ERR_BASE naming it, and nothing is attached.
 * The decoded base tensors are kept by `reader`: `base` may be closed after this call. */
NNZ_API nnz_status nnz_attach_base(nnz_reader* reader, const nnz_reader* base, int threads, nnz_error* error);

/* One base tensor in the caller's memory. */
typedef struct nnz_base_tensor {
  const char* name;      /* NUL-terminated UTF-8 */
  int dtype;             /* an nnz_dtype code */
  size_t rank;
  const uint64_t* shape; /* rank extents (may be NULL when rank is 0) */
  const void* data;      /* the element bytes, little-endian, C order */
  size_t size;           /* bytes at data */
} nnz_base_tensor;

/* Attaches base tensors held in memory (borrowed: the bytes must stay valid and unchanged until
 * nnz_close; the array itself and the names may go after the call). Checked as nnz_attach_base.
 * A file whose model files are a patch against the base's (format 1.6) then decodes its tensors,
 * but restoring its files fails with NNZ_ERR_BASE: attach the base with nnz_attach_base instead,
 * which takes the base's files too. */
NNZ_API nnz_status nnz_attach_base_tensors(nnz_reader* reader, const nnz_base_tensor* tensors, size_t count,
                                           nnz_error* error);

/* XXH64 (seed 0) of a byte range: the checksum nnz-decode prints for each decoded tensor. */
NNZ_API uint64_t nnz_xxh64(const void* data, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* NNZ_NNZ_H */
