/* Type-id dispatch over the reference row functions, and the checked wrappers that validate
 * untrusted sizes before any byte is touched. */
#include "quant/quant.h"

#include <math.h>
#include <stdalign.h>
#include <string.h>

#include "base/checked.h"
#include "base/dtype.h"
#include "base/error.h"

/* The row functions take typed block pointers; the table needs void* signatures. Calling through
 * a cast function pointer of another type is undefined, so each gets a one-line adapter. */
#define QUANT_ADAPTERS(name, block)                                                                                    \
    static void to_float_##name(const void *src, float *dst, int64_t n) {                                              \
        dequantize_row_##name((const block *)src, dst, n);                                                             \
    }                                                                                                                  \
    static void from_float_##name(const float *src, void *dst, int64_t n) {                                            \
        quantize_row_##name##_ref(src, (block *)dst, n);                                                               \
    }

QUANT_ADAPTERS(f16, slm_f16)
QUANT_ADAPTERS(bf16, slm_bf16)
QUANT_ADAPTERS(q4_0, block_q4_0)
QUANT_ADAPTERS(q4_1, block_q4_1)
QUANT_ADAPTERS(q5_0, block_q5_0)
QUANT_ADAPTERS(q5_1, block_q5_1)
QUANT_ADAPTERS(q8_0, block_q8_0)
QUANT_ADAPTERS(q8_1, block_q8_1)
QUANT_ADAPTERS(q2_K, block_q2_K)
QUANT_ADAPTERS(q3_K, block_q3_K)
QUANT_ADAPTERS(q4_K, block_q4_K)
QUANT_ADAPTERS(q5_K, block_q5_K)
QUANT_ADAPTERS(q6_K, block_q6_K)
QUANT_ADAPTERS(q8_K, block_q8_K)
QUANT_ADAPTERS(iq4_nl, block_iq4_nl)
QUANT_ADAPTERS(iq4_xs, block_iq4_xs)

static void to_float_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
static void from_float_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

typedef struct quant_traits {
    slm_to_float_fn to_float;
    slm_from_float_fn from_float;
    size_t align; /* alignment the block struct needs */
} quant_traits;

#define QUANT_ENTRY(id, name, block) [id] = {to_float_##name, from_float_##name, alignof(block)}

static const quant_traits k_traits[SLM_DT_COUNT] = {
    QUANT_ENTRY(SLM_DT_F32, f32, float),
    QUANT_ENTRY(SLM_DT_F16, f16, slm_f16),
    QUANT_ENTRY(SLM_DT_BF16, bf16, slm_bf16),
    QUANT_ENTRY(SLM_DT_Q4_0, q4_0, block_q4_0),
    QUANT_ENTRY(SLM_DT_Q4_1, q4_1, block_q4_1),
    QUANT_ENTRY(SLM_DT_Q5_0, q5_0, block_q5_0),
    QUANT_ENTRY(SLM_DT_Q5_1, q5_1, block_q5_1),
    QUANT_ENTRY(SLM_DT_Q8_0, q8_0, block_q8_0),
    QUANT_ENTRY(SLM_DT_Q8_1, q8_1, block_q8_1),
    QUANT_ENTRY(SLM_DT_Q2_K, q2_K, block_q2_K),
    QUANT_ENTRY(SLM_DT_Q3_K, q3_K, block_q3_K),
    QUANT_ENTRY(SLM_DT_Q4_K, q4_K, block_q4_K),
    QUANT_ENTRY(SLM_DT_Q5_K, q5_K, block_q5_K),
    QUANT_ENTRY(SLM_DT_Q6_K, q6_K, block_q6_K),
    QUANT_ENTRY(SLM_DT_Q8_K, q8_K, block_q8_K),
    QUANT_ENTRY(SLM_DT_IQ4_NL, iq4_nl, block_iq4_nl),
    QUANT_ENTRY(SLM_DT_IQ4_XS, iq4_xs, block_iq4_xs),
};

static const quant_traits *traits_get(uint32_t type) {
    if (type >= SLM_DT_COUNT || !k_traits[type].to_float) return NULL;
    return &k_traits[type];
}

