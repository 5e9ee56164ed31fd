/* Quantization recipes: which type each tensor gets for a target file type ("Q4_K_M"), following
 * llama.cpp's llama-quantize rules without an importance matrix, so that our files have the same
 * per-tensor types as llama.cpp's (checked against the fixture files' tensor lists). */
#ifndef SLM_CONVERT_RECIPE_H
#define SLM_CONVERT_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

/* File types, numbered as llama.cpp's llama_ftype (stored in general.file_type). */
typedef enum slm_ftype {
    SLM_FTYPE_ALL_F32 = 0, SLM_FTYPE_F16 = 1, SLM_FTYPE_Q4_0 = 2, SLM_FTYPE_Q4_1 = 3,
    SLM_FTYPE_Q8_0 = 7, SLM_FTYPE_Q5_0 = 8, SLM_FTYPE_Q5_1 = 9,
    SLM_FTYPE_Q2_K = 10, SLM_FTYPE_Q3_K_S = 11, SLM_FTYPE_Q3_K_M = 12, SLM_FTYPE_Q3_K_L = 13,
    SLM_FTYPE_Q4_K_S = 14, SLM_FTYPE_Q4_K_M = 15, SLM_FTYPE_Q5_K_S = 16, SLM_FTYPE_Q5_K_M = 17,
    SLM_FTYPE_Q6_K = 18, SLM_FTYPE_IQ4_NL = 25, SLM_FTYPE_IQ4_XS = 30, SLM_FTYPE_BF16 = 32,
} slm_ftype;

/* Parse "q4_k_m", "Q8_0", "f16", "bf16", "f32" (case-insensitive); false if unknown. */
bool slm_ftype_from_name(const char *name, slm_ftype *out);
const char *slm_ftype_name(slm_ftype ft);
/* Comma-separated list of accepted names, for help texts. */
const char *slm_ftype_list(void);

/* Facts about the model the rules depend on. */
typedef struct slm_recipe_ctx {
    slm_ftype ftype;
    int64_t n_layer;
    int64_t n_gqa;         /* n_head / n_head_kv */
    bool has_output;       /* an untied output.weight exists */
    slm_arch arch;
} slm_recipe_ctx;

/* Target type (slm_dtype) for tensor `name` of shape ne[0..n_dims) whose source type is
 * src_type: the source type itself for tensors that are never quantized (norms, biases, 1-D
 * tensors, rope factors). Shapes that a block type cannot hold fall back as llama.cpp does
 * (e.g. Q4_K -> Q5_0 when ne[0] is not a multiple of 256). */
uint32_t slm_recipe_tensor_type(const slm_recipe_ctx *ctx, const char *name, int n_dims, const int64_t *ne,
                                uint32_t src_type);

#endif
