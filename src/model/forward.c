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
    bool all_heads; /* work per (token, cell part) with every kv head, else per (token, kv head) */
    int n_split;    /* all_heads: threads per token (split-K over the cells) */
} attn_task;

/* The next up to SLM_ATTN_CHUNK cells from *j (< j1) that token (pos, seq) may see; advances *j. */
static int attn_collect(const kv_cache *kv, const slm_hparams *hp, bool swa, int32_t pos, int32_t seq, int32_t *j,
                        int32_t j1, int32_t *cells) {
    int n = 0;
    for (; *j < j1 && n < SLM_ATTN_CHUNK; (*j)++) {
        if (kv->cell_seq[*j] != seq || kv->cell_pos[*j] > pos) continue;
        if (swa && pos - kv->cell_pos[*j] >= hp->sliding_window) continue;
        cells[n++] = *j;
    }
    return n;
}

/* Prefetch the `piece` bytes at `first` of the K and V rows of n cells (piece 0: nothing). */
static void attn_prefetch(const uint8_t *kbase, const uint8_t *vbase, size_t rb, size_t first, size_t piece,
                          const int32_t *cells, int n) {
    for (int i = 0; i < n; i++)
        for (size_t b = 0; b < piece; b += 64) {
            __builtin_prefetch(kbase + (size_t)cells[i] * rb + first + b);
            __builtin_prefetch(vbase + (size_t)cells[i] * rb + first + b);
        }
}

/* Production attention (any KV type) over the cells [j0, j1) that token (pos, seq) may see, for
 * kv heads g0 .. g1 - 1 and their query heads q[(g1 - g0) group, hd], continuing the online
 * softmax in (acc, mx, sum) (also from kv head g0's query heads on). Cells are taken
 * SLM_ATTN_CHUNK at a time, and each chunk is worked on for every kv head in turn: the chunk's K
 * rows are dotted with every head of the group (GQA shares them; f16 rows through one kernel call
 * per chunk that converts each row once per 4 heads), the chunk's scores are exponentiated against
 * one running max per head (one rescale of acc per chunk instead of one per new maximum), then the
 * V rows are accumulated into every head. With all kv heads (split-K generation) the chunk's rows
 * are read whole, in cell order: one sequential stream, each line used by its heads while it is
 * in L1/L2. */
