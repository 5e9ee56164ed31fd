/* make_bench_model: write a random-weight GGUF with the exact shapes of a real model, for speed
 * benchmarks and for greedy agreement tests against llama.cpp (both engines run the same file).
 * Metadata keys and tensor names are those llama.cpp's convert_hf_to_gguf.py writes for the real
 * model. The tokenizer comes from TOKENIZER: a GGUF whose tokenizer.* keys are copied (the fixture
 * GGUFs carry Llama 3's and Qwen 2.5's), or a Hugging Face folder exported as `slm convert` does
 * (Gemma 3's from the gemma3-tiny fixture, with its chat template).
 * Phi-4-mini's own tokenizer (o200k-style, 200064 ids) is not in the fixtures: phi4-mini files use
 * the given tokenizer (Llama 3's) padded with UNUSED "[PADi]" tokens up to 200064 entries, and say
 * so in general.description; the Llama 3 chat template is dropped (it is not Phi's).
 *
 * usage: make_bench_model SHAPE TYPE OUT.gguf TOKENIZER [-t N] [-l LAYERS]
 *   SHAPE: llama3.2-1b | llama3.2-3b | qwen2.5-0.5b | gemma3-1b | phi4-mini
 *   TYPE:  any slm quantize type (q4_0, q4_k_m, q8_0, q6_k, iq4_xs, f16, ...)
 *   -l:    fewer layers than the real model (same shapes otherwise), for fast CI tests
 *
 * Values: matrices 0 +- 1/sqrt(fan_in) (activations keep unit scale through the layers), norms
 * 1 +- 0.1, biases 0 +- 0.2, token_embd rows of norm embd_norm (0 +- embd_norm/sqrt(n_embd)). The
 * final norm is logit_scale +- 10%: tied logits then have a standard deviation of about
 * logit_scale * embd_norm. Trained models spread their logits over several units, and greedy
 * decoding needs top-2 gaps above quantization noise; raising the final norm does that without
 * making the input embedding dominate the residual stream, which would make the model repeat its
 * last input token (Gemma scales embeddings by sqrt(n_embd), hence its small embd_norm). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dtype.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "convert/convert.h"
#include "convert/recipe.h"
#include "gguf/gguf.h"
#include "model/arch.h"
#include "quant/quant.h"

typedef enum family { FAM_LLAMA, FAM_QWEN2, FAM_GEMMA3, FAM_PHI3 } family;

typedef struct shape {
    const char *name, *arch, *general_name;
    family fam;
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float theta, eps;
    bool tied;
    float embd_norm;       /* norm of a token_embd row (see above) */
    float logit_scale;     /* mean of output_norm */
    /* gemma3 */
    int64_t swa;           /* sliding window (tokens) */
    float theta_swa;
    /* phi3 */
    int64_t n_rot, orig_ctx;
    const float *long_factor; /* n_rot / 2 values */
} shape;

/* microsoft/Phi-4-mini-instruct config.json rope_scaling.long_factor (48 = 96 rotated dims / 2);
 * its short_factor is 48 x 1.0. */
static const float k_phi4_long[48] = {
    1.0f, 1.118320672f, 1.250641126f, 1.398617824f, 1.564103225f, 1.74916897f, 1.956131817f, 2.187582649f,
    2.446418898f, 2.735880826f, 3.059592084f, 3.421605075f, 3.826451687f, 4.279200023f, 4.785517845f,
    5.351743533f, 5.984965424f, 6.693110555f, 7.485043894f, 8.370679318f, 9.36110372f, 10.4687158f,
    11.70738129f, 13.09260651f, 14.64173252f, 16.37415215f, 18.31155283f, 20.47818807f, 22.90118105f,
    25.61086418f, 28.64115884f, 32.03f, 32.1f, 32.13f, 32.23f, 32.6f, 32.61f, 32.64f, 32.66f, 32.7f,
    32.71f, 32.93f, 32.97f, 33.28f, 33.49f, 33.5f, 44.16f, 47.77f};

