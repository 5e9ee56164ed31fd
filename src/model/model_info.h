/* A description of a loaded model for `slm show` (and later the server's /api/show): sizes, tensor
 * types, rope settings, tokenizer and template facts, and a RAM estimate. */
#ifndef SLM_MODEL_INFO_H
#define SLM_MODEL_INFO_H

#include <cjson/cJSON.h>

#include "model/model.h"

typedef struct slm_type_count {
    uint32_t type;
    uint32_t n_tensors;
    uint64_t n_bytes;
    uint64_t n_elements;
} slm_type_count;

typedef struct slm_ram_estimate {
    int64_t n_ctx;
    uint64_t weights;  /* bytes of tensor data mapped (paged in as used) */
    uint64_t kv_cache; /* K and V for n_ctx positions, all layers */
    uint64_t scratch;  /* activations, attention scores and logits for one ubatch */
    uint64_t total;
} slm_ram_estimate;

typedef struct slm_model_info {
    uint64_t n_params;
    uint64_t file_bytes;
    uint64_t tensor_bytes;
    int n_tensors;
    slm_type_count types[48]; /* histogram, only n_types used, most bytes first */
    int n_types;
    char tokenizer_model[32];  /* "gpt2"/"llama" (GGUF) or "BPE"/"Unigram"... (tokenizer.json) */
    char tokenizer_pre[48];    /* GGUF tokenizer.ggml.pre, if any */
    int64_t tokenizer_size;    /* tokens incl. added; -1 unknown */
    bool has_chat_template;
    char file_type[24];        /* dominant matrix type, e.g. "Q4_K" */
} slm_model_info;

/* Gather the description. The tokenizer size for HF folders needs tokenizer.json parsed. */
slm_status slm_model_describe(const slm_model *m, slm_model_info *out, slm_error *err);

/* kv_bytes_per_elem: 4 (f32), 2 (f16), 34/32 (q8_0). n_ubatch: tokens per forward (512). */
slm_ram_estimate slm_estimate_ram(const slm_model *m, int64_t n_ctx, double kv_bytes_per_elem, int64_t n_ubatch);

/* Everything above as a JSON object (caller frees with cJSON_Delete); NULL on allocation failure. */
cJSON *slm_model_info_json(const slm_model *m, const slm_model_info *info, const slm_ram_estimate *ram);

#endif
