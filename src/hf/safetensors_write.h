/* Writing .safetensors files: used by tests (to shard a fixture) and by the exporter. */
#ifndef SLM_HF_SAFETENSORS_WRITE_H
#define SLM_HF_SAFETENSORS_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "hf/safetensors.h"
#include "slm.h"

typedef struct st_write_tensor {
    const char *name;
    st_dtype type;
    int n_dims;                    /* 0..4 */
    int64_t shape[ST_MAX_DIMS];    /* torch order */
    const void *data;              /* n_elements * st_dtype_size(type) bytes */
} st_write_tensor;

/* Write n tensors (in the given order, data packed back to back) and optional metadata pairs
 * (meta_kv[2*i] = key, meta_kv[2*i+1] = value; n_meta pairs) to path, atomically. The header is
 * padded with spaces to a multiple of 8 bytes as the reference writer does. */
slm_status st_write_file(const char *path, const st_write_tensor *tensors, size_t n,
                         const char *const *meta_kv, size_t n_meta, slm_error *err);

#endif
