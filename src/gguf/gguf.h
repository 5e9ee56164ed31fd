/* GGUF container: bounded reader over a read-only mapping, and a writer.
 *
 * Reader: gguf_open maps the file and validates everything before returning (header, every
 * key/value incl. nested arrays, every tensor's type/shape/offset/size, alignment, no overlaps,
 * no duplicate keys or tensor names). After a successful open every accessor below is O(1)
 * (find_* are hash lookups) and never touches bytes outside the file. All pointers returned
 * (strings, array data, tensor data, tensor names) point into the mapping or into tables owned
 * by the gguf_file and stay valid until gguf_close.
 *
 * Threads: a gguf_file is never modified after gguf_open returns; any number of threads may
 * call the accessors concurrently.
 * Byte order: GGUF is little-endian; slm only runs on little-endian hosts.
 * Alignment: pointers into the mapping (gguf_str.ptr, gguf_arr.data) have NO alignment
 * guarantee; read numeric array elements with the gguf_arr_get_* helpers (or memcpy). Tensor
 * data is aligned to gguf_alignment() relative to the start of the file (the mapping itself is
 * page-aligned for gguf_open; for gguf_open_memory it is as aligned as the caller's buffer).
 */
#ifndef SLM_GGUF_H
#define SLM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 256       /* longest tensor name accepted, in bytes (ggml: 63) */
#define GGUF_MAX_KEY 65535      /* longest metadata key accepted (the GGUF spec limit) */
#define GGUF_MAX_ARRAY_DEPTH 8 /* nesting deeper than this is rejected as a format error */

/* Metadata value types, numbered as stored in the file. */
typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13
} gguf_type;

/* "uint32", "string", ...; "unknown" for out-of-range values. */
const char *gguf_type_name(gguf_type t);
/* Bytes of one element of a fixed-size type (1..8); 0 for STRING, ARRAY and unknown types. */
size_t gguf_type_size(gguf_type t);

/* A string inside the file: NOT NUL-terminated, may contain any bytes (validated only for
 * length). ptr is never NULL for a value obtained from a successful getter (len may be 0). */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

/* An array value (top-level or nested). Treat as a read-only view; valid until gguf_close.
 *   type: element type. n: element count.
 *   data: for fixed-size element types, the n * gguf_type_size(type) raw little-endian bytes
 *         in the mapping (unaligned!); NULL for STRING and ARRAY elements (use gguf_arr_str /
 *         gguf_arr_arr, both O(1)). */
typedef struct gguf_arr {
    gguf_type type;
    uint64_t n;
    const void *data;
    const void *priv; /* internal: the parsed node (offset table); do not touch */
} gguf_arr;

/* One metadata value of any type, for walking all keys (e.g. `slm show`). Exactly one member of
 * the union is meaningful, chosen by type: u (UINT8/16/32/64), i (INT8/16/32/64), f (FLOAT32/64,
 * widened exactly), b (BOOL), s (STRING), arr (ARRAY). */
typedef struct gguf_value {
    gguf_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        bool b;
        gguf_str s;
        gguf_arr arr;
    };
} gguf_value;

/* A tensor's description. ne[] is in ggml order: ne[0] is the innermost (contiguous) dimension;
 * dims beyond n_dims are 1. Every ne is >= 1 (ggml cannot represent empty tensors either: its
 * own element-count check divides by ne), so nbytes > 0 and data points inside the file. */
typedef struct gguf_tensor_info {
    const char *name;  /* NUL-terminated copy owned by the gguf_file */
    uint64_t name_len; /* strlen(name); names with embedded NUL bytes are rejected */
    uint32_t type;     /* slm_dtype id (base/dtype.h), known and validated */
    uint32_t n_dims;   /* 1..GGUF_MAX_DIMS (0 is accepted as a scalar and reported as 1) */
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t n_elements;
    uint64_t offset;    /* relative to gguf_data_offset(), multiple of gguf_alignment() */
    uint64_t nbytes;    /* exact size of the tensor data: row size(ne[0]) * ne[1] * ne[2] * ne[3] */
    const void *data;   /* into the mapping: base + data_offset + offset */
} gguf_tensor_info;

