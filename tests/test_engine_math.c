/* Math pieces of the forward pass against values computed here from the fixtures README formulas
 * (section 4) in double precision: RoPE tables (plain, linear, llama3, longrope) and rotation
 * (rotate_half vs adjacent pairs, partial rotary), RMSNorm, attention (online softmax, soft-cap)
 * against a naive float64 softmax, and the KV cache storage types. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "testutil.h"

static double rel_err(double a, double b) { return fabs(a - b) / fmax(1e-30, fmax(fabs(a), fabs(b))); }

/* Deterministic values in [-1, 1). */
static uint32_t g_rng = 12345;
static float frand(void) {
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float)((g_rng >> 8) / 8388608.0 - 1.0);
}

static void test_rope_tables(void) {
    slm_hparams hp = {0};
    float inv[8];
    /* plain: theta^(-2i/n_rot) */
    hp.n_rot = 16;
    hp.rope_scaling = SLM_ROPE_SCALING_NONE;
    fwd_rope_inv_freq(&hp, 10000.0f, true, false, NULL, inv);
    for (int i = 0; i < 8; i++) {
        const double want = pow(10000.0, -2.0 * i / 16.0);
        CHECK(rel_err(inv[i], want) < 1e-6, "plain inv_freq[%d] = %g, want %g", i, inv[i], want);
    }
    /* linear: divided by factor */
    hp.rope_scaling = SLM_ROPE_SCALING_LINEAR;
    hp.rope_factor = 8.0f;
    fwd_rope_inv_freq(&hp, 10000.0f, true, false, NULL, inv);
    for (int i = 0; i < 8; i++)
        CHECK(rel_err(inv[i], pow(10000.0, -2.0 * i / 16.0) / 8.0) < 1e-6, "linear inv_freq[%d] = %g", i, inv[i]);
    /* scaled = false (Gemma 3 local layers): no scaling */
    fwd_rope_inv_freq(&hp, 10000.0f, false, false, NULL, inv);
    CHECK(rel_err(inv[3], pow(10000.0, -6.0 / 16.0)) < 1e-6, "unscaled local table: %g", inv[3]);

    /* llama3 (llama3-tiny: head_dim 8, theta 5e5, factor 32, low 1, high 4, orig 8192): the
     * README's divisors [1, 1, 3.2922628, 32] */
    memset(&hp, 0, sizeof hp);
    hp.n_rot = 8;
    hp.rope_scaling = SLM_ROPE_SCALING_LLAMA3;
    hp.rope_factor = 32.0f;
    hp.rope_low_freq_factor = 1.0f;
    hp.rope_high_freq_factor = 4.0f;
    hp.rope_orig_ctx = 8192;
    fwd_rope_inv_freq(&hp, 500000.0f, true, false, NULL, inv);
    const double div[4] = {1.0, 1.0, 3.2922628, 32.0};
    for (int i = 0; i < 4; i++) {
        const double want = pow(500000.0, -2.0 * i / 8.0) / div[i];
        CHECK(rel_err(inv[i], want) < 1e-6, "llama3 inv_freq[%d] = %.9g, want %.9g", i, inv[i], want);
    }
    /* the same from a rope_freqs tensor (GGUF) */
    const float divf[4] = {1.0f, 1.0f, 3.2922628f, 32.0f};
    float inv2[4];
    fwd_rope_inv_freq(&hp, 500000.0f, true, false, divf, inv2);
    for (int i = 0; i < 4; i++) CHECK(rel_err(inv[i], inv2[i]) < 1e-6, "rope_freqs divisor %d", i);

    /* longrope (phi3-tiny): rot 12, inv_freq = 1 / (short[i] * theta^(2i/12)) */
    memset(&hp, 0, sizeof hp);
    float short_f[6] = {1.0f, 1.02f, 1.05f, 1.1f, 1.3f, 1.6f}, long_f[6] = {1, 1.5f, 3, 8, 20, 40};
    hp.n_rot = 12;
    hp.rope_scaling = SLM_ROPE_SCALING_LONGROPE;
    hp.rope_short_factor = short_f;
    hp.rope_long_factor = long_f;
    fwd_rope_inv_freq(&hp, 10000.0f, true, false, NULL, inv);
    for (int i = 0; i < 6; i++) {
        const double want = 1.0 / ((double)short_f[i] * pow(10000.0, 2.0 * i / 12.0));
        CHECK(rel_err(inv[i], want) < 1e-6, "longrope short inv_freq[%d] = %g, want %g", i, inv[i], want);
    }
    fwd_rope_inv_freq(&hp, 10000.0f, true, true, NULL, inv);
    CHECK(rel_err(inv[5], 1.0 / (40.0 * pow(10000.0, 10.0 / 12.0))) < 1e-6, "longrope long factor: %g", inv[5]);
}

