/* Edge cases of the quant API:
 *  - geometry: every block struct has ggml's size and block length (base/dtype.h's table);
 *  - the checked wrappers reject n not a multiple of the block size, negative n, short buffers,
 *    misaligned or NULL pointers, unsupported types and size overflows, without writing;
 *  - slm_quantize rejects NaN/inf input (SLM_E_RANGE) before writing anything;
 *  - the raw reference quantizers given NaN, +-inf, FLT_MAX, subnormals do not crash and stay
 *    free of undefined behaviour (this test runs under UBSan in CI), their codes stay in range,
 *    and a bad value only affects its own block;
 *  - dequantizing arbitrary bytes (NaN/inf fp16 scales included) never crashes. */
#include <float.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "quant/quant.h"
#include "testutil.h"

static const uint32_t k_types[] = {SLM_DT_F32,  SLM_DT_F16,  SLM_DT_BF16, SLM_DT_Q4_0,   SLM_DT_Q4_1,  SLM_DT_Q5_0,
                                   SLM_DT_Q5_1, SLM_DT_Q8_0, SLM_DT_Q8_1, SLM_DT_Q2_K,   SLM_DT_Q3_K,  SLM_DT_Q4_K,
                                   SLM_DT_Q5_K, SLM_DT_Q6_K, SLM_DT_Q8_K, SLM_DT_IQ4_NL, SLM_DT_IQ4_XS};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

#define BUF_ELEMS (4 * QK_K)
static alignas(64) uint8_t g_blocks[BUF_ELEMS * 4 + 64];
static float g_x[BUF_ELEMS], g_y[BUF_ELEMS];

static void test_geometry(void) {
    const struct {
        uint32_t t;
        size_t size, blck;
    } g[] = {
        {SLM_DT_Q4_0, sizeof(block_q4_0), QK4_0},      {SLM_DT_Q4_1, sizeof(block_q4_1), QK4_1},
        {SLM_DT_Q5_0, sizeof(block_q5_0), QK5_0},      {SLM_DT_Q5_1, sizeof(block_q5_1), QK5_1},
        {SLM_DT_Q8_0, sizeof(block_q8_0), QK8_0},      {SLM_DT_Q8_1, sizeof(block_q8_1), QK8_1},
        {SLM_DT_Q2_K, sizeof(block_q2_K), QK_K},       {SLM_DT_Q3_K, sizeof(block_q3_K), QK_K},
        {SLM_DT_Q4_K, sizeof(block_q4_K), QK_K},       {SLM_DT_Q5_K, sizeof(block_q5_K), QK_K},
        {SLM_DT_Q6_K, sizeof(block_q6_K), QK_K},       {SLM_DT_Q8_K, sizeof(block_q8_K), QK_K},
        {SLM_DT_IQ4_NL, sizeof(block_iq4_nl), QK4_NL}, {SLM_DT_IQ4_XS, sizeof(block_iq4_xs), QK_K},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        const slm_dtype_info *d = slm_dtype_get(g[i].t);
        CHECK(d && d->type_size == g[i].size && d->blck_size == g[i].blck, "%s geometry", slm_dtype_name(g[i].t));
    }
    for (size_t i = 0; i < N_TYPES; i++) {
        CHECK(slm_quant_to_float(k_types[i]) && slm_quant_from_float(k_types[i]), "%s: no converter",
              slm_dtype_name(k_types[i]));
    }
    const uint32_t unsupported[] = {SLM_DT_IQ2_XXS, SLM_DT_IQ1_S, SLM_DT_I8, SLM_DT_I32, SLM_DT_TQ1_0, 4, 5, 31,
                                    SLM_DT_COUNT,   1000,         UINT32_MAX};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        CHECK(!slm_quant_to_float(unsupported[i]) && !slm_quant_from_float(unsupported[i]), "type %u supported?",
              unsupported[i]);
    }
}

