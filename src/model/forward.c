/* The forward pass: one function for every architecture, branching on the feature flags of
 * slm_hparams. Reads top to bottom as the transformer block it computes. Shapes use
 * U = tokens of the micro-batch, E = n_embd, Q = n_head * head_dim, K = n_head_kv * head_dim,
 * F = n_ff, V = n_vocab. No allocation here: every buffer is a slice of the context's arena. */
#include <math.h>
#include <string.h>

#include "base/dtype.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "model/arch.h"
#include "model/context.h"
#include "model/forward.h"

/* A 1-D weight (norm, bias) as floats: in place when stored as F32 (GGUF), else converted into
 * buf (HF folders keep them in bf16). NULL when the tensor is absent. */
static const float *vec_f32(const slm_weight *w, float *buf) {
    if (!w->data) return NULL;
    if (w->type == SLM_DT_F32) return (const float *)w->data;
    fwd_weight_row(w, 0, buf);
    return buf;
}

static void add_bias(float *y, int64_t ld, int64_t n_tok, const float *b, int64_t n) {
    if (!b) return;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) y[t * ld + i] += b[i];
}

/* ---- attention over the KV cache ---------------------------------------------------------- */

typedef struct attn_task {
    struct slm_context *ctx;
    int32_t layer;
    bool swa;
    float scale;
} attn_task;

/* fwd_attn_step for f32 / f16 cache rows read in place with the SIMD vector ops (production
 * path): same online softmax, no conversion of the rows into scratch. */
static void attn_step_kernels(const slm_kernels *kt, const kv_cache *kv, int32_t layer, int32_t cell, int64_t off,
                              const float *q, int64_t group, int64_t hd, float scale, float softcap, float *acc,
                              float *mx, float *sum) {
    const bool f16 = kv->type == SLM_KV_F16;
    const void *krow = kv_cache_row_k(kv, layer, cell), *vrow = kv_cache_row_v(kv, layer, cell);
    for (int64_t h = 0; h < group; h++) {
        float s = f16 ? kt->dot_f16_f32((const slm_f16 *)krow + off, q + h * hd, hd)
                      : kt->dot_f32((const float *)krow + off, q + h * hd, hd);
        s *= scale;
        if (softcap > 0) s = softcap * tanhf(s / softcap);
        float *ah = acc + h * hd;
        if (s > mx[h]) {
            const float r = expf(mx[h] - s);
            kt->scale_f32(ah, r, hd);
            sum[h] *= r;
            mx[h] = s;
        }
        const float p = expf(s - mx[h]);
        if (f16)
            kt->axpy_f16(ah, p, (const slm_f16 *)vrow + off, hd);
        else
            kt->axpy_f32(ah, p, (const float *)vrow + off, hd);
        sum[h] += p;
    }
}

/* One work item = (token t, kv head g): stream over the cells token t may see (same sequence,
 * position <= its own, inside the window on sliding layers) with an online softmax for all the
 * query heads of the group. GQA: query head h uses kv head h / (n_head / n_head_kv), so the group
 * of kv head g is the consecutive heads g * group .. g * group + group - 1. */
static void attn_items(void *arg, int ith, int nth) {
    const attn_task *a = arg;
    struct slm_context *c = a->ctx;
    const slm_hparams *hp = &c->model->hp;
    const kv_cache *kv = &c->kv;
    const int64_t hd = hp->head_dim, n_q = hp->n_head * hd, n_kv = hp->n_head_kv * hd;
    const int64_t ld_qkv = n_q + 2 * n_kv, group = hp->n_head / hp->n_head_kv;
    float *k = c->per_thread + (size_t)ith * c->per_thread_floats + c->per_thread_attn_off;
    float *v = k + hd, *acc = v + hd, *mx = acc + group * hd, *sum = mx + group;
    const slm_kernels *kt = c->kt;
    int64_t i0, i1;
    slm_split_range((int64_t)c->n_ub * hp->n_head_kv, ith, nth, 1, &i0, &i1);
    for (int64_t item = i0; item < i1; item++) {
        const int32_t t = (int32_t)(item / hp->n_head_kv);
        const int64_t g = item % hp->n_head_kv;
        const int32_t pos = c->ub_pos[t], seq = c->ub_seq[t];
        const float *q = c->qkv + t * ld_qkv + g * group * hd; /* [group, hd] */
        fwd_attn_begin(group, hd, acc, mx, sum);
        for (int32_t j = 0; j < kv->used_end; j++) {
            if (kv->cell_seq[j] != seq || kv->cell_pos[j] > pos) continue;
            if (a->swa && pos - kv->cell_pos[j] >= hp->sliding_window) continue;
            if (kt && kv->type != SLM_KV_Q8_0) {
                attn_step_kernels(kt, kv, a->layer, j, g * hd, q, group, hd, a->scale, hp->attn_logit_softcap, acc,
                                  mx, sum);
                continue;
            }
            kv_cache_load_k(kv, a->layer, j, g * hd, hd, k);
            kv_cache_load_v(kv, a->layer, j, g * hd, hd, v);
            fwd_attn_step(q, group, hd, k, v, a->scale, hp->attn_logit_softcap, acc, mx, sum);
        }
        fwd_attn_end(group, hd, acc, sum, c->att + t * n_q + g * group * hd, hd);
    }
}

