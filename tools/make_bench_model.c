/* make_bench_model: write a random-weight GGUF with the exact shapes of a real model, for speed
 * benchmarks (speed does not depend on weight values). The tokenizer metadata is copied from a
 * GGUF that has the real tokenizer (the fixture GGUFs carry Llama 3's and Qwen 2.5's), so both
 * slm and llama.cpp load the file as they would the real model.
 *
 * usage: make_bench_model SHAPE TYPE OUT.gguf TOKENIZER.gguf [-t N]
 *   SHAPE: llama3.2-1b | llama3.2-3b | qwen2.5-0.5b
 *   TYPE:  any slm quantize type (q4_0, q4_k_m, q8_0, q6_k, iq4_xs, f16, ...)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dtype.h"
#include "base/threadpool.h"
#include "convert/convert.h"
#include "convert/recipe.h"
#include "gguf/gguf.h"
#include "quant/quant.h"

typedef struct shape {
    const char *name, *arch, *general_name;
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float theta, eps;
    bool qkv_bias, llama3_rope;
} shape;

static const shape k_shapes[] = {
    {"llama3.2-1b", "llama", "Llama 3.2 1B (random weights)", 2048, 16, 32, 8, 64, 8192, 128256, 131072, 500000.0f, 1e-5f, false, true},
    {"llama3.2-3b", "llama", "Llama 3.2 3B (random weights)", 3072, 28, 24, 8, 128, 8192, 128256, 131072, 500000.0f, 1e-5f, false, true},
    {"qwen2.5-0.5b", "qwen2", "Qwen2.5 0.5B (random weights)", 896, 24, 14, 2, 64, 4864, 151936, 32768, 1000000.0f, 1e-6f, true, false},
};

typedef struct tensor_plan {
    char name[64];
    uint32_t type;
    int n_dims;
    int64_t ne[2];
    float mean, std; /* norms: 1 +- 0.1, biases 0 +- 0.2, matrices 0 +- 1/sqrt(fan_in) */
    uint64_t seed;
    const float *fixed; /* F32 values to store instead of random ones (rope_freqs) */
} tensor_plan;

typedef struct fill_ctx {
    tensor_plan *plans;
    slm_threadpool *pool;
    float *scratch; /* per thread: one row */
    int64_t max_row;
    /* current */
    const tensor_plan *cur;
    void *dst;
    uint64_t row_bytes;
} fill_ctx;

/* Counter-based generator: splitmix64 of (seed, index) -> approximately normal via 4 uniforms. */
static inline uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Per-tensor seed from its name (FNV-1a), so values do not depend on the tensor order. */
static uint64_t name_seed(const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *name; name++) h = (h ^ (uint8_t)*name) * 0x100000001b3ull;
    return mix64(h);
}

static inline float normalish(uint64_t seed, uint64_t i) {
    uint64_t h = mix64(seed ^ mix64(i));
    /* sum of 4 uniforms of 16 bits, centred and scaled to unit variance (Irwin-Hall) */
    float s = (float)(h & 0xffff) + (float)((h >> 16) & 0xffff) + (float)((h >> 32) & 0xffff) + (float)(h >> 48);
    return (s / 65536.0f - 2.0f) * 1.7320508f;
}

static void fill_rows(void *arg, int ith, int nth) {
    fill_ctx *c = arg;
    const tensor_plan *p = c->cur;
    float *row = c->scratch + (int64_t)ith * c->max_row;
    slm_from_float_fn q = slm_quant_from_float(p->type);
    int64_t r0, r1;
    slm_split_range(p->ne[1], ith, nth, 1, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t i = 0; i < p->ne[0]; i++)
            row[i] = p->mean + p->std * normalish(p->seed, (uint64_t)(r * p->ne[0] + i));
        q(row, (uint8_t *)c->dst + (uint64_t)r * c->row_bytes, p->ne[0]);
    }
}

static slm_status fill_tensor(void *user, int64_t index, void *dst, uint64_t nbytes, slm_error *err) {
    fill_ctx *c = user;
    c->cur = &c->plans[index];
    c->dst = dst;
    if (c->cur->fixed) {
        memcpy(dst, c->cur->fixed, nbytes);
        return SLM_OK;
    }
    slm_dtype_row_size(c->cur->type, (uint64_t)c->cur->ne[0], &c->row_bytes);
    slm_threadpool_run(c->pool, fill_rows, c);
    if (isatty(2)) fprintf(stderr, "\r%-40s %-6s", c->cur->name, slm_dtype_name(c->cur->type));
    return SLM_OK;
}