static const shape k_shapes[] = {
    {"llama3.2-1b", "llama", "Llama 3.2 1B (random weights)", FAM_LLAMA, 2048, 16, 32, 8, 64, 8192, 128256, 131072,
     500000.0f, 1e-5f, true, 1.0f, 1.0f, 0, 0, 0, 0, NULL},
    {"llama3.2-3b", "llama", "Llama 3.2 3B (random weights)", FAM_LLAMA, 3072, 28, 24, 8, 128, 8192, 128256, 131072,
     500000.0f, 1e-5f, true, 1.0f, 1.0f, 0, 0, 0, 0, NULL},
    {"qwen2.5-0.5b", "qwen2", "Qwen2.5 0.5B (random weights)", FAM_QWEN2, 896, 24, 14, 2, 64, 4864, 151936, 32768,
     1000000.0f, 1e-6f, true, 1.0f, 1.0f, 0, 0, 0, 0, NULL},
    /* google/gemma-3-1b-pt config.json: sliding_window 512, sliding_window_pattern 6 (llama.cpp's
     * default, not written), rope_local_base_freq 1e4, rope_theta 1e6, query_pre_attn_scalar 256
     * (= head_dim: no attention.scale key, as llama.cpp's converter), max_position_embeddings 32768. */
    {"gemma3-1b", "gemma3", "Gemma 3 1B (random weights)", FAM_GEMMA3, 1152, 26, 4, 1, 256, 6912, 262144, 32768,
     1000000.0f, 1e-6f, true, 0.1f, 80.0f, 512, 10000.0f, 256, 0, NULL},
    /* microsoft/Phi-4-mini-instruct config.json: partial_rotary_factor 0.75 (96 of 128 dims),
     * longrope, original_max_position_embeddings 4096, max 131072, sliding_window 262144. */
    {"phi4-mini", "phi3", "Phi 4 Mini (random weights)", FAM_PHI3, 3072, 32, 24, 8, 128, 8192, 200064, 131072,
     10000.0f, 1e-5f, true, 1.0f, 8.0f, 262144, 0, 96, 4096, k_phi4_long},
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
    (void)err;
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

/* Inside a layer, llama-quantize's order is by name (tensors outside layers come first). */
static int plan_by_name(const void *a, const void *b) {
    return strcmp(((const tensor_plan *)a)->name, ((const tensor_plan *)b)->name);
}

/* tokenizer.* keys of a GGUF, padded to n_vocab with UNUSED "[PADi]" tokens when pad is set. */
static slm_status copy_tokenizer(gguf_writer *w, const gguf_file *tok, int64_t n_vocab, bool pad, slm_error *err) {
    gguf_arr toks, types, scores;
    if (!gguf_get_arr(tok, "tokenizer.ggml.tokens", &toks) || (int64_t)toks.n > n_vocab ||
        ((int64_t)toks.n < n_vocab && !pad))
        return slm_fail(err, SLM_E_FORMAT, "the tokenizer GGUF has no tokenizer of %lld tokens", (long long)n_vocab);
    bool padded = (int64_t)toks.n < n_vocab;
    bool has_types = gguf_get_arr(tok, "tokenizer.ggml.token_type", &types) && types.n == toks.n;
    bool has_scores = gguf_get_arr(tok, "tokenizer.ggml.scores", &scores) && scores.n == toks.n;
    slm_status st = SLM_OK;
    for (int64_t i = 0; !st && i < gguf_n_kv(tok); i++) {
        const char *k = gguf_key_name(tok, i);
        if (strncmp(k, "tokenizer.", 10)) continue;
        if (padded && (!strcmp(k, "tokenizer.ggml.tokens") || !strcmp(k, "tokenizer.ggml.token_type") ||
                       !strcmp(k, "tokenizer.ggml.scores") || !strncmp(k, "tokenizer.chat_template", 23)))
            continue; /* rewritten below; another model's chat template does not apply */
        st = gguf_writer_copy_kv(w, tok, i, err);
    }
    if (st || !padded) return st;
    gguf_str *strs = calloc((size_t)n_vocab, sizeof *strs);
    char (*pads)[24] = calloc((size_t)(n_vocab - (int64_t)toks.n), sizeof *pads);
    int32_t *tt = calloc((size_t)n_vocab, sizeof *tt);
    float *sc = calloc((size_t)n_vocab, sizeof *sc);
    if (!strs || !pads || !tt || !sc) st = slm_fail(err, SLM_E_NOMEM, "out of memory");
    for (int64_t i = 0; !st && i < n_vocab; i++) {
        int64_t v = 1 /* NORMAL */;
        double f = 0;
        if (i < (int64_t)toks.n) {
            if (!gguf_arr_str(tok, &toks, (uint64_t)i, &strs[i]))
                st = slm_fail(err, SLM_E_FORMAT, "token %lld is not a string", (long long)i);
            if (has_types) gguf_arr_get_i64(&types, (uint64_t)i, &v);
            if (has_scores) gguf_arr_get_f64(&scores, (uint64_t)i, &f);
        } else {
            char *p = pads[i - (int64_t)toks.n];
            int n = snprintf(p, sizeof pads[0], "[PAD%lld]", (long long)i);
            strs[i] = (gguf_str){p, (uint64_t)n};
            v = 5; /* UNUSED, as llama.cpp's converter marks vocabulary holes */
        }
        tt[i] = (int32_t)v;
        sc[i] = (float)f;
    }
    if (!st) st = gguf_writer_add_arr_gstr(w, "tokenizer.ggml.tokens", strs, (uint64_t)n_vocab, err);
    if (!st) st = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, tt, (uint64_t)n_vocab, err);
    if (!st && has_scores) st = gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, sc, (uint64_t)n_vocab, err);
    free(strs);
    free(pads);
    free(tt);
    free(sc);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: make_bench_model SHAPE TYPE OUT.gguf TOKENIZER [-t N] [-l LAYERS]\n"
                        "SHAPE: llama3.2-1b | llama3.2-3b | qwen2.5-0.5b | gemma3-1b | phi4-mini\n"
                        "TOKENIZER: a GGUF (tokenizer keys copied) or a Hugging Face folder (exported)\n");
        return 2;
    }
    const shape *sh0 = NULL;
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        if (!strcmp(k_shapes[i].name, argv[1])) sh0 = &k_shapes[i];
    slm_ftype ft;
    if (!sh0 || !slm_ftype_from_name(argv[2], &ft)) {
        fprintf(stderr, "make_bench_model: unknown shape '%s' or type '%s'\n", argv[1], argv[2]);
        return 2;
    }
    shape s = *sh0;
    const shape *sh = &s;
    int n_threads = slm_cpu_count_physical();
    for (int i = 5; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) n_threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-l")) s.n_layer = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "make_bench_model: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (n_threads < 1 || n_threads > 256 || s.n_layer < 1 || s.n_layer > sh0->n_layer) {
        fprintf(stderr, "make_bench_model: bad -t or -l (layers 1..%lld)\n", (long long)sh0->n_layer);
        return 2;
    }
    slm_error err = {0};
    const char *tok_path = argv[4];
    size_t tl = strlen(tok_path);
    bool tok_is_gguf = tl > 5 && !strcmp(tok_path + tl - 5, ".gguf");
    gguf_file *tok = NULL;
    if (tok_is_gguf && gguf_open(tok_path, &tok, &err)) return fail(tok_path, &err);

    gguf_writer *w = NULL;
    if (gguf_writer_new(&w, &err)) return fail("writer", &err);
    char key[128];
    const char *a = sh->arch;
    const bool phi = sh->fam == FAM_PHI3, gemma = sh->fam == FAM_GEMMA3;