static void attn_cells_chunked(const slm_kernels *kt, const kv_cache *kv, const slm_hparams *hp, int32_t layer,
                               bool swa, float scale, int32_t pos, int32_t seq, int64_t g0, int64_t g1,
                               const float *q_all, int32_t j0, int32_t j1, float *kbuf, float *vbuf, float *scores,
                               float *acc_all, float *mx_all, float *sum_all) {
    const int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    const float softcap = hp->attn_logit_softcap;
    /* f16 rows, or Q8_0 rows whose head starts on a block, go to the kernels in place */
    const bool f16 = kv->type == SLM_KV_F16, q8 = kv->type == SLM_KV_Q8_0 && hd % 32 == 0;
    /* rows of one layer are row_bytes apart: the chunk's pointers are plain arithmetic */
    const uint8_t *kbase = kv_cache_row_k(kv, layer, 0), *vbase = kv_cache_row_v(kv, layer, 0);
    const size_t rb = kv->row_bytes;
    /* The next chunk's cells are collected, and their K and V row pieces asked for, before the
     * current chunk is worked on. Each cell's piece is a line or two every row_bytes (the other kv
     * heads' pieces lie between), a pattern the hardware prefetchers did not follow: without this
     * the scores waited on each K row in turn (Zen 3, Llama-3.2-1B tg at depth 2048: ~80% of the
     * score kernel's samples on the first use of a row; 13.0-13.5 -> 14.6 t/s with the current
     * chunk prefetched, more a chunk ahead). */
    const int64_t off0 = g0 * hd;
    const size_t piece = f16 ? (size_t)((g1 - g0) * hd) * 2 : q8 ? (size_t)((g1 - g0) * hd / 32) * sizeof(block_q8_0) : 0;
    const size_t first = f16 ? (size_t)off0 * 2 : q8 ? (size_t)(off0 / 32) * sizeof(block_q8_0) : 0;
    int32_t cell_buf[2][SLM_ATTN_CHUNK];
    int32_t j = j0;
    int cur = 0, n_next = attn_collect(kv, hp, swa, pos, seq, &j, j1, cell_buf[0]);
    attn_prefetch(kbase, vbase, rb, first, piece, cell_buf[0], n_next);
    while (n_next > 0) {
        const int32_t *cells = cell_buf[cur];
        const int n = n_next;
        cur ^= 1;
        n_next = attn_collect(kv, hp, swa, pos, seq, &j, j1, cell_buf[cur]);
        attn_prefetch(kbase, vbase, rb, first, piece, cell_buf[cur], n_next);
        for (int64_t g = g0; g < g1; g++) {
            const int64_t off = g * hd, gi = (g - g0) * group;
            const float *q = q_all + gi * hd;
            float *acc = acc_all + gi * hd, *mx = mx_all + gi, *sum = sum_all + gi;
            const void *krows[SLM_ATTN_CHUNK], *vrows[SLM_ATTN_CHUNK];
            /* scores[h * CHUNK + i] = scale * q_h . k_i */
            if (f16) {
                for (int i = 0; i < n; i++) {
                    krows[i] = (const slm_f16 *)(kbase + (size_t)cells[i] * rb) + off;
                    vrows[i] = (const slm_f16 *)(vbase + (size_t)cells[i] * rb) + off;
                }
                kt->attn_scores_f16(q, group, hd, (const slm_f16 *const *)krows, n, scores, SLM_ATTN_CHUNK);
            } else if (q8) {
                for (int i = 0; i < n; i++) {
                    krows[i] = (const block_q8_0 *)(kbase + (size_t)cells[i] * rb) + off / 32;
                    vrows[i] = (const block_q8_0 *)(vbase + (size_t)cells[i] * rb) + off / 32;
                }
                kt->attn_scores_q8(q, group, hd, (const block_q8_0 *const *)krows, n, scores, SLM_ATTN_CHUNK);
            } else {
                for (int i = 0; i < n; i++) {
                    const float *k = kbuf;
                    if (kv->type == SLM_KV_F32)
                        k = (const float *)kv_cache_row_k(kv, layer, cells[i]) + off;
                    else
                        kv_cache_load_k(kv, layer, cells[i], off, hd, kbuf);
                    for (int64_t h = 0; h < group; h++) scores[h * SLM_ATTN_CHUNK + i] = kt->dot_f32(k, q + h * hd, hd);
                }
            }
            /* scale (and soft-cap), new running max per head, one rescale, then the weights */
            for (int64_t h = 0; h < group; h++) {
                float *sc = scores + h * SLM_ATTN_CHUNK, m = mx[h];
                /* two loops: a tanhf call inside would keep m in memory (a store-load chain per score) */
                if (softcap > 0)
                    for (int i = 0; i < n; i++) sc[i] = softcap * tanhf(sc[i] * scale / softcap);
                else
                    for (int i = 0; i < n; i++) sc[i] *= scale;
                for (int i = 0; i < n; i++) m = sc[i] > m ? sc[i] : m;
                if (m > mx[h]) {
                    const float r = expf(mx[h] - m); /* 0 while nothing was accumulated (mx = -inf) */
                    kt->scale_f32(acc + h * hd, r, hd);
                    sum[h] *= r;
                    mx[h] = m;
                }
                sum[h] += kt->exp_shift_sum(sc, n, m);
            }
            if (f16) {
                kt->attn_accum_f16(acc, group, hd, (const slm_f16 *const *)vrows, n, scores, SLM_ATTN_CHUNK);
                continue;
            }
            if (q8) {
                kt->attn_accum_q8(acc, group, hd, (const block_q8_0 *const *)vrows, n, scores, SLM_ATTN_CHUNK);
                continue;
            }
            for (int i = 0; i < n; i++) {
                const float *v = vbuf;
                if (kv->type == SLM_KV_F32)
                    v = (const float *)kv_cache_row_v(kv, layer, cells[i]) + off;
                else
                    kv_cache_load_v(kv, layer, cells[i], off, hd, vbuf);
                for (int64_t h = 0; h < group; h++) kt->axpy_f32(acc + h * hd, scores[h * SLM_ATTN_CHUNK + i], v, hd);
            }
        }
    }
}

/* Per-thread attention scratch (see context.h): k, v rows, acc [group, hd], mx, sum, scores. */
typedef struct attn_scratch {
    float *k, *v, *acc, *mx, *sum, *scores;
} attn_scratch;