static int fail(const char *what, const slm_error *e) {
    fprintf(stderr, "make_bench_model: %s: %s\n", what, e->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: make_bench_model SHAPE TYPE OUT.gguf TOKENIZER.gguf [-t N]\n"
                        "SHAPE: llama3.2-1b | llama3.2-3b | qwen2.5-0.5b\n");
        return 2;
    }
    const shape *sh = NULL;
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        if (!strcmp(k_shapes[i].name, argv[1])) sh = &k_shapes[i];
    slm_ftype ft;
    if (!sh || !slm_ftype_from_name(argv[2], &ft)) {
        fprintf(stderr, "make_bench_model: unknown shape '%s' or type '%s'\n", argv[1], argv[2]);
        return 2;
    }
    int n_threads = argc > 6 && !strcmp(argv[5], "-t") ? atoi(argv[6]) : slm_cpu_count_physical();
    slm_error err = {0};
    gguf_file *tok = NULL;
    if (gguf_open(argv[4], &tok, &err)) return fail(argv[4], &err);
    gguf_arr toks;
    if (!gguf_get_arr(tok, "tokenizer.ggml.tokens", &toks) || (int64_t)toks.n != sh->n_vocab) {
        fprintf(stderr, "make_bench_model: %s has no tokenizer of %lld tokens\n", argv[4], (long long)sh->n_vocab);
        return 1;
    }

    gguf_writer *w = NULL;
    if (gguf_writer_new(&w, &err)) return fail("writer", &err);
    char key[128];
    const char *a = sh->arch;
#define U32(k, v) (snprintf(key, sizeof key, "%s." k, a), gguf_writer_add_u32(w, key, (uint32_t)(v), &err))
#define F32(k, v) (snprintf(key, sizeof key, "%s." k, a), gguf_writer_add_f32(w, key, (v), &err))
    slm_status st = gguf_writer_add_str(w, "general.architecture", a, &err);
    st = st ? st : gguf_writer_add_str(w, "general.name", sh->general_name, &err);
    st = st ? st : U32("block_count", sh->n_layer);
    st = st ? st : U32("context_length", sh->n_ctx);
    st = st ? st : U32("embedding_length", sh->n_embd);
    st = st ? st : U32("feed_forward_length", sh->n_ff);
    st = st ? st : U32("attention.head_count", sh->n_head);
    st = st ? st : U32("attention.head_count_kv", sh->n_head_kv);
    st = st ? st : F32("rope.freq_base", sh->theta);
    st = st ? st : F32("attention.layer_norm_rms_epsilon", sh->eps);
    st = st ? st : U32("attention.key_length", sh->head_dim);
    st = st ? st : U32("attention.value_length", sh->head_dim);
    st = st ? st : U32("rope.dimension_count", sh->head_dim);
    st = st ? st : U32("vocab_size", sh->n_vocab);
    st = st ? st : gguf_writer_add_u32(w, "general.file_type", (uint32_t)ft, &err);
    st = st ? st : gguf_writer_add_u32(w, "general.quantization_version", 2, &err);
    for (int64_t i = 0; !st && i < gguf_n_kv(tok); i++)
        if (!strncmp(gguf_key_name(tok, i), "tokenizer.", 10)) st = gguf_writer_copy_kv(w, tok, i, &err);
    if (st) return fail("metadata", &err);

    /* Tensor list in llama-quantize order (non-layer first, then by layer, by name). */
    tensor_plan *plans = calloc((size_t)(8 + 16 * sh->n_layer), sizeof *plans);
    int np = 0;
    float rope_div[256] = {0};
    int64_t q_dim = sh->n_head * sh->head_dim, kv_dim = sh->n_head_kv * sh->head_dim;