#define U32(k, v) (snprintf(key, sizeof key, "%s." k, a), gguf_writer_add_u32(w, key, (uint32_t)(v), &err))
#define F32(k, v) (snprintf(key, sizeof key, "%s." k, a), gguf_writer_add_f32(w, key, (v), &err))
    slm_status st = gguf_writer_add_str(w, "general.architecture", a, &err);
    st = st ? st : gguf_writer_add_str(w, "general.name", sh->general_name, &err);
    if (!st && phi)
        st = gguf_writer_add_str(w, "general.description",
                                 "random weights at Phi-4-mini-instruct's shapes; tokenizer: the given one (Llama 3's) "
                                 "padded with unused [PADi] tokens to 200064 ids (Phi-4-mini's own is not available)",
                                 &err);
    st = st ? st : U32("block_count", sh->n_layer);
    st = st ? st : U32("context_length", sh->n_ctx);
    st = st ? st : U32("embedding_length", sh->n_embd);
    st = st ? st : U32("feed_forward_length", sh->n_ff);
    st = st ? st : U32("attention.head_count", sh->n_head);
    st = st ? st : U32("attention.head_count_kv", sh->n_head_kv);
    st = st ? st : F32("rope.freq_base", sh->theta);
    st = st ? st : F32("attention.layer_norm_rms_epsilon", sh->eps);
    if (phi) {
        /* Phi3MiniModel: no key/value length (n_embd / n_head), rope dims = partial rotary. */
        double r = (double)sh->n_ctx / (double)sh->orig_ctx;
        float attn_factor = (float)sqrt(1.0 + log(r) / log((double)sh->orig_ctx));
        st = st ? st : U32("rope.dimension_count", sh->n_rot);
        st = st ? st : U32("rope.scaling.original_context_length", sh->orig_ctx);
        st = st ? st : F32("rope.scaling.attn_factor", attn_factor);
        st = st ? st : U32("attention.sliding_window", sh->swa);
    } else {
        st = st ? st : U32("attention.key_length", sh->head_dim);
        st = st ? st : U32("attention.value_length", sh->head_dim);
        st = st ? st : U32("rope.dimension_count", sh->head_dim);
    }
    if (gemma) {
        st = st ? st : U32("attention.sliding_window", sh->swa);
        st = st ? st : F32("rope.freq_base_swa", sh->theta_swa);
    }
    st = st ? st : U32("vocab_size", sh->n_vocab);
    st = st ? st : gguf_writer_add_u32(w, "general.file_type", (uint32_t)ft, &err);
    st = st ? st : gguf_writer_add_u32(w, "general.quantization_version", 2, &err);
    if (!st) st = tok ? copy_tokenizer(w, tok, sh->n_vocab, phi, &err) : slm_tokenizer_export_gguf(tok_path, w, &err);
    if (st) return fail("metadata", &err);

    tensor_plan *plans = calloc((size_t)(8 + 16 * sh->n_layer), sizeof *plans);
    int np = 0;
    float rope_div[256] = {0}, ones[256];
    for (int i = 0; i < 256; i++) ones[i] = 1.0f;
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
    slm_recipe_ctx rc = {.ftype = ft, .n_layer = sh->n_layer, .n_gqa = sh->n_head / sh->n_head_kv,
                         .has_output = !sh->tied, .arch = slm_arch_find(a)->arch};
    if (sh->fam == FAM_LLAMA) {
        /* Llama 3.2's scaling (factor 32, low 1, high 4, original context 8192), as its GGUFs store it. */
        slm_hparams hp = {.n_rot = sh->head_dim, .rope_theta = sh->theta, .rope_factor = 32.0f,
                          .rope_low_freq_factor = 1.0f, .rope_high_freq_factor = 4.0f, .rope_orig_ctx = 8192};
        slm_llama3_rope_divisors(&hp, rope_div);
        ADD("rope_freqs.weight", sh->head_dim / 2, 1, 1, 0.0f, 0.0f);
        plans[np - 1].fixed = rope_div;
    }
    if (phi) {
        ADD("rope_factors_long.weight", sh->n_rot / 2, 1, 1, 0.0f, 0.0f);
        plans[np - 1].fixed = sh->long_factor;
        ADD("rope_factors_short.weight", sh->n_rot / 2, 1, 1, 0.0f, 0.0f);
        plans[np - 1].fixed = ones;
    }
    ADD("output_norm.weight", sh->n_embd, 1, 1, sh->logit_scale, 0.1f * sh->logit_scale);
    ADD("token_embd.weight", sh->n_embd, sh->n_vocab, 2, 0.0f, sh->embd_norm / sqrtf((float)sh->n_embd));
    char nm[64];
    int layer0 = np;
    for (int64_t il = 0; il < sh->n_layer; il++) {
        if (il > 0) qsort(plans + layer0, (size_t)(np - layer0), sizeof *plans, plan_by_name);
        layer0 = np;
        float sd_e = 1.0f / sqrtf((float)sh->n_embd), sd_f = 1.0f / sqrtf((float)sh->n_ff);
#define L(s) (snprintf(nm, sizeof nm, "blk.%lld." s, (long long)il), nm)
        ADD(L("attn_norm.weight"), sh->n_embd, 1, 1, 1.0f, 0.1f);
        ADD(L("attn_output.weight"), q_dim, sh->n_embd, 2, 0.0f, 1.0f / sqrtf((float)q_dim));
        ADD(L("ffn_down.weight"), sh->n_ff, sh->n_embd, 2, 0.0f, sd_f);
        ADD(L("ffn_norm.weight"), sh->n_embd, 1, 1, 1.0f, 0.1f);
        if (phi) { /* fused [q; k; v] and [gate; up] (llama.cpp names the latter ffn_up) */
            ADD(L("attn_qkv.weight"), sh->n_embd, q_dim + 2 * kv_dim, 2, 0.0f, sd_e);
            ADD(L("ffn_up.weight"), sh->n_embd, 2 * sh->n_ff, 2, 0.0f, sd_e);
            continue;
        }
        ADD(L("attn_q.weight"), sh->n_embd, q_dim, 2, 0.0f, sd_e);
        ADD(L("attn_k.weight"), sh->n_embd, kv_dim, 2, 0.0f, sd_e);
        ADD(L("attn_v.weight"), sh->n_embd, kv_dim, 2, 0.0f, sd_e);
        ADD(L("ffn_gate.weight"), sh->n_embd, sh->n_ff, 2, 0.0f, sd_e);
        ADD(L("ffn_up.weight"), sh->n_embd, sh->n_ff, 2, 0.0f, sd_e);
        if (sh->fam == FAM_QWEN2) {
            ADD(L("attn_q.bias"), q_dim, 1, 1, 0.0f, 0.2f);
            ADD(L("attn_k.bias"), kv_dim, 1, 1, 0.0f, 0.2f);
            ADD(L("attn_v.bias"), kv_dim, 1, 1, 0.0f, 0.2f);
        }
        if (gemma) { /* GGUF Gemma norms hold 1 + w; q/k norms over head_dim; sandwich norms */
            ADD(L("attn_q_norm.weight"), sh->head_dim, 1, 1, 1.0f, 0.1f);
            ADD(L("attn_k_norm.weight"), sh->head_dim, 1, 1, 1.0f, 0.1f);
            ADD(L("post_attention_norm.weight"), sh->n_embd, 1, 1, 1.0f, 0.1f);
            ADD(L("post_ffw_norm.weight"), sh->n_embd, 1, 1, 1.0f, 0.1f);
        }
#undef L
    }
    qsort(plans + layer0, (size_t)(np - layer0), sizeof *plans, plan_by_name);
    slm_threadpool *pool = NULL;
    if (slm_threadpool_new(n_threads, &pool, &err)) return fail("threads", &err);
    int64_t max_row = sh->n_embd;
    for (int i = 0; i < np; i++)
        if (plans[i].ne[0] > max_row) max_row = plans[i].ne[0];
    fill_ctx fc = {.plans = plans, .pool = pool, .max_row = max_row};
    fc.scratch = malloc((size_t)n_threads * (size_t)fc.max_row * sizeof(float));
    for (int i = 0; !st && i < np; i++)
        st = gguf_writer_add_tensor_fn(w, plans[i].name, plans[i].type, (uint32_t)plans[i].n_dims, plans[i].ne,
                                       fill_tensor, &fc, &err);
    if (!st) st = gguf_writer_write(w, argv[3], &err);
    if (isatty(2)) fprintf(stderr, "\n");
    if (st) return fail(argv[3], &err);
    fprintf(stderr, "wrote %s\n", argv[3]);
    free(plans);
    free(fc.scratch);
    slm_threadpool_free(pool);
    gguf_writer_free(w);
    gguf_close(tok);
    return 0;
}