static void test_rope_apply(void) {
    /* head_dim 6, n_rot 4 (partial): dims 4, 5 pass through. */
    const float inv[2] = {1.0f, 0.01f};
    const float x0[6] = {0.5f, -1.0f, 2.0f, 0.25f, 3.0f, -4.0f};
    const int pos = 7;
    const double mscale = 1.1902380714;
    float x[6];
    /* rotate_half: pairs (0, 2), (1, 3) */
    memcpy(x, x0, sizeof x);
    fwd_rope_apply(x, 4, true, inv, pos, (float)mscale);
    for (int i = 0; i < 2; i++) {
        const double a = pos * (double)inv[i], c = cos(a) * mscale, s = sin(a) * mscale;
        const double want0 = x0[i] * c - x0[i + 2] * s, want1 = x0[i + 2] * c + x0[i] * s;
        CHECK(fabs(x[i] - want0) < 1e-5 && fabs(x[i + 2] - want1) < 1e-5, "neox pair %d: %g %g vs %g %g", i, x[i],
              x[i + 2], want0, want1);
    }
    CHECK(x[4] == x0[4] && x[5] == x0[5], "neox partial: pass-through dims changed");
    /* adjacent: pairs (0, 1), (2, 3) */
    memcpy(x, x0, sizeof x);
    fwd_rope_apply(x, 4, false, inv, pos, 1.0f);
    for (int i = 0; i < 2; i++) {
        const double a = pos * (double)inv[i], c = cos(a), s = sin(a);
        const double want0 = x0[2 * i] * c - x0[2 * i + 1] * s, want1 = x0[2 * i + 1] * c + x0[2 * i] * s;
        CHECK(fabs(x[2 * i] - want0) < 1e-5 && fabs(x[2 * i + 1] - want1) < 1e-5, "adjacent pair %d", i);
    }
    CHECK(x[4] == x0[4] && x[5] == x0[5], "adjacent partial: pass-through dims changed");
    /* position 0 is the identity */
    memcpy(x, x0, sizeof x);
    fwd_rope_apply(x, 6, true, (const float[3]){1, 0.1f, 0.01f}, 0, 1.0f);
    CHECK(!memcmp(x, x0, sizeof x), "rope at position 0 must not change the vector");
    /* the two-step form (one cos/sin table per token) is bit-identical to fwd_rope_apply */
    float inv64[32], cs[64], a[64], b[64];
    for (int i = 0; i < 32; i++) inv64[i] = powf(10000.0f, -(float)i / 32);
    for (int neox = 0; neox < 2; neox++)
        for (int p = 0; p < 5000; p += 997) {
            for (int i = 0; i < 64; i++) a[i] = b[i] = sinf(0.37f * (float)(i + p)) * 3.0f;
            fwd_rope_apply(a, 64, neox, inv64, p, 1.25f);
            fwd_rope_cos_sin(inv64, 64, p, 1.25f, cs);
            fwd_rope_rotate(b, 64, neox, cs);
            CHECK(!memcmp(a, b, sizeof a), "rope table form differs (neox %d, pos %d)", neox, p);
        }
}

static void test_rmsnorm(void) {
    const float x[5] = {1, -2, 3, -4, 5}, w[5] = {0.5f, 1, 1.5f, 2, -1};
    float y[5], yp[5];
    fwd_rmsnorm(y, x, w, 5, 1e-5f, false);
    fwd_rmsnorm(yp, x, w, 5, 1e-5f, true);
    const double r = 1.0 / sqrt((1 + 4 + 9 + 16 + 25) / 5.0 + 1e-5);
    for (int i = 0; i < 5; i++) {
        CHECK(fabs(y[i] - x[i] * r * w[i]) < 1e-6, "rmsnorm[%d] = %g", i, y[i]);
        CHECK(fabs(yp[i] - x[i] * r * (1 + w[i])) < 1e-6, "rmsnorm (1 + w)[%d] = %g", i, yp[i]);
    }
}

