/* The forward pass and its math pieces. The pieces are exposed so that tests can check each one
 * against hand-computed values (rope) or a float64 naive implementation (attention). */
#ifndef SLM_MODEL_FORWARD_H
#define SLM_MODEL_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "model/model.h"

struct slm_context;

/* ---- math pieces (forward_math.c) ---- */

/* y = x / sqrt(mean(x^2) + eps) * w, or * (1 + w) when plus_one; w may be NULL (no scaling).
 * n values; y may alias x. The mean is accumulated in double. */
void fwd_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps, bool plus_one);

/* Inverse frequencies for one layer kind: n_rot/2 values, inv_freq[i] = theta^(-2i/n_rot)
 * divided by freq_divisors[i] when given (the GGUF rope_freqs tensor, n_rot/2 floats), else
 * adjusted by the scaling in hp when scaled (linear: / factor; llama3: / divisor computed from
 * the factors; longrope: / short or long factor). scaled = false and no divisors gives the plain
 * theta table (Gemma 3 local layers). */
void fwd_rope_inv_freq(const slm_hparams *hp, float theta, bool scaled, bool use_long, const float *freq_divisors,
                       float *inv_freq);

/* Rotate one head vector x[head_dim] in place at position pos: the first n_rot values rotate,
 * the rest pass through. neox: pairs (i, i + n_rot/2) (Hugging Face rotate_half); else adjacent
 * pairs (2i, 2i + 1) (GGUF `llama` after the converter's row permutation). cos/sin are scaled by
 * mscale (longrope attention factor; 1 otherwise). */
void fwd_rope_apply(float *x, int64_t n_rot, bool neox, const float *inv_freq, int32_t pos, float mscale);
/* The same in two steps, so that the heads of a token share one cos/sin table: cs[0, n_rot/2)
 * = cos x mscale, cs[n_rot/2, n_rot) = sin x mscale of position pos; then the rotation of one head
 * (bit-identical to fwd_rope_apply). The forward pass keeps the table on the stack for up to
 * FWD_ROPE_MAX_HALF pairs (fwd_rope_apply beyond). */
#define FWD_ROPE_MAX_HALF 512
void fwd_rope_cos_sin(const float *inv_freq, int64_t n_rot, int32_t pos, float mscale, float *cs);
void fwd_rope_rotate(float *x, int64_t n_rot, bool neox, const float *cs);

/* Attention with an online softmax, for n_heads query heads that share one kv head (GQA):
 * begin, then one step per visible key (k, v: head_dim floats), then end writes
 * out[h * ld_out + d] = sum_j softmax_j(q_h . k_j * scale) v_j[d]. softcap > 0: scores become
 * softcap * tanh(score / softcap) first. acc: n_heads * head_dim floats, mx/sum: n_heads. */
void fwd_attn_begin(int64_t n_heads, int64_t head_dim, float *acc, float *mx, float *sum);
void fwd_attn_step(const float *q, int64_t n_heads, int64_t head_dim, const float *k, const float *v, float scale,
                   float softcap, float *acc, float *mx, float *sum);
void fwd_attn_end(int64_t n_heads, int64_t head_dim, const float *acc, const float *sum, float *out, int64_t ld_out);

/* One query head over n_keys contiguous keys/values (row stride ld), via the three calls above.
 * scratch: head_dim floats. */
void fwd_attention_head(float *out, const float *q, const float *keys, const float *vals, int64_t ld, int64_t n_keys,
                        int64_t head_dim, float scale, float softcap, float *scratch);

/* ---- the forward pass (forward.c) ---- */

/* One forward pass over ctx's current micro-batch (ctx->ub_*), whose cells are already claimed.
 * Writes K/V of every layer into the cache and the logits of the entries that want them.
 * Returns SLM_E_CANCELLED if the abort callback fired between layers. */
slm_status fwd_ubatch(struct slm_context *ctx, slm_error *err);

/* ---- weights as floats (forward_matmul.c) ---- */

/* True if rows of this weight type can be turned into floats (F32/F16/BF16 or a quant type with
 * a reference dequantizer). */
bool fwd_weight_type_ok(uint32_t type);
/* Row r of a matrix (or the whole vector for 1-D) as ne[0] floats. */
void fwd_weight_row(const slm_weight *w, int64_t r, float *out);

/* The kernels' activation mode for a context's params.activations. */
slm_act_mode fwd_act_mode(slm_activations a);

/* y[t][o] = sum_i W[o][i] x[t][i] for t < n_tok; x rows have stride ld_x, y rows n_out = ne[1].
 * Splits rows over the context's threads. exact selects the reference path. */
void fwd_matmul(struct slm_context *ctx, const slm_weight *w, const float *x, int64_t ld_x, int64_t n_tok, float *y,
                int64_t ld_y);
/* n weights times the same x (a layer's q, k, v; gate, up): y_i = x @ w_i^T, as fwd_matmul each,
 * in one pool run when all are packed (slm_matmul_x16_multi: one activation pass per type, the
 * rows of all shared among the threads), else one fwd_matmul each. */
void fwd_matmul_group(struct slm_context *ctx, int n, const slm_weight *const ws[], const float *x, int64_t ld_x,
                      int64_t n_tok, float *const ys[], int64_t ld_y);

#endif