static void test_checked_wrappers(void) {
    slm_error err = {0};
    for (size_t i = 0; i < N_TYPES; i++) {
        const uint32_t t = k_types[i];
        const slm_dtype_info *d = slm_dtype_get(t);
        const int64_t bs = d->blck_size;
        const uint64_t need = (uint64_t)(QK_K / bs) * d->type_size; /* bytes of 256 elements */
        memset(g_blocks, 0, sizeof g_blocks);
        for (int j = 0; j < BUF_ELEMS; j++)
            g_y[j] = 42.f;

        CHECK(slm_dequantize(t, g_blocks, need, g_y, QK_K, &err) == SLM_OK, "%s: %s", d->name, err.msg);
        CHECK(slm_dequantize(t, g_blocks, 0, g_y, 0, &err) == SLM_OK, "%s: n = 0", d->name);
        CHECK(slm_dequantize(t, NULL, 0, NULL, 0, &err) == SLM_OK, "%s: n = 0 with NULL", d->name);
        for (int j = 0; j < BUF_ELEMS; j++)
            g_y[j] = 42.f;
        if (bs > 1) {
            CHECK(slm_dequantize(t, g_blocks, need, g_y, QK_K - 1, &err) == SLM_E_INVALID_ARG, "%s: n %% block",
                  d->name);
            CHECK(strstr(err.msg, "multiple") != NULL, "%s: message '%s'", d->name, err.msg);
            CHECK(slm_dequantize(t, g_blocks, need, g_y, bs / 2, &err) == SLM_E_INVALID_ARG, "%s: half block", d->name);
            CHECK(slm_quantize(t, g_x, QK_K + 1, g_blocks, sizeof g_blocks, &err) == SLM_E_INVALID_ARG,
                  "%s: quantize n", d->name);
        }
        CHECK(slm_dequantize(t, g_blocks, need, g_y, -bs, &err) == SLM_E_INVALID_ARG, "%s: negative n", d->name);
        CHECK(slm_dequantize(t, g_blocks, need - 1, g_y, QK_K, &err) == SLM_E_FORMAT, "%s: short source", d->name);
        CHECK(slm_dequantize(t, NULL, need, g_y, QK_K, &err) == SLM_E_INVALID_ARG, "%s: NULL src", d->name);
        CHECK(slm_dequantize(t, g_blocks, need, NULL, QK_K, &err) == SLM_E_INVALID_ARG, "%s: NULL dst", d->name);
        if (t != SLM_DT_F32 && t != SLM_DT_Q8_K) { /* 2-byte aligned blocks */
            CHECK(slm_dequantize(t, g_blocks + 1, need, g_y, QK_K, &err) == SLM_E_INVALID_ARG, "%s: misaligned",
                  d->name);
        } else {
            CHECK(slm_dequantize(t, g_blocks + 2, need, g_y, QK_K, &err) == SLM_E_INVALID_ARG, "%s: misaligned",
                  d->name);
        }
        /* a count whose byte size overflows 64 bits */
        const int64_t huge = INT64_MAX - INT64_MAX % bs;
        CHECK(slm_dequantize(t, g_blocks, need, g_y, huge, &err) != SLM_OK, "%s: huge n accepted", d->name);
        bool untouched = true;
        for (int j = 0; j < BUF_ELEMS; j++)
            untouched &= g_y[j] == 42.f;
        CHECK(untouched, "%s: a failing call wrote to dst", d->name);

        /* slm_quantize: short destination, then NaN / inf rejected before any write */
        for (int j = 0; j < QK_K; j++)
            g_x[j] = (float)j / 100.f;
        CHECK(slm_quantize(t, g_x, QK_K, g_blocks, need - 1, &err) == SLM_E_INVALID_ARG, "%s: short dst", d->name);
        CHECK(slm_quantize(t, g_x, QK_K, g_blocks, need, &err) == SLM_OK, "%s: %s", d->name, err.msg);
        memset(g_blocks, 0xA5, need);
        g_x[200] = NAN;
        CHECK(slm_quantize(t, g_x, QK_K, g_blocks, need, &err) == SLM_E_RANGE && strstr(err.msg, "200"),
              "%s: NaN accepted (%s)", d->name, err.msg);
        g_x[200] = -INFINITY;
        CHECK(slm_quantize(t, g_x, QK_K, g_blocks, need, &err) == SLM_E_RANGE && strstr(err.msg, "infinite"),
              "%s: -inf accepted (%s)", d->name, err.msg);
        bool kept = true;
        for (uint64_t j = 0; j < need; j++)
            kept &= g_blocks[j] == 0xA5;
        CHECK(kept, "%s: a rejected quantize wrote to dst", d->name);
    }
    CHECK(slm_dequantize(SLM_DT_IQ2_XXS, g_blocks, sizeof g_blocks, g_y, QK_K, &err) == SLM_E_UNSUPPORTED &&
              strstr(err.msg, "IQ2_XXS"),
          "IQ2_XXS: %s", err.msg);
    CHECK(slm_dequantize(12345, g_blocks, sizeof g_blocks, g_y, QK_K, &err) == SLM_E_UNSUPPORTED, "type 12345");
    CHECK(slm_quantize(SLM_DT_I8, g_x, QK_K, g_blocks, sizeof g_blocks, &err) == SLM_E_UNSUPPORTED, "I8");
}

/* Raw quantizers on non-finite and extreme input. Documented behaviour (quant.h): no crash, no UB,
 * codes stay in the format's range; the scale of an affected block may be inf/NaN. Blocks are
 * independent, so the last super-block (all finite) must quantize exactly as on its own. */