/* ---- per-token work, split over threads by token ------------------------------------------ */

typedef struct qk_task {
    struct slm_context *ctx;
    int32_t layer;
    const float *wqn, *wkn; /* q/k norm weights or NULL */
    const float *inv_freq;
} qk_task;

/* q/k norm + RoPE of every head of a token, then its K and V rows into its cache cell. */
static void qk_tokens(void *arg, int ith, int nth) {
    const qk_task *a = arg;
    struct slm_context *c = a->ctx;
    const slm_hparams *hp = &c->model->hp;
    const int64_t hd = hp->head_dim, n_q = hp->n_head * hd, n_kv = hp->n_head_kv * hd, ld_qkv = n_q + 2 * n_kv;
    int64_t t0, t1;
    slm_split_range(c->n_ub, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        float *q = c->qkv + t * ld_qkv, *k = q + n_q;
        for (int64_t h = 0; h < hp->n_head; h++) {
            if (a->wqn) fwd_rmsnorm(q + h * hd, q + h * hd, a->wqn, hd, hp->rms_eps, hp->norm_plus_one);
            fwd_rope_apply(q + h * hd, hp->n_rot, hp->rope_neox, a->inv_freq, c->ub_pos[t], c->rope_mscale);
        }
        for (int64_t h = 0; h < hp->n_head_kv; h++) {
            if (a->wkn) fwd_rmsnorm(k + h * hd, k + h * hd, a->wkn, hd, hp->rms_eps, hp->norm_plus_one);
            fwd_rope_apply(k + h * hd, hp->n_rot, hp->rope_neox, a->inv_freq, c->ub_pos[t], c->rope_mscale);
        }
        kv_cache_store(&c->kv, a->layer, c->ub_cell[t], k, k + n_kv);
    }
}

/* ffn[t, :F] = act(gate) * up. The U x F elements are split over threads as one flat range (not
 * by token), so that generation (U = 1) uses every thread too. */
static void act_tokens(void *arg, int ith, int nth) {
    struct slm_context *c = arg;
    const slm_hparams *hp = &c->model->hp;
    const int64_t F = hp->n_ff;
    int64_t e0, e1;
    slm_split_range((int64_t)c->n_ub * F, ith, nth, 64, &e0, &e1);
    while (e0 < e1) {
        const int64_t t = e0 / F, i0 = e0 % F, i1 = e1 - t * F < F ? e1 - t * F : F;
        float *g = c->ffn + t * 2 * F, *u = g + F;
        if (hp->gelu_mlp)
            for (int64_t i = i0; i < i1; i++) g[i] = fwd_gelu_tanh(g[i]) * u[i];
        else
            for (int64_t i = i0; i < i1; i++) g[i] = fwd_silu(g[i]) * u[i];
        e0 = t * F + i1;
    }
}

/* ---- one transformer block ---------------------------------------------------------------- */

static void block_attention(struct slm_context *c, int32_t il, float *vbuf) {
    const slm_model *m = c->model;
    const slm_hparams *hp = &m->hp;
    const slm_layer *L = &m->layers[il];
    const int64_t U = c->n_ub, E = hp->n_embd, hd = hp->head_dim;
    const int64_t n_q = hp->n_head * hd, n_kv = hp->n_head_kv * hd, ld_qkv = n_q + 2 * n_kv;
    const bool swa = slm_layer_is_sliding(hp, il);

    /* xn[U, E] = norm(x) */
    const float *w_norm = vec_f32(&L->attn_norm, vbuf);
    for (int64_t t = 0; t < U; t++) fwd_rmsnorm(c->xn + t * E, c->x + t * E, w_norm, E, hp->rms_eps, hp->norm_plus_one);

    /* qkv[U, Q | K | K] = xn @ [wq; wk; wv]^T (+ biases) */
    if (L->wqkv.data) {
        fwd_matmul(c, &L->wqkv, c->xn, E, U, c->qkv, ld_qkv);
    } else {
        fwd_matmul(c, &L->wq, c->xn, E, U, c->qkv, ld_qkv);
        fwd_matmul(c, &L->wk, c->xn, E, U, c->qkv + n_q, ld_qkv);
        fwd_matmul(c, &L->wv, c->xn, E, U, c->qkv + n_q + n_kv, ld_qkv);
    }
    if (hp->has_qkv_bias) {
        add_bias(c->qkv, ld_qkv, U, vec_f32(&L->bq, vbuf), n_q);
        add_bias(c->qkv + n_q, ld_qkv, U, vec_f32(&L->bk, vbuf), n_kv);
        add_bias(c->qkv + n_q + n_kv, ld_qkv, U, vec_f32(&L->bv, vbuf), n_kv);
    }

    /* per-head q/k RMSNorm over head_dim (qwen3, gemma3), then RoPE on q and k heads */
    const float *wqn = NULL, *wkn = NULL;
    if (hp->has_qk_norm) {
        wqn = vec_f32(&L->q_norm, vbuf);
        wkn = vec_f32(&L->k_norm, vbuf + hd);
    }
    qk_task qt = {c, il, wqn, wkn, swa && c->inv_freq_local ? c->inv_freq_local : c->inv_freq};
    ctx_parallel(c, qk_tokens, &qt);

    /* att[U, Q] = softmax(q k^T * scale + mask) v over the cache */
    attn_task at = {c, il, swa, hp->attn_scale > 0 ? hp->attn_scale : (float)(1.0 / sqrt((double)hd))};
    ctx_parallel(c, attn_items, &at);

    /* x += [post_norm](att @ wo^T) */
    fwd_matmul(c, &L->wo, c->att, n_q, U, c->proj, E);
    const float *w_post = hp->post_norms ? vec_f32(&L->post_attn_norm, vbuf) : NULL;
    for (int64_t t = 0; t < U; t++) {
        float *o = c->proj + t * E;
        if (w_post) fwd_rmsnorm(o, o, w_post, E, hp->rms_eps, hp->norm_plus_one);
        for (int64_t i = 0; i < E; i++) c->x[t * E + i] += o[i];
    }
}

