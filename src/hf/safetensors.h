/* safetensors: one file = 8-byte little-endian header length N, N bytes of JSON header, then the
 * data section. The header maps tensor name -> {"dtype", "shape", "data_offsets": [begin, end)}
 * (offsets relative to the data section) plus an optional "__metadata__" string->string map.
 *
 * Everything in the file is untrusted: the header length is bounded, every entry is validated
 * (known dtype, rank <= 4, non-negative dims, overflow-checked byte size equal to end - begin,
 * range inside the data section, no overlaps, unique names). Tensor data is used in place
 * (mmap, zero copy). */
#ifndef SLM_HF_SAFETENSORS_H
#define SLM_HF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/file.h"
#include "slm.h"

#define ST_MAX_DIMS 4
#define ST_MAX_HEADER_BYTES (100u * 1024u * 1024u) /* 100 MB: real headers are < 1 MB */

/* safetensors dtype names. Only F32/F16/BF16 map to an slm_dtype usable for weights; the others
 * are recognised (so errors name them properly) and have sizes, but tensors of these types are
 * kept with slm_dtype = -1 (ST_NO_SLM_DTYPE). */
typedef enum st_dtype {
    ST_F32 = 0, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL,
    ST_F8_E4M3, ST_F8_E5M2, ST_DTYPE_COUNT
} st_dtype;

#define ST_NO_SLM_DTYPE (-1)

/* "F32" for ST_F32; NULL if out of range. */
const char *st_dtype_name(st_dtype t);
/* Bytes per element (1, 2, 4 or 8); 0 if out of range. */
size_t st_dtype_size(st_dtype t);
/* Parse "BF16" etc. (exact, case-sensitive as the format defines); false if unknown. */
int st_dtype_from_name(const char *s, st_dtype *out);

typedef struct st_tensor {
    char *name;          /* HF name, owned by the file */
    st_dtype st_type;
    int slm_type;        /* slm_dtype (F32/F16/BF16) or ST_NO_SLM_DTYPE */
    int n_dims;          /* 0..4 (0 = scalar, one element) */
    int64_t shape[ST_MAX_DIMS]; /* torch order: shape[n_dims-1] is the fastest dimension */
    uint64_t n_elements;
    uint64_t offset;     /* byte offset inside the whole file (data section start + begin) */
    uint64_t nbytes;
    const uint8_t *data; /* points into the mapping / memory buffer; NULL when nbytes == 0 */
} st_tensor;

typedef struct st_metadata_kv {
    char *key, *value;   /* owned by the file */
} st_metadata_kv;

typedef struct st_file st_file;

/* Map and parse path. On success *out owns the mapping; free with st_close. */
slm_status st_open(const char *path, st_file **out, slm_error *err);

/* Parse a buffer already in memory (fuzzing, tests). The buffer is borrowed: it must outlive
 * the st_file. */
slm_status safetensors_open_memory(const void *data, size_t size, st_file **out, slm_error *err);

/* Release the file (and its mapping). st_close(NULL) is a no-op. */
void st_close(st_file *f);

size_t st_n_tensors(const st_file *f);
/* Tensors in file order of data offset; i < st_n_tensors. */
const st_tensor *st_tensor_at(const st_file *f, size_t i);
/* By HF name; NULL if absent. */
const st_tensor *st_find(const st_file *f, const char *name);

size_t st_n_metadata(const st_file *f);
const st_metadata_kv *st_metadata_at(const st_file *f, size_t i);
/* Value of a __metadata__ key or NULL. */
const char *st_metadata_get(const st_file *f, const char *key);

/* Size of the whole file / of the data section in bytes; path given at open ("" for memory). */
uint64_t st_file_size(const st_file *f);
uint64_t st_data_size(const st_file *f);
const char *st_path(const st_file *f);

#endif