static void test_nonfinite(void) {
    const float specials[] = {NAN, -NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 1e-40f, -1e-45f, 1e30f, 0.f, -0.f};
    const int n_special = (int)(sizeof specials / sizeof specials[0]);
    static alignas(64) uint8_t alone[QK_K * 4];
    for (size_t i = 0; i < N_TYPES; i++) {
        const uint32_t t = k_types[i];
        const slm_dtype_info *d = slm_dtype_get(t);
        slm_from_float_fn quantize = slm_quant_from_float(t);
        slm_to_float_fn dequantize = slm_quant_to_float(t);
        const uint64_t sb_bytes = (uint64_t)(QK_K / d->blck_size) * d->type_size;
        for (int pattern = 0; pattern < 4; pattern++) {
            for (int j = 0; j < BUF_ELEMS; j++)
                g_x[j] = sinf((float)j * 0.37f);
            for (int j = 0; j < 3 * QK_K; j++) {
                switch (pattern) {
                case 0:
                    if (j % 37 == 0) g_x[j] = specials[(j / 37) % n_special];
                    break; /* sprinkled */
                case 1:
                    g_x[j] = specials[(j / 32) % n_special];
                    break; /* whole blocks */
                case 2:
                    g_x[j] = specials[j % n_special];
                    break; /* every element */
                default:
                    g_x[j] = (j % 2 ? 1 : -1) * (j % 3 ? 1e-40f : 3e38f);
                    break; /* extremes */
                }
            }
            quantize(g_x, g_blocks, BUF_ELEMS);
            dequantize(g_blocks, g_y, BUF_ELEMS);
            quantize(g_x + 3 * QK_K, alone, QK_K);
            CHECK(!memcmp(g_blocks + 3 * sb_bytes, alone, sb_bytes), "%s pattern %d: bad values leaked across blocks",
                  d->name, pattern);
        }
    }
}

/* Dequantizing random bytes: any fp16 scale (NaN, inf, subnormal) and any code is valid input. */
static void test_random_bytes(void) {
    uint64_t s = 0x1234567;
    for (size_t i = 0; i < N_TYPES; i++) {
        for (int rep = 0; rep < 8; rep++) {
            for (size_t j = 0; j < sizeof g_blocks; j++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                g_blocks[j] = (uint8_t)(s >> 56);
            }
            const uint32_t t = k_types[i];
            const slm_dtype_info *d = slm_dtype_get(t);
            const uint64_t bytes = (uint64_t)(BUF_ELEMS / d->blck_size) * d->type_size;
            CHECK(slm_dequantize(t, g_blocks, bytes, g_y, BUF_ELEMS, NULL) == SLM_OK, "%s random bytes", d->name);
        }
    }
}

/* Known bytes: a hand-made Q4_0 block and a Q8_0 block decode to their formula. */
static void test_known_blocks(void) {
    block_q4_0 b4 = {0};
    b4.d = slm_f32_to_f16(0.5f);
    for (int j = 0; j < 16; j++)
        b4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    dequantize_row_q4_0(&b4, y, 32);
    int ok = 1;
    for (int j = 0; j < 16; j++)
        ok &= y[j] == (j - 8) * 0.5f && y[j + 16] == (7 - j) * 0.5f;
    CHECK(ok, "Q4_0 known block");
    block_q8_0 b8 = {0};
    b8.d = slm_f32_to_f16(-0.25f);
    for (int j = 0; j < 32; j++)
        b8.qs[j] = (int8_t)(j * 8 - 128);
    dequantize_row_q8_0(&b8, y, 32);
    ok = 1;
    for (int j = 0; j < 32; j++)
        ok &= y[j] == (j * 8 - 128) * -0.25f;
    CHECK(ok, "Q8_0 known block");
    /* all-zero input: every format gives zeros back (Q4_0's scale is -0.0, as in llama.cpp) */
    memset(g_x, 0, sizeof g_x);
    for (size_t i = 0; i < N_TYPES; i++) {
        slm_quant_from_float(k_types[i])(g_x, g_blocks, QK_K);
        slm_quant_to_float(k_types[i])(g_blocks, g_y, QK_K);
        int zero = 1;
        for (int j = 0; j < QK_K; j++)
            zero &= g_y[j] == 0;
        CHECK(zero, "%s: zeros do not round-trip", slm_dtype_name(k_types[i]));
    }
    quantize_row_q4_0_ref(g_x, (block_q4_0 *)g_blocks, 32);
    CHECK(((block_q4_0 *)g_blocks)->d == 0x8000, "Q4_0 zero block scale %#x", ((block_q4_0 *)g_blocks)->d);
}

int main(void) {
    test_geometry();
    test_checked_wrappers();
    test_nonfinite();
    test_random_bytes();
    test_known_blocks();
    return tu_finish("test_quant_edge");
}