/* Naive float64 attention of one head: softmax over all keys. */
static void attention_f64(double *out, const float *q, const float *keys, const float *vals, int n, int hd,
                          double scale, double cap) {
    double *s = malloc(sizeof(double) * (size_t)n), mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        double d = 0;
        for (int k = 0; k < hd; k++) d += (double)q[k] * keys[j * hd + k];
        d *= scale;
        if (cap > 0) d = cap * tanh(d / cap);
        s[j] = d;
        if (d > mx) mx = d;
    }
    for (int j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
    for (int k = 0; k < hd; k++) {
        out[k] = 0;
        for (int j = 0; j < n; j++) out[k] += s[j] / sum * vals[j * hd + k];
    }
    free(s);
}

static void test_attention(void) {
    enum { N = 37, HD = 16, G = 3 };
    float keys[N * HD], vals[N * HD], q[G * HD], out[G * HD], acc[G * HD], mx[G], sum[G], scratch[HD];
    for (int i = 0; i < N * HD; i++) {
        keys[i] = 3 * frand();
        vals[i] = frand();
    }
    for (int i = 0; i < G * HD; i++) q[i] = 3 * frand();
    for (int cap = 0; cap < 2; cap++) {
        const float softcap = cap ? 5.0f : 0.0f;
        /* one head at a time, growing key counts (1 key: output is that value) */
        for (int n = 1; n <= N; n += 9) {
            double want[HD];
            float got[HD];
            attention_f64(want, q, keys, vals, n, HD, 0.25, softcap);
            fwd_attention_head(got, q, keys, vals, HD, n, HD, 0.25f, softcap, scratch);
            for (int k = 0; k < HD; k++)
                CHECK(fabs(got[k] - want[k]) < 2e-6, "attention n=%d cap=%g [%d]: %g vs %g", n, softcap, k, got[k],
                      want[k]);
        }
        /* a GQA group of G query heads streaming over the same keys */
        fwd_attn_begin(G, HD, acc, mx, sum);
        for (int j = 0; j < N; j++) fwd_attn_step(q, G, HD, keys + j * HD, vals + j * HD, 0.25f, softcap, acc, mx, sum);
        fwd_attn_end(G, HD, acc, sum, out, HD);
        for (int h = 0; h < G; h++) {
            double want[HD];
            attention_f64(want, q + h * HD, keys, vals, N, HD, 0.25, softcap);
            for (int k = 0; k < HD; k++)
                CHECK(fabs(out[h * HD + k] - want[k]) < 2e-6, "group head %d [%d]: %g vs %g", h, k, out[h * HD + k],
                      want[k]);
        }
    }
}

/* The FFN's glu of every kernel table against the definitions in double: SiLU, and GELU's tanh
 * form as written in the papers (0.5 x (1 + tanh z)). Range -100..100 (the far tails: e^-x
 * overflow / clamping), 1..40 elements (SIMD tails), u = 1 and u random. */
static void test_activations(void) {
    for (int isa = 0; isa < SLM_ISA_COUNT; isa++) {
        const slm_kernels *kt = slm_kernels_for_isa((slm_isa)isa);
        if (!kt) continue;
        for (int gelu = 0; gelu < 2; gelu++) {
            int bad = 0;
            double worst = 0;
            for (double x0 = -100; x0 <= 100; x0 += 0.37 * 33) {
                float g[40], u[40];
                for (int i = 0; i < 40; i++) {
                    g[i] = (float)(x0 + (x0 > -8 && x0 < 8 ? 0.05 : 1.0) * i - 1.0);
                    u[i] = i % 2 ? 1.0f : 0.5f + 0.01f * i;
                }
                float out[40];
                for (int n = 1; n <= 40; n += 13) {
                    memcpy(out, g, sizeof g);
                    kt->glu(out, u, n, gelu);
                    for (int i = 0; i < n; i++) {
                        /* act(x) = x sigmoid(t); in double, sigmoid through exp (the tanh form
                         * cancels in the negative tail) */
                        const double x = g[i], t = gelu ? 2 * sqrt(2 / M_PI) * (x + 0.044715 * x * x * x) : x;
                        const double want = x / (1 + exp(-t)) * u[i], err = fabs(out[i] - want) / (fabs(want) + 1e-30);
                        /* float: t carries a relative rounding of a few 2^-24, which exp turns into
                         * |t| x that relative; plus a few ulps of the operations. Absolute 1e-30 in
                         * the far tail (exp clamped / overflowing). */
                        if (err > 2.5e-7 * (2 + fabs(t)) && fabs(out[i] - want) > 1e-30) bad++;
                        if (fabs(want) > 1e-30 && err > worst) worst = err;
                    }
                }
            }
            CHECK(bad == 0, "%s glu %s: %d values off (worst relative %.3g)", kt->name, gelu ? "gelu_tanh" : "silu",
                  bad, worst);
        }
    }
}

