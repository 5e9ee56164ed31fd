/* A loaded model: hyper-parameters plus zero-copy views of every weight, whatever the source
 * (GGUF file or Hugging Face folder). Architectures are data: one struct for all of them, with
 * feature flags and optional tensors (data == NULL when absent). The forward pass reads only this.
 */
#ifndef SLM_MODEL_MODEL_H
#define SLM_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/file.h"
#include "slm.h"

typedef enum slm_arch {
    SLM_ARCH_UNKNOWN = 0,
    SLM_ARCH_LLAMA,  /* Llama 2/3.x, Mistral, SmolLM2 */
    SLM_ARCH_QWEN2,  /* Qwen 2 / 2.5: q/k/v biases */
    SLM_ARCH_QWEN3,  /* Qwen 3: q/k RMSNorm, head_dim independent of n_embd/n_head */
    SLM_ARCH_GEMMA3, /* Gemma 3 text */
    SLM_ARCH_PHI3,   /* Phi-3 / 3.5 / 4 / 4-mini */
} slm_arch;

typedef enum slm_rope_scaling {
    SLM_ROPE_SCALING_NONE = 0,
    SLM_ROPE_SCALING_LINEAR,   /* positions divided by factor */
    SLM_ROPE_SCALING_LLAMA3,   /* per-frequency divisors (rope_freqs tensor or computed from params) */
    SLM_ROPE_SCALING_LONGROPE, /* Phi-3 su/longrope: short/long factor arrays + attention factor */
} slm_rope_scaling;

/* One weight tensor viewed in place (in the mmap of its file). ne[0] is the fastest dimension:
 * for a matrix, ne[0] = input features (row length), ne[1] = output features (rows), exactly
 * as GGUF stores it and as torch's [out, in] row-major layout is. */
typedef struct slm_weight {
    const char *name;  /* owned by the source; NULL when the tensor is absent */
    uint32_t type;     /* slm_dtype */
    int n_dims;
    int64_t ne[4];
    const void *data;  /* NULL when absent */
    uint64_t nbytes;
    bool x16;          /* rows repacked in 16-row groups by slm_model_prepare (kernels.h "x16") */
} slm_weight;

typedef struct slm_hparams {
    slm_arch arch;
    char arch_name[32];   /* GGUF general.architecture spelling, e.g. "llama" */
    char name[128];       /* general.name or the folder name; may be empty */
    int64_t n_vocab;
    int64_t n_embd;       /* hidden size */
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t head_dim;     /* per-head size of q and k (and v) */
    int64_t n_ff;         /* MLP intermediate size */
    int64_t n_ctx_train;
    float rms_eps;

    /* RoPE. rope_neox: true = rotate_half pairs (i, i + n_rot/2) as HF and GGUF qwen/gemma/phi
     * store it; false = adjacent pairs (2i, 2i+1) as GGUF `llama` stores q/k after the
     * converter's row permutation. */
    int64_t n_rot;        /* rotated dims per head (== head_dim unless partial rotary) */
    bool rope_neox;
    float rope_theta;
    float rope_theta_local;   /* Gemma 3 sliding layers; 0 if unused */
    slm_rope_scaling rope_scaling;
    float rope_factor;        /* linear / llama3 factor */
    float rope_low_freq_factor, rope_high_freq_factor;
    int64_t rope_orig_ctx;    /* llama3 original_max_position_embeddings / longrope original */
    float rope_attn_factor;   /* longrope cos/sin multiplier; 1 otherwise */
    float *rope_short_factor; /* longrope, n_rot/2 each; owned by the model; NULL if unused */
    float *rope_long_factor;

    /* Attention details. */
    float attn_scale;          /* softmax scale; 0 => 1/sqrt(head_dim) */
    int64_t sliding_window;    /* 0 = none */
    int64_t swa_pattern;       /* Gemma 3: every swa_pattern-th layer (index % p == p-1) is global */
    float attn_logit_softcap;  /* 0 = none */
    float final_logit_softcap; /* 0 = none */

    /* Feature flags. */
    bool has_qkv_bias;     /* qwen2 */
    bool has_qk_norm;      /* qwen3, gemma3 */
    bool norm_plus_one;    /* gemma: RMSNorm weight applied as (1 + w) */
    bool post_norms;       /* gemma3 sandwich norms */
    bool gelu_mlp;         /* gemma: gelu_tanh instead of silu */
    bool embd_scale;       /* gemma: multiply embeddings by sqrt(n_embd) */
    bool tied_output;      /* output projection is the embedding matrix */

    /* Special tokens (from metadata or config; -1 if unknown). */
    int64_t bos_id, eos_id;
} slm_hparams;

typedef struct slm_layer {
    slm_weight attn_norm;
    slm_weight wq, wk, wv, wqkv, wo;  /* wqkv: fused [q; k; v] rows (phi3); else wq/wk/wv */
    slm_weight bq, bk, bv;
    slm_weight q_norm, k_norm;
    slm_weight post_attn_norm;         /* gemma3 */
    slm_weight ffn_norm;               /* pre-MLP norm */
    slm_weight w_gate, w_up, w_gate_up, w_down; /* w_gate_up: fused [gate; up] rows (phi3) */
    slm_weight post_ffn_norm;          /* gemma3 */
} slm_layer;

typedef enum slm_source_kind { SLM_SOURCE_GGUF = 1, SLM_SOURCE_HF = 2 } slm_source_kind;

typedef struct slm_model {
    slm_hparams hp;
    slm_weight tok_embd;    /* [n_embd, n_vocab] */
    slm_weight output_norm;
    slm_weight output;      /* [n_embd, n_vocab]; equals tok_embd when tied */
    slm_weight rope_freqs;  /* llama3 per-frequency divisors [n_rot/2], optional */
    slm_layer *layers;      /* n_layer entries */

    slm_source_kind source_kind;
    char *source_path;      /* file or folder it was loaded from */
    void *source;           /* gguf_file* or hf_folder*; keeps the mappings alive */
    uint64_t file_bytes;    /* total bytes of weight files */
    void *x16_arena;        /* repacked weights (slm_model_prepare), NULL until then */
} slm_model;

#endif