#define ADD(nm, d0, d1, nd, mu, sd)                                                         \
    do {                                                                                    \
        tensor_plan *p_ = &plans[np];                                                       \
        snprintf(p_->name, sizeof p_->name, "%s", nm);                                      \
        p_->ne[0] = d0; p_->ne[1] = d1; p_->n_dims = nd; p_->mean = mu; p_->std = sd;      \
        p_->seed = name_seed(p_->name);                                                     \
        p_->type = nd == 1 ? SLM_DT_F32                                                     \
                           : slm_recipe_tensor_type(&rc, p_->name, nd, p_->ne, SLM_DT_F32); \
        np++;                                                                               \
    } while (0)
    slm_recipe_ctx rc = {.ftype = ft, .n_layer = sh->n_layer, .n_gqa = sh->n_head / sh->n_head_kv, .has_output = false};
    if (sh->llama3_rope) {
        /* Llama 3.2's scaling (factor 32, low 1, high 4, original context 8192), as its GGUFs store it. */
        slm_hparams hp = {.n_rot = sh->head_dim, .rope_theta = sh->theta, .rope_factor = 32.0f,
                          .rope_low_freq_factor = 1.0f, .rope_high_freq_factor = 4.0f, .rope_orig_ctx = 8192};
        slm_llama3_rope_divisors(&hp, rope_div);
        ADD("rope_freqs.weight", sh->head_dim / 2, 1, 1, 0.0f, 0.0f);
        plans[np - 1].fixed = rope_div;
    }
    ADD("output_norm.weight", sh->n_embd, 1, 1, 1.0f, 0.1f);
    ADD("token_embd.weight", sh->n_embd, sh->n_vocab, 2, 0.0f, 1.0f / sqrtf((float)sh->n_embd));
    char nm[64];
    for (int64_t il = 0; il < sh->n_layer; il++) {
        float sd_e = 1.0f / sqrtf((float)sh->n_embd), sd_f = 1.0f / sqrtf((float)sh->n_ff);
#define L(s) (snprintf(nm, sizeof nm, "blk.%lld." s, (long long)il), nm)
        if (sh->qkv_bias) ADD(L("attn_k.bias"), kv_dim, 1, 1, 0.0f, 0.2f);
        ADD(L("attn_k.weight"), sh->n_embd, kv_dim, 2, 0.0f, sd_e);
        ADD(L("attn_norm.weight"), sh->n_embd, 1, 1, 1.0f, 0.1f);
        ADD(L("attn_output.weight"), q_dim, sh->n_embd, 2, 0.0f, 1.0f / sqrtf((float)q_dim));
        if (sh->qkv_bias) ADD(L("attn_q.bias"), q_dim, 1, 1, 0.0f, 0.2f);
        ADD(L("attn_q.weight"), sh->n_embd, q_dim, 2, 0.0f, sd_e);
        if (sh->qkv_bias) ADD(L("attn_v.bias"), kv_dim, 1, 1, 0.0f, 0.2f);
        ADD(L("attn_v.weight"), sh->n_embd, kv_dim, 2, 0.0f, sd_e);
        ADD(L("ffn_down.weight"), sh->n_ff, sh->n_embd, 2, 0.0f, sd_f);
        ADD(L("ffn_gate.weight"), sh->n_embd, sh->n_ff, 2, 0.0f, sd_e);
        ADD(L("ffn_norm.weight"), sh->n_embd, 1, 1, 1.0f, 0.1f);
        ADD(L("ffn_up.weight"), sh->n_embd, sh->n_ff, 2, 0.0f, sd_e);
#undef L
    }
    slm_threadpool *pool = NULL;
    if (slm_threadpool_new(n_threads, &pool, &err)) return fail("threads", &err);
    fill_ctx fc = {.plans = plans, .pool = pool, .max_row = sh->n_ff > sh->n_embd ? sh->n_ff : sh->n_embd};
    fc.scratch = malloc((size_t)n_threads * (size_t)fc.max_row * sizeof(float));
    for (int i = 0; !st && i < np; i++)
        st = gguf_writer_add_tensor_fn(w, plans[i].name, plans[i].type, (uint32_t)plans[i].n_dims, plans[i].ne,
                                       fill_tensor, &fc, &err);
    if (!st) st = gguf_writer_write(w, argv[3], &err);
    fprintf(stderr, "\n");
    if (st) return fail(argv[3], &err);
    fprintf(stderr, "wrote %s\n", argv[3]);
    free(plans);
    free(fc.scratch);
    slm_threadpool_free(pool);
    gguf_writer_free(w);
    gguf_close(tok);
    return 0;
}
