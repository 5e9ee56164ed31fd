/* slm: small language models on the CPU. Public C API.
 *
 * Conventions: every function that can fail returns an slm_status (SLM_OK == 0) and, where it
 * takes an slm_error*, fills it with a human-readable message naming what was wrong. The library
 * never prints and never exits. Objects are opaque; each `*_free(NULL)` is a no-op.
 */
#ifndef SLM_H
#define SLM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum slm_status {
    SLM_OK = 0,
    SLM_E_INVALID_ARG = 1, /* caller passed something impossible */
    SLM_E_IO = 2,          /* open/read/write/mmap failed */
    SLM_E_FORMAT = 3,      /* a file or text is malformed, truncated or lies about sizes */
    SLM_E_UNSUPPORTED = 4, /* well-formed but not something slm can handle (yet) */
    SLM_E_NOMEM = 5,       /* allocation failed or a size limit would be exceeded */
    SLM_E_RANGE = 6,       /* a value is out of the allowed range (e.g. prompt longer than ctx) */
    SLM_E_CANCELLED = 7,   /* stopped by the caller between steps */
    SLM_E_NOT_FOUND = 8,   /* a named thing (tensor, key, file) does not exist */
} slm_status;

#define SLM_ERROR_MSG_MAX 512

/* Error report filled by failing calls. Plain struct so callers can keep it on the stack. */
typedef struct slm_error {
    slm_status code;
    char msg[SLM_ERROR_MSG_MAX];
} slm_error;

/* Name of a status code ("format error", ...); never NULL. */
const char *slm_status_name(slm_status s);

/* Version string of the library, e.g. "0.1.0". */
const char *slm_version(void);


/* ---------------------------------------------------------------------------------------------
 * Engine: contexts over a loaded model (src/model/context.c).
 *
 * One slm_model (loaded with slm_model_load, read-only afterwards) may be shared by any number of
 * contexts, each used by one thread at a time. A context owns a KV cache of n_ctx cells shared by
 * up to n_seq_max sequences, plus all scratch memory of the forward pass (sized at creation: the
 * forward pass itself never allocates). slm_decode runs one forward pass over a batch of
 * (token, position, sequence) entries that may belong to several sequences.
 * ------------------------------------------------------------------------------------------- */
typedef struct slm_model slm_model;
typedef struct slm_context slm_context;

/* Element type of the KV cache. F16 is the default (as llama.cpp); Q8_0 halves it again. */
typedef enum slm_kv_type { SLM_KV_F16 = 0, SLM_KV_F32 = 1, SLM_KV_Q8_0 = 2 } slm_kv_type;

/* Returns true to stop the decode in progress (checked between layers); see slm_context_set_abort. */
typedef bool (*slm_abort_fn)(void *user);

/* Activation precision of the matmuls with quantized weights (float weights always multiply
 * float32 activations).
 *   SLM_ACT_AUTO (default): 16-bit activations, except one-token steps (generation) of the
 *     weight types that have an 8-bit one-token tile (Q4_0, Q5_0, Q4_K, Q6_K, IQ4_XS on AVX2),
 *     which take llama.cpp's 8-bit activations: there the 16-bit tiles are arithmetic-bound and
 *     the 8-bit ones ~1.1-1.7x faster. Prompt logits stay at SLM_ACT_16's precision; generation
 *     steps are never less precise than llama.cpp's.
 *   SLM_ACT_16: 16-bit activations (~15 bits per block of 32 / 256) against the exact integer
 *     weights everywhere: ~100x closer to the exact product than llama.cpp.
 *   SLM_ACT_8: llama.cpp's 8-bit activations (Q8_0 / Q8_K) everywhere; ~0.2-0.4 logits off the
 *     exact result on quantized models, like llama.cpp.
 *   SLM_ACT_8X2: 8-bit activations plus their quantized rounding residual (two int8 dot products;
 *     what SLM_ACT_16 falls back to on CPUs without 16-bit kernels, e.g. arm64 today). */
typedef enum slm_activations { SLM_ACT_AUTO = 0, SLM_ACT_8 = 1, SLM_ACT_8X2 = 2, SLM_ACT_16 = 3 } slm_activations;

typedef struct slm_context_params {
    int32_t n_ctx;      /* KV cells shared by all sequences; also the largest position + 1 (default 4096) */
    int32_t n_seq_max;  /* sequence ids are 0 .. n_seq_max-1 (default 1) */
    int32_t n_ubatch;   /* tokens per forward chunk; bigger batches are split (default 256) */
    int32_t n_threads;  /* 0 = number of physical cores */
    slm_kv_type kv_type;
    bool exact;         /* reference path: weights dequantized by the scalar reference, float32
                           math everywhere, f32 KV cache (kv_type is ignored). For tests. */
    slm_activations activations; /* how quantized-weight matmuls round their activations
                                    (default SLM_ACT_AUTO) */
} slm_context_params;

/* One entry of a decode batch. Positions of a sequence must be < n_ctx. */
typedef struct slm_batch_entry {
    int32_t token;
    int32_t pos;
    int32_t seq_id;
    bool want_logits; /* keep the logits of this entry (readable with slm_context_logits) */
} slm_batch_entry;

slm_context_params slm_context_default_params(void);

/* Create a context on model m (which must outlive it). *out is owned by the caller. */
slm_status slm_context_new(const slm_model *m, const slm_context_params *p, slm_context **out, slm_error *err);
void slm_context_free(slm_context *ctx);

/* Run the model on n entries (any mix of sequences; entries of one sequence in increasing
 * position order). Each entry's K/V are stored in the cache, so later calls see them.
 * Errors: SLM_E_RANGE when a position is >= n_ctx or the cache has no free cell left (nothing is
 * stored then); SLM_E_CANCELLED when the abort callback fired (entries of unfinished chunks are
 * removed from the cache again); SLM_E_INVALID_ARG for a bad token or sequence id. */
slm_status slm_decode(slm_context *ctx, const slm_batch_entry *entries, int32_t n, slm_error *err);

/* Logits (n_vocab floats) of entry i of the last slm_decode call, or NULL if that entry did not
 * ask for them or i is out of range. Valid until the next slm_decode or slm_context_free. */
const float *slm_context_logits(const slm_context *ctx, int32_t i);
int64_t slm_context_n_vocab(const slm_context *ctx);
int32_t slm_context_n_ctx(const slm_context *ctx);
int32_t slm_context_n_threads(const slm_context *ctx); /* resolved thread count */

/* Forget positions [p0, p1) of sequence seq_id (p1 < 0: to the end); seq_id < 0: every sequence.
 * Used for /clear (whole sequence) and for reusing a common prefix (drop the tail). */
void slm_seq_remove(slm_context *ctx, int32_t seq_id, int32_t p0, int32_t p1);
/* Largest stored position of a sequence, -1 if it is empty. */
int32_t slm_seq_pos_max(const slm_context *ctx, int32_t seq_id);
/* Free KV cells left. */
int32_t slm_context_n_free_cells(const slm_context *ctx);

/* Abort callback polled between layers of slm_decode (NULL to remove); user is passed through. */
void slm_context_set_abort(slm_context *ctx, slm_abort_fn fn, void *user);
/* Ask the slm_decode running on ctx (in another thread) to stop at its next layer boundary with
 * SLM_E_CANCELLED. Thread-safe. The request is cleared when a decode starts, so a call made
 * while no decode runs has no effect. */
void slm_context_cancel(slm_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