static void test_kv_cache(void) {
    const slm_kv_type types[] = {SLM_KV_F32, SLM_KV_F16, SLM_KV_Q8_0};
    const double bound[] = {0, 1.0 / 2048, 1.0 / 127}; /* relative to the row's max |value| */
    enum { ROW = 40 };                                  /* not a multiple of 32: q8_0 pads */
    for (int ti = 0; ti < 3; ti++) {
        kv_cache kv;
        slm_error err = {0};
        CHECK(kv_cache_init(&kv, types[ti], 2, 5, ROW, &err) == SLM_OK, "init: %s", err.msg);
        float k[ROW], v[ROW], back[ROW];
        for (int i = 0; i < ROW; i++) {
            k[i] = 4 * frand();
            v[i] = frand();
        }
        kv_cache_store(&kv, 1, 3, k, v);
        kv_cache_load_k(&kv, 1, 3, 0, ROW, back);
        for (int i = 0; i < ROW; i++) CHECK(fabs(back[i] - k[i]) <= 4 * bound[ti] + 1e-7, "type %d k[%d]", ti, i);
        kv_cache_load_v(&kv, 1, 3, 30, 10, back); /* slice across a q8_0 block edge */
        for (int i = 0; i < 10; i++) CHECK(fabs(back[i] - v[30 + i]) <= bound[ti] + 1e-7, "type %d v[%d]", ti, 30 + i);
        kv_cache_free(&kv);
    }
    /* cell bookkeeping */
    kv_cache kv;
    CHECK(kv_cache_init(&kv, SLM_KV_F32, 1, 4, 8, NULL) == SLM_OK, "init");
    const int32_t c0 = kv_cache_claim(&kv, 0, 0), c1 = kv_cache_claim(&kv, 0, 1), c2 = kv_cache_claim(&kv, 1, 0);
    CHECK(c0 == 0 && c1 == 1 && c2 == 2 && kv.n_used == 3, "claims %d %d %d", c0, c1, c2);
    CHECK(kv_cache_claim(&kv, 0, 1) == 1 && kv.n_used == 3, "same (seq, pos) must reuse its cell");
    CHECK(kv_cache_seq_pos_max(&kv, 0) == 1 && kv_cache_seq_pos_max(&kv, 1) == 0, "pos max");
    kv_cache_seq_remove(&kv, 0, 1, -1);
    CHECK(kv.n_used == 2 && kv_cache_seq_pos_max(&kv, 0) == 0, "remove tail");
    CHECK(kv_cache_claim(&kv, 2, 5) == 1, "freed cell reused");
    CHECK(kv_cache_claim(&kv, 2, 6) == 3 && kv_cache_claim(&kv, 2, 7) == -1, "full cache");
    kv_cache_seq_remove(&kv, -1, 0, -1);
    CHECK(kv.n_used == 0 && kv.used_end == 0, "remove all");
    kv_cache_free(&kv);
    CHECK(kv_cache_init(&kv, SLM_KV_F32, 1, 0, 8, NULL) == SLM_E_INVALID_ARG, "zero cells rejected");
    CHECK(kv_cache_init(&kv, SLM_KV_F32, 1000000, 1 << 24, 1 << 20, NULL) == SLM_E_NOMEM, "huge cache refused");
}

int main(void) {
    test_rope_tables();
    test_rope_apply();
    test_rmsnorm();
    test_attention();
    test_activations();
    test_kv_cache();
    return tu_finish("test_engine_math");
}