slm_to_float_fn slm_quant_to_float(uint32_t type) {
    const quant_traits *t = traits_get(type);
    return t ? t->to_float : NULL;
}

slm_from_float_fn slm_quant_from_float(uint32_t type) {
    const quant_traits *t = traits_get(type);
    return t ? t->from_float : NULL;
}

/* Shared argument checks; on success *nbytes is the size of n elements of type. */
static slm_status check_args(const char *what, uint32_t type, const void *blocks, const float *floats, int64_t n,
                             const quant_traits **out, uint64_t *nbytes, slm_error *err) {
    const quant_traits *t = traits_get(type);
    const slm_dtype_info *info = slm_dtype_get(type);
    if (!t || !info) {
        const char *name = slm_dtype_name(type);
        return slm_fail(err, SLM_E_UNSUPPORTED, "%s: type %s (id %u) is not supported", what, name ? name : "unknown",
                        type);
    }
    if (n < 0)
        return slm_fail(err, SLM_E_INVALID_ARG, "%s %s: negative element count %lld", what, info->name, (long long)n);
    if ((uint64_t)n % info->blck_size != 0) {
        return slm_fail(err, SLM_E_INVALID_ARG, "%s %s: %lld elements is not a multiple of the block size %u", what,
                        info->name, (long long)n, info->blck_size);
    }
    if (!slm_dtype_row_size(type, (uint64_t)n, nbytes)) {
        return slm_fail(err, SLM_E_INVALID_ARG, "%s %s: size of %lld elements overflows", what, info->name,
                        (long long)n);
    }
    uint64_t fbytes;
    if (!ck_mul_u64((uint64_t)n, sizeof(float), &fbytes) || fbytes > SIZE_MAX) {
        return slm_fail(err, SLM_E_INVALID_ARG, "%s %s: %lld floats do not fit in memory", what, info->name,
                        (long long)n);
    }
    if (n > 0 && (!blocks || !floats)) return slm_fail(err, SLM_E_INVALID_ARG, "%s %s: NULL buffer", what, info->name);
    if ((uintptr_t)blocks % t->align != 0) {
        return slm_fail(err, SLM_E_INVALID_ARG, "%s %s: block data at %p is not %zu-byte aligned", what, info->name,
                        blocks, t->align);
    }
    if ((uintptr_t)floats % alignof(float) != 0) {
        return slm_fail(err, SLM_E_INVALID_ARG, "%s %s: float buffer is not aligned", what, info->name);
    }
    *out = t;
    return SLM_OK;
}

slm_status slm_dequantize(uint32_t type, const void *src, uint64_t src_bytes, float *dst, int64_t n, slm_error *err) {
    const quant_traits *t;
    uint64_t need;
    slm_status st = check_args("dequantize", type, src, dst, n, &t, &need, err);
    if (st != SLM_OK) return st;
    if (src_bytes < need) {
        return slm_fail(err, SLM_E_FORMAT, "dequantize %s: %lld elements need %llu bytes, only %llu given",
                        slm_dtype_name(type), (long long)n, (unsigned long long)need, (unsigned long long)src_bytes);
    }
    if (n > 0) t->to_float(src, dst, n);
    return SLM_OK;
}

slm_status slm_quantize(uint32_t type, const float *src, int64_t n, void *dst, uint64_t dst_bytes, slm_error *err) {
    const quant_traits *t;
    uint64_t need;
    slm_status st = check_args("quantize", type, dst, src, n, &t, &need, err);
    if (st != SLM_OK) return st;
    if (dst_bytes < need) {
        return slm_fail(err, SLM_E_INVALID_ARG, "quantize %s: %lld elements need %llu bytes, buffer has %llu",
                        slm_dtype_name(type), (long long)n, (unsigned long long)need, (unsigned long long)dst_bytes);
    }
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(src[i])) {
            return slm_fail(err, SLM_E_RANGE, "quantize %s: element %lld is %s", slm_dtype_name(type), (long long)i,
                            isnan(src[i]) ? "NaN" : "infinite");
        }
    }
    if (n > 0) t->from_float(src, dst, n);
    return SLM_OK;
}