static void block_mlp(struct slm_context *c, int32_t il, float *vbuf) {
    const slm_model *m = c->model;
    const slm_hparams *hp = &m->hp;
    const slm_layer *L = &m->layers[il];
    const int64_t U = c->n_ub, E = hp->n_embd, F = hp->n_ff;

    const float *w_norm = vec_f32(&L->ffn_norm, vbuf);
    for (int64_t t = 0; t < U; t++) fwd_rmsnorm(c->xn + t * E, c->x + t * E, w_norm, E, hp->rms_eps, hp->norm_plus_one);

    /* ffn[U, F | F] = xn @ [gate; up]^T; then ffn[:, :F] = act(gate) * up */
    if (L->w_gate_up.data) {
        fwd_matmul(c, &L->w_gate_up, c->xn, E, U, c->ffn, 2 * F);
    } else {
        fwd_matmul(c, &L->w_gate, c->xn, E, U, c->ffn, 2 * F);
        fwd_matmul(c, &L->w_up, c->xn, E, U, c->ffn + F, 2 * F);
    }
    ctx_parallel(c, act_tokens, c);

    /* x += [post_norm](ffn @ w_down^T) */
    fwd_matmul(c, &L->w_down, c->ffn, 2 * F, U, c->proj, E);
    const float *w_post = hp->post_norms ? vec_f32(&L->post_ffn_norm, vbuf) : NULL;
    for (int64_t t = 0; t < U; t++) {
        float *o = c->proj + t * E;
        if (w_post) fwd_rmsnorm(o, o, w_post, E, hp->rms_eps, hp->norm_plus_one);
        for (int64_t i = 0; i < E; i++) c->x[t * E + i] += o[i];
    }
}

/* ---- the whole pass ------------------------------------------------------------------------ */

slm_status fwd_ubatch(struct slm_context *c, slm_error *err) {
    const slm_model *m = c->model;
    const slm_hparams *hp = &m->hp;
    const int64_t U = c->n_ub, E = hp->n_embd, V = hp->n_vocab;
    float *vbuf = c->vbuf;

    /* x[U, E] = tok_embd[token] (* sqrt(E) for Gemma) */
    const float embd_scale = hp->embd_scale ? (float)sqrt((double)E) : 1.0f;
    for (int64_t t = 0; t < U; t++) {
        float *x = c->x + t * E;
        fwd_weight_row(&m->tok_embd, c->ub_token[t], x);
        if (hp->embd_scale)
            for (int64_t i = 0; i < E; i++) x[i] *= embd_scale;
    }

    for (int32_t il = 0; il < (int32_t)hp->n_layer; il++) {
        if (atomic_load(&c->cancel) || (c->abort_fn && c->abort_fn(c->abort_user)))
            return slm_fail(err, SLM_E_CANCELLED, "decode cancelled");
        block_attention(c, il, vbuf);
        block_mlp(c, il, vbuf);
    }

    /* logits of the entries that want them: rows are consecutive in ctx->logits */
    int64_t n_out = 0, first_row = -1;
    const float *w_out_norm = vec_f32(&m->output_norm, vbuf);
    for (int64_t t = 0; t < U; t++) {
        if (c->ub_out[t] < 0) continue;
        if (first_row < 0) first_row = c->ub_out[t];
        fwd_rmsnorm(c->xn + n_out * E, c->x + t * E, w_out_norm, E, hp->rms_eps, hp->norm_plus_one);
        n_out++;
    }
    if (n_out == 0) return SLM_OK;
    float *logits = c->logits + first_row * V;
    fwd_matmul(c, &m->output, c->xn, E, n_out, logits, V);
    if (hp->final_logit_softcap > 0) {
        const float cap = hp->final_logit_softcap;
        for (int64_t i = 0; i < n_out * V; i++) logits[i] = cap * tanhf(logits[i] / cap);
    }
    return SLM_OK;
}
