/* The context behind the public slm_context handle: KV cache, scratch arena and the current
 * micro-batch. Internal to src/model (forward*.c and context.c read it). */
#ifndef SLM_MODEL_CONTEXT_H
#define SLM_MODEL_CONTEXT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "model/kv_cache.h"
#include "model/model.h"
#include "slm.h"

/* Work split over threads: fn(arg, ith, nth) is called once for each ith < nth. */
typedef void (*fwd_task_fn)(void *arg, int ith, int nth);

struct slm_context {
    const slm_model *model;
    slm_context_params params; /* n_threads resolved, kv_type forced to F32 when exact */
    kv_cache kv;

    /* RoPE inverse frequencies (n_rot/2 each): global (scaled) layers and Gemma local layers. */
    float *inv_freq;
    float *inv_freq_local;
    float rope_mscale;

    /* Scratch arena, one allocation, sized for n_ubatch tokens at creation (forward.c carves it). */
    float *arena;
    size_t arena_floats;
    float *x;      /* [n_ubatch, n_embd] residual stream */
    float *xn;     /* [n_ubatch, n_embd] normed input of a block */
    float *qkv;    /* [n_ubatch, n_q + 2 n_kv] projections (q | k | v per token) */
    float *att;    /* [n_ubatch, n_q] attention output, heads concatenated */
    float *proj;   /* [n_ubatch, max(n_embd, ...)] output of o_proj / down_proj */
    float *ffn;    /* [n_ubatch, 2 n_ff] gate | up */
    /* n_threads x per_thread_floats: a dequantized weight row [0, per_thread_attn_off), then the
     * attention state (k, v: head_dim each; acc: n_head * head_dim; max, sum: n_head; scores:
     * n_head * SLM_ATTN_CHUNK) */
    float *per_thread;
/* KV cells per attention step (forward.c). 8, not 32: in generation at depth (split-K, all kv
 * heads) a step's K and V rows plus the next step's, asked for ahead, must fit L1 (32 KiB on Zen 3;
 * Llama-3.2-1B rows are 1 KiB each): at 32 cells the scores waited on K loads and attention took
 * ~32% more time per token (tg at depth 1024, 2 threads, perf share against the matmuls, 3 runs). */
#define SLM_ATTN_CHUNK 8
    size_t per_thread_floats, per_thread_attn_off;
    float *vbuf;   /* 2 x max(E, Q + 2K, F): norm weights and biases converted to floats */

    /* The current micro-batch (n_ub entries), filled by slm_decode before fwd_ubatch. */
    int32_t n_ub;
    int32_t *ub_token, *ub_pos, *ub_seq, *ub_cell;
    int32_t *ub_out;   /* row in logits for each ubatch entry, -1 = no logits */

    /* Logits of the last decode: n_out_rows rows of n_vocab; entry_out maps entry -> row. */
    float *logits;
    int32_t logits_cap_rows;
    int32_t *entry_out;
    int32_t entry_cap, n_entries;

    slm_abort_fn abort_fn;
    void *abort_user;
    atomic_int cancel; /* set by slm_context_cancel from any thread */

    struct slm_threadpool *pool; /* NULL: single-threaded */

    /* Production matmuls (kernels.h): the dispatch table and the activation scratch (quantized
     * copies of up to n_ubatch input rows, 32-byte aligned, sized for the largest weight). */
    const struct slm_kernels *kt; /* NULL on the exact path */
    void *act;
    size_t act_bytes; /* slm_matmul_act_size_mode of the largest weight for params.activations */
};

/* Run fn over the context's threads (serially when there is no pool). */
void ctx_parallel(struct slm_context *ctx, fwd_task_fn fn, void *arg);

#endif