static attn_scratch attn_scratch_of(struct slm_context *c, int ith) {
    const slm_hparams *hp = &c->model->hp;
    const int64_t hd = hp->head_dim;
    attn_scratch s;
    s.k = c->per_thread + (size_t)ith * c->per_thread_floats + c->per_thread_attn_off;
    s.v = s.k + hd;
    s.acc = s.v + hd;
    s.mx = s.acc + hp->n_head * hd;
    s.sum = s.mx + hp->n_head;
    s.scores = s.sum + hp->n_head;
    return s;
}

/* Attention work. Without all_heads: one work item = (token t, kv head g), items split
 * over threads: stream over the cells token t may see (same sequence, position <= its own, inside
 * the window on sliding layers) with an online softmax for all the query heads of the group.
 * GQA: query head h uses kv head h / (n_head / n_head_kv), so the group of kv head g is the
 * consecutive heads g * group .. g * group + group - 1.
 * all_heads (no more tokens than threads and a long cache: generation): each token's cells are
 * split over n_split threads (split-K, like flash-decoding), each doing every kv head over its part
 * (whole cache rows in cell order: one read stream per thread rather than a head's 1/n_head_kv of
 * every row, which the prefetchers did not follow), leaving its partial softmax state of all heads
 * in its scratch for attn_merge_splits. */
static void attn_items(void *arg, int ith, int nth) {
    const attn_task *a = arg;
    struct slm_context *c = a->ctx;
    const slm_hparams *hp = &c->model->hp;
    const kv_cache *kv = &c->kv;
    const int64_t hd = hp->head_dim, n_q = hp->n_head * hd, n_kv = hp->n_head_kv * hd;
    const int64_t ld_qkv = n_q + 2 * n_kv, group = hp->n_head / hp->n_head_kv;
    const attn_scratch s = attn_scratch_of(c, ith);
    const slm_kernels *kt = c->kt;
    int64_t i0, i1, n_g = 1; /* items [i0, i1) of n_g kv heads each */
    int32_t j0 = 0, j1 = kv->used_end;
    if (a->all_heads) {
        if (ith >= (int64_t)c->n_ub * a->n_split) return;
        i0 = ith / a->n_split;
        i1 = i0 + 1;
        n_g = hp->n_head_kv;
        int64_t c0, c1;
        slm_split_range(kv->used_end, ith % a->n_split, a->n_split, 1, &c0, &c1);
        j0 = (int32_t)c0;
        j1 = (int32_t)c1;
    } else {
        slm_split_range((int64_t)c->n_ub * hp->n_head_kv, ith, nth, 1, &i0, &i1);
    }
    for (int64_t item = i0; item < i1; item++) {
        const int32_t t = (int32_t)(item * n_g / hp->n_head_kv);
        const int64_t g0 = item * n_g % hp->n_head_kv, g1 = g0 + n_g;
        const int32_t pos = c->ub_pos[t], seq = c->ub_seq[t];
        const float *q = c->qkv + t * ld_qkv + g0 * group * hd; /* [n_g group, hd] */
        fwd_attn_begin(n_g * group, hd, s.acc, s.mx, s.sum);
        if (kt) {
            attn_cells_chunked(kt, kv, hp, a->layer, a->swa, a->scale, pos, seq, g0, g1, q, j0, j1, s.k, s.v,
                               s.scores, s.acc, s.mx, s.sum);
        } else {
            /* reference path (--exact): one cell at a time, plain C */
            for (int64_t g = g0; g < g1; g++) {
                const int64_t gi = (g - g0) * group;
                for (int32_t j = j0; j < j1; j++) {
                    if (kv->cell_seq[j] != seq || kv->cell_pos[j] > pos) continue;
                    if (a->swa && pos - kv->cell_pos[j] >= hp->sliding_window) continue;
                    kv_cache_load_k(kv, a->layer, j, g * hd, hd, s.k);
                    kv_cache_load_v(kv, a->layer, j, g * hd, hd, s.v);
                    fwd_attn_step(q + gi * hd, group, hd, s.k, s.v, a->scale, hp->attn_logit_softcap, s.acc + gi * hd,
                                  s.mx + gi, s.sum + gi);
                }
            }
        }
        if (!a->all_heads) fwd_attn_end(group, hd, s.acc, s.sum, c->att + t * n_q + g0 * group * hd, hd);
    }
}

