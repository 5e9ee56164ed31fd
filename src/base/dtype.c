#include "base/dtype.h"

#include <strings.h>

#include "base/checked.h"

/* Sizes follow ggml's block structs (see src/quant for the layouts). */
static const slm_dtype_info k_dtypes[SLM_DT_COUNT] = {
    [SLM_DT_F32] = {"F32", 1, 4},         [SLM_DT_F16] = {"F16", 1, 2},
    [SLM_DT_Q4_0] = {"Q4_0", 32, 18},     [SLM_DT_Q4_1] = {"Q4_1", 32, 20},
    [SLM_DT_Q5_0] = {"Q5_0", 32, 22},     [SLM_DT_Q5_1] = {"Q5_1", 32, 24},
    [SLM_DT_Q8_0] = {"Q8_0", 32, 34},     [SLM_DT_Q8_1] = {"Q8_1", 32, 36},
    [SLM_DT_Q2_K] = {"Q2_K", 256, 84},    [SLM_DT_Q3_K] = {"Q3_K", 256, 110},
    [SLM_DT_Q4_K] = {"Q4_K", 256, 144},   [SLM_DT_Q5_K] = {"Q5_K", 256, 176},
    [SLM_DT_Q6_K] = {"Q6_K", 256, 210},   [SLM_DT_Q8_K] = {"Q8_K", 256, 292},
    [SLM_DT_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [SLM_DT_IQ2_XS] = {"IQ2_XS", 256, 74},
    [SLM_DT_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [SLM_DT_IQ1_S] = {"IQ1_S", 256, 50},
    [SLM_DT_IQ4_NL] = {"IQ4_NL", 32, 18},    [SLM_DT_IQ3_S] = {"IQ3_S", 256, 110},
    [SLM_DT_IQ2_S] = {"IQ2_S", 256, 82},     [SLM_DT_IQ4_XS] = {"IQ4_XS", 256, 136},
    [SLM_DT_I8] = {"I8", 1, 1},   [SLM_DT_I16] = {"I16", 1, 2}, [SLM_DT_I32] = {"I32", 1, 4},
    [SLM_DT_I64] = {"I64", 1, 8}, [SLM_DT_F64] = {"F64", 1, 8},
    [SLM_DT_IQ1_M] = {"IQ1_M", 256, 56},  [SLM_DT_BF16] = {"BF16", 1, 2},
    [SLM_DT_TQ1_0] = {"TQ1_0", 256, 54},  [SLM_DT_TQ2_0] = {"TQ2_0", 256, 66},
    [SLM_DT_MXFP4] = {"MXFP4", 32, 17},
};

const slm_dtype_info *slm_dtype_get(uint32_t t) {
    if (t >= SLM_DT_COUNT || !k_dtypes[t].name) return NULL;
    return &k_dtypes[t];
}

const char *slm_dtype_name(uint32_t t) {
    const slm_dtype_info *d = slm_dtype_get(t);
    return d ? d->name : NULL;
}

bool slm_dtype_from_name(const char *name, slm_dtype *out) {
    for (uint32_t t = 0; t < SLM_DT_COUNT; t++) {
        if (k_dtypes[t].name && strcasecmp(k_dtypes[t].name, name) == 0) {
            *out = (slm_dtype)t;
            return true;
        }
    }
    return false;
}

bool slm_dtype_row_size(uint32_t t, uint64_t ne0, uint64_t *out) {
    const slm_dtype_info *d = slm_dtype_get(t);
    if (!d || ne0 % d->blck_size != 0) return false;
    return ck_mul_u64(ne0 / d->blck_size, d->type_size, out);
}
