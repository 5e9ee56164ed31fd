/* Math pieces of the forward pass: RMSNorm, RoPE tables and rotation, one attention head,
 * activations. Float32 values in and out, as the reference (transformers, float32) computes them;
 * sums that the reference reduces in float32 are accumulated here in double, which only makes
 * the result closer to the exact value. */
#include <math.h>

#include "model/forward.h"

void fwd_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps, bool plus_one) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    const float inv = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * inv;
        if (w) v *= plus_one ? 1.0f + w[i] : w[i];
        y[i] = v;
    }
}

/* Llama 3.1 frequency divisor for one inverse frequency f (the HF formula): long wavelengths are
 * slowed by factor, short ones kept, the band between interpolated. */
static float llama3_divisor(const slm_hparams *hp, float f) {
    const double factor = hp->rope_factor > 0 ? hp->rope_factor : 1.0;
    const double low = hp->rope_low_freq_factor > 0 ? hp->rope_low_freq_factor : 1.0;
    const double high = hp->rope_high_freq_factor > 0 ? hp->rope_high_freq_factor : 4.0;
    const double orig = hp->rope_orig_ctx > 0 ? (double)hp->rope_orig_ctx : 8192.0;
    const double wavelen = 2.0 * M_PI / (double)f;
    if (wavelen < orig / high) return 1.0f;
    if (wavelen > orig / low) return (float)factor;
    const double s = (orig / wavelen - low) / (high - low);
    /* scaled f = (1 - s) f / factor + s f = f / divisor */
    return (float)(1.0 / ((1.0 - s) / factor + s));
}

void fwd_rope_inv_freq(const slm_hparams *hp, float theta, bool scaled, bool use_long, const float *freq_divisors,
                       float *inv_freq) {
    const int64_t half = hp->n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        /* float32 exactly as transformers: 1 / theta ** (2i / n_rot) */
        const float expo = (float)(2 * i) / (float)hp->n_rot;
        float f = 1.0f / powf(theta, expo);
        if (freq_divisors) {
            f /= freq_divisors[i]; /* rope_freqs tensor (llama3 in GGUF) wins over computed scaling */
        } else if (scaled) {
            switch (hp->rope_scaling) {
            case SLM_ROPE_SCALING_NONE: break;
            case SLM_ROPE_SCALING_LINEAR:
                if (hp->rope_factor > 0) f /= hp->rope_factor;
                break;
            case SLM_ROPE_SCALING_LLAMA3: f /= llama3_divisor(hp, f); break;
            case SLM_ROPE_SCALING_LONGROPE: {
                const float *fac = use_long && hp->rope_long_factor ? hp->rope_long_factor : hp->rope_short_factor;
                if (fac) f = 1.0f / (fac[i] * powf(theta, expo));
                break;
            }
            }
        }
        inv_freq[i] = f;
    }
}

void fwd_rope_cos_sin(const float *inv_freq, int64_t n_rot, int32_t pos, float mscale, float *cs) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        const float angle = (float)pos * inv_freq[i]; /* float32 product, as the reference */
        cs[i] = cosf(angle) * mscale;
        cs[half + i] = sinf(angle) * mscale;
    }
}

void fwd_rope_rotate(float *x, int64_t n_rot, bool neox, const float *cs) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        const float c = cs[i], s = cs[half + i];
        const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        const float a = x[i0], b = x[i1];
        x[i0] = a * c - b * s;
        x[i1] = b * c + a * s;
    }
}

void fwd_rope_apply(float *x, int64_t n_rot, bool neox, const float *inv_freq, int32_t pos, float mscale) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        const float angle = (float)pos * inv_freq[i]; /* float32 product, as the reference */
        const float c = cosf(angle) * mscale, s = sinf(angle) * mscale;
        const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        const float a = x[i0], b = x[i1];
        x[i0] = a * c - b * s;
        x[i1] = b * c + a * s;
    }
}

void fwd_attn_begin(int64_t n_heads, int64_t head_dim, float *acc, float *mx, float *sum) {
    for (int64_t i = 0; i < n_heads * head_dim; i++) acc[i] = 0.0f;
    for (int64_t h = 0; h < n_heads; h++) {
        mx[h] = -INFINITY;
        sum[h] = 0.0f;
    }
}

/* Online softmax (one pass, no score buffer): when a score exceeds the running max, what was
 * accumulated so far is rescaled by exp(old_max - new_max), so every weight is exp(s - max). */
void fwd_attn_step(const float *q, int64_t n_heads, int64_t head_dim, const float *k, const float *v, float scale,
                   float softcap, float *acc, float *mx, float *sum) {
    for (int64_t h = 0; h < n_heads; h++) {
        const float *qh = q + h * head_dim;
        float s = 0.0f;
        for (int64_t d = 0; d < head_dim; d++) s += qh[d] * k[d];
        s *= scale;
        if (softcap > 0) s = softcap * tanhf(s / softcap);
        float *a = acc + h * head_dim;
        if (s > mx[h]) {
            const float r = expf(mx[h] - s); /* 0 for the first key (mx = -inf) */
            for (int64_t d = 0; d < head_dim; d++) a[d] *= r;
            sum[h] *= r;
            mx[h] = s;
        }
        const float p = expf(s - mx[h]);
        for (int64_t d = 0; d < head_dim; d++) a[d] += p * v[d];
        sum[h] += p;
    }
}

void fwd_attn_end(int64_t n_heads, int64_t head_dim, const float *acc, const float *sum, float *out, int64_t ld_out) {
    for (int64_t h = 0; h < n_heads; h++) {
        const float inv = sum[h] > 0 ? 1.0f / sum[h] : 0.0f;
        for (int64_t d = 0; d < head_dim; d++) out[h * ld_out + d] = acc[h * head_dim + d] * inv;
    }
}

void fwd_attention_head(float *out, const float *q, const float *keys, const float *vals, int64_t ld, int64_t n_keys,
                        int64_t head_dim, float scale, float softcap, float *scratch) {
    float *acc = scratch, mx, sum;
    fwd_attn_begin(1, head_dim, acc, &mx, &sum);
    for (int64_t j = 0; j < n_keys; j++)
        fwd_attn_step(q, 1, head_dim, keys + j * ld, vals + j * ld, scale, softcap, acc, &mx, &sum);
    fwd_attn_end(1, head_dim, acc, &sum, out, head_dim);
}