typedef struct gguf_file gguf_file;

/* --- Opening ------------------------------------------------------------------------------ */

/* Map and validate path. On success *out owns the mapping (free with gguf_close). On failure
 * *out is NULL and err names the problem: SLM_E_IO (cannot open/map), SLM_E_FORMAT (malformed,
 * truncated, lying sizes, duplicates, overlaps), SLM_E_UNSUPPORTED (GGUF v1, unknown version),
 * SLM_E_NOMEM. */
slm_status gguf_open(const char *path, gguf_file **out, slm_error *err);

/* Same over a caller-owned buffer; no copy: data must stay alive and unchanged until gguf_close. */
slm_status gguf_open_memory(const void *data, size_t size, gguf_file **out, slm_error *err);

/* Releases tables and (for gguf_open) the mapping. NULL is a no-op. */
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);     /* 2 or 3 */
uint64_t gguf_alignment(const gguf_file *f);   /* general.alignment or 32; power of two <= 2^20 */
uint64_t gguf_data_offset(const gguf_file *f); /* start of tensor data, from file start */
uint64_t gguf_file_size(const gguf_file *f);
const uint8_t *gguf_file_data(const gguf_file *f); /* whole mapping (size gguf_file_size) */

/* --- Metadata ----------------------------------------------------------------------------- */

int64_t gguf_n_kv(const gguf_file *f);
/* Index of key, or -1 if absent. O(1) average. */
int64_t gguf_find_key(const gguf_file *f, const char *key);
/* Key name (NUL-terminated copy owned by f) and value type of entry i (0 <= i < n_kv);
 * NULL / GGUF_TYPE_COUNT for an out-of-range i. Keys with embedded NULs are rejected at open. */
const char *gguf_key_name(const gguf_file *f, int64_t i);
gguf_type gguf_key_type(const gguf_file *f, int64_t i);
/* Value of entry i; false if i is out of range. */
bool gguf_kv_value(const gguf_file *f, int64_t i, gguf_value *out);

/* Typed getters by key. Each returns false (and leaves *out untouched) if the key is absent or
 * its value cannot be represented exactly in the requested type:
 *   integer getters accept any integer type (and BOOL as 0/1) when the value fits;
 *   float getters accept FLOAT32/FLOAT64 and integers (f32 from f64 rounds);
 *   bool accepts BOOL and integers 0/1; str/arr only their own type. */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_i32(const gguf_file *f, const char *key, int32_t *out);
bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_f64(const gguf_file *f, const char *key, double *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
bool gguf_get_arr(const gguf_file *f, const char *key, gguf_arr *out);

/* Array element access, all O(1). Each returns false if i >= arr->n or the element type does
 * not match / does not fit (same conversion rules as the typed getters above). */
bool gguf_arr_str(const gguf_file *f, const gguf_arr *arr, uint64_t i, gguf_str *out);
bool gguf_arr_arr(const gguf_file *f, const gguf_arr *arr, uint64_t i, gguf_arr *out);
bool gguf_arr_get_i64(const gguf_arr *arr, uint64_t i, int64_t *out);
bool gguf_arr_get_u64(const gguf_arr *arr, uint64_t i, uint64_t *out);
bool gguf_arr_get_f32(const gguf_arr *arr, uint64_t i, float *out);
bool gguf_arr_get_f64(const gguf_arr *arr, uint64_t i, double *out);
bool gguf_arr_get_bool(const gguf_arr *arr, uint64_t i, bool *out);

/* Convenience: 1 if s equals the NUL-terminated c string, else 0. */
bool gguf_str_eq(gguf_str s, const char *c);

/* --- Tensors ------------------------------------------------------------------------------ */

int64_t gguf_n_tensors(const gguf_file *f);
/* Tensor i in file order (0 <= i < n_tensors), or NULL. */
const gguf_tensor_info *gguf_tensor(const gguf_file *f, int64_t i);
/* Tensor by name, or NULL. O(1) average. */
const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name);
/* Index of the tensor by name, or -1. */
int64_t gguf_find_tensor_index(const gguf_file *f, const char *name);

