/* Tensor element types: ggml's numeric ids (as stored in GGUF) and their block geometry.
 * This is a table of facts only; conversions live in src/quant. */
#ifndef SLM_BASE_DTYPE_H
#define SLM_BASE_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum slm_dtype {
    SLM_DT_F32 = 0, SLM_DT_F16 = 1, SLM_DT_Q4_0 = 2, SLM_DT_Q4_1 = 3,
    SLM_DT_Q5_0 = 6, SLM_DT_Q5_1 = 7, SLM_DT_Q8_0 = 8, SLM_DT_Q8_1 = 9,
    SLM_DT_Q2_K = 10, SLM_DT_Q3_K = 11, SLM_DT_Q4_K = 12, SLM_DT_Q5_K = 13, SLM_DT_Q6_K = 14, SLM_DT_Q8_K = 15,
    SLM_DT_IQ2_XXS = 16, SLM_DT_IQ2_XS = 17, SLM_DT_IQ3_XXS = 18, SLM_DT_IQ1_S = 19, SLM_DT_IQ4_NL = 20,
    SLM_DT_IQ3_S = 21, SLM_DT_IQ2_S = 22, SLM_DT_IQ4_XS = 23,
    SLM_DT_I8 = 24, SLM_DT_I16 = 25, SLM_DT_I32 = 26, SLM_DT_I64 = 27, SLM_DT_F64 = 28,
    SLM_DT_IQ1_M = 29, SLM_DT_BF16 = 30, SLM_DT_TQ1_0 = 34, SLM_DT_TQ2_0 = 35, SLM_DT_MXFP4 = 39,
    SLM_DT_COUNT = 40
} slm_dtype;

typedef struct slm_dtype_info {
    const char *name;   /* "Q4_K"; NULL for ids ggml never assigned or removed */
    uint32_t blck_size; /* elements per block */
    uint32_t type_size; /* bytes per block */
} slm_dtype_info;

/* Geometry of type id t, or NULL if t is not a known ggml type id. */
const slm_dtype_info *slm_dtype_get(uint32_t t);

/* Name for printing ("F16", "Q4_K", "type#31" style fallback is the caller's job); NULL if unknown. */
const char *slm_dtype_name(uint32_t t);

/* Parse a type name, case-insensitive ("q4_k", "F16"); returns false if unknown. */
bool slm_dtype_from_name(const char *name, slm_dtype *out);

/* Bytes of one row of ne0 elements; false if t is unknown, ne0 is not a multiple of the block
 * size, or the size overflows. */
bool slm_dtype_row_size(uint32_t t, uint64_t ne0, uint64_t *out);

#endif