/* Combine the n_split partial softmax states of each token's heads (left in threads' scratch by
 * attn_items, all heads each): m = max_s mx_s, out = sum_s acc_s e^(mx_s - m) / sum_s sum_s
 * e^(mx_s - m). */
static void attn_merge_splits(struct slm_context *c, int n_split) {
    const slm_hparams *hp = &c->model->hp;
    const int64_t hd = hp->head_dim, n_q = hp->n_head * hd;
    for (int32_t t = 0; t < c->n_ub; t++)
        for (int64_t h = 0; h < hp->n_head; h++) {
            float *out = c->att + t * n_q + h * hd;
            float m = -INFINITY, total = 0.0f;
            for (int sp = 0; sp < n_split; sp++) {
                const attn_scratch s = attn_scratch_of(c, (int)(t * n_split + sp));
                if (s.sum[h] > 0 && s.mx[h] > m) m = s.mx[h];
            }
            for (int64_t d = 0; d < hd; d++) out[d] = 0.0f;
            for (int sp = 0; sp < n_split; sp++) {
                const attn_scratch s = attn_scratch_of(c, (int)(t * n_split + sp));
                if (!(s.sum[h] > 0)) continue;
                const float w = expf(s.mx[h] - m);
                total += s.sum[h] * w;
                for (int64_t d = 0; d < hd; d++) out[d] += w * s.acc[h * hd + d];
            }
            const float inv = total > 0 ? 1.0f / total : 0.0f;
            for (int64_t d = 0; d < hd; d++) out[d] *= inv;
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
    float cs[2 * FWD_ROPE_MAX_HALF]; /* the token's cos / sin, shared by its heads */
    const bool table = hp->n_rot / 2 <= FWD_ROPE_MAX_HALF;
    for (int64_t t = t0; t < t1; t++) {
        float *q = c->qkv + t * ld_qkv, *k = q + n_q;
        if (table) fwd_rope_cos_sin(a->inv_freq, hp->n_rot, c->ub_pos[t], c->rope_mscale, cs);
        for (int64_t h = 0; h < hp->n_head + hp->n_head_kv; h++) { /* q heads, then k heads */
            float *x = h < hp->n_head ? q + h * hd : k + (h - hp->n_head) * hd;
            const float *wn = h < hp->n_head ? a->wqn : a->wkn;
            if (wn) fwd_rmsnorm(x, x, wn, hd, hp->rms_eps, hp->norm_plus_one);
            if (table)
                fwd_rope_rotate(x, hp->n_rot, hp->rope_neox, cs);
            else
                fwd_rope_apply(x, hp->n_rot, hp->rope_neox, a->inv_freq, c->ub_pos[t], c->rope_mscale);
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
    /* exact mode has no table: the scalar reference's formulas */
    const slm_kernels *kt = c->kt ? c->kt : slm_kernels_for_isa(SLM_ISA_SCALAR);
    int64_t e0, e1;
    slm_split_range((int64_t)c->n_ub * F, ith, nth, 64, &e0, &e1);
    while (e0 < e1) {
        const int64_t t = e0 / F, i0 = e0 % F, i1 = e1 - t * F < F ? e1 - t * F : F;
        float *g = c->ffn + t * 2 * F, *u = g + F;
        kt->glu(g + i0, u + i0, i1 - i0, hp->gelu_mlp);
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
        const slm_weight *const ws[] = {&L->wq, &L->wk, &L->wv};
        float *const ys[] = {c->qkv, c->qkv + n_q, c->qkv + n_q + n_kv};
        fwd_matmul_group(c, 3, ws, c->xn, E, U, ys, ld_qkv);
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
    attn_task at = {c, il, swa, hp->attn_scale > 0 ? hp->attn_scale : (float)(1.0 / sqrt((double)hd)), false, 1};
    /* No more tokens than threads (generation) and a long cache: each token's cells split over
     * the threads, all kv heads each (attn_items). */
    const int nth = slm_threadpool_n_threads(c->pool);
    if (U <= nth && c->kv.used_end >= 256) {
        at.all_heads = true;
        at.n_split = (int)(nth / U);
    }
    ctx_parallel(c, attn_items, &at);
    if (at.all_heads) attn_merge_splits(c, at.n_split);

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
        const slm_weight *const ws[] = {&L->w_gate, &L->w_up};
        float *const ys[] = {c->ffn, c->ffn + F};
        fwd_matmul_group(c, 2, ws, c->xn, E, U, ys, 2 * F);
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