/* --- Writer ------------------------------------------------------------------------------- */
/* Builds a GGUF v3 file: metadata in insertion order, then tensor infos in insertion order,
 * then tensor data, each tensor at the next offset aligned to `alignment` and the data section
 * padded exactly like llama.cpp's writer (zero padding after the header to the alignment, each
 * tensor's data padded with zeros to the alignment). The alignment is 32 unless a
 * "general.alignment" key (uint32 as llama.cpp writes it, power of two <= 2^20) is added, which
 * then applies. A file without tensors ends right after the metadata (as llama.cpp's vocab-only
 * files do).
 * The writer copies keys, names and strings it is given; tensor data pointers (not callbacks)
 * and the user pointers must stay valid until gguf_writer_write returns. */

typedef struct gguf_writer gguf_writer;

/* Produce nbytes bytes of tensor data into dst (called once per tensor during writing, in
 * tensor order; dst is a scratch buffer of exactly nbytes). Return SLM_OK or fail with err. */
typedef slm_status (*gguf_tensor_fill_fn)(void *user, int64_t tensor_index, void *dst, uint64_t nbytes,
                                         slm_error *err);

slm_status gguf_writer_new(gguf_writer **out, slm_error *err);
void gguf_writer_free(gguf_writer *w); /* NULL is a no-op */

/* Scalars. Duplicate keys are rejected with SLM_E_INVALID_ARG. */
slm_status gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v, slm_error *err);
slm_status gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v, slm_error *err);
slm_status gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v, slm_error *err);
slm_status gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v, slm_error *err);
slm_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, slm_error *err);
slm_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, slm_error *err);
slm_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, slm_error *err);
slm_status gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v, slm_error *err);
slm_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v, slm_error *err);
slm_status gguf_writer_add_f64(gguf_writer *w, const char *key, double v, slm_error *err);
slm_status gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, slm_error *err);
/* NUL-terminated string, or (ptr, len) with arbitrary bytes. */
slm_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *s, slm_error *err);
slm_status gguf_writer_add_strn(gguf_writer *w, const char *key, const char *s, uint64_t len, slm_error *err);
/* Array of n fixed-size elements of elem_type, given as raw little-endian bytes (copied). */
slm_status gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type elem_type, const void *data, uint64_t n,
                               slm_error *err);
/* Array of n strings: NUL-terminated (strs) or counted (gstrs). Copied. */
slm_status gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n,
                                   slm_error *err);
slm_status gguf_writer_add_arr_gstr(gguf_writer *w, const char *key, const gguf_str *strs, uint64_t n,
                                    slm_error *err);
/* Copy metadata entry i of f verbatim (any type, nested arrays included). */
slm_status gguf_writer_copy_kv(gguf_writer *w, const gguf_file *f, int64_t i, slm_error *err);

/* Tensors: ne[0..n_dims-1] in ggml order (n_dims 1..4, every ne >= 1, ne[0] a multiple of the
 * type's block size), name 1..GGUF_MAX_NAME bytes, unique. data holds exactly the tensor's
 * nbytes (borrowed until write returns). */
slm_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                  const int64_t *ne, const void *data, slm_error *err);
/* Same, with the data produced by fill(user, index, dst, nbytes, err) at write time. */
slm_status gguf_writer_add_tensor_fn(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                     const int64_t *ne, gguf_tensor_fill_fn fill, void *user, slm_error *err);

/* Write the file atomically (temp file in the same folder + rename). The writer stays usable. */
slm_status gguf_writer_write(gguf_writer *w, const char *path, slm_error *err);
/* Build the whole file in memory: *out (malloc'd, caller frees) of *out_size bytes. */
slm_status gguf_writer_write_memory(gguf_writer *w, void **out, size_t *out_size, slm_error *err);

#ifdef __cplusplus
}
#endif
#endif
