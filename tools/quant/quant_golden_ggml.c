/* Developer tool, not part of the build: prints the reference hashes of tests/test_quant_golden.c
 * by running ggml itself (the llama.cpp Feb-2025 snapshot that made the fixture GGUFs) on the
 * deterministic inputs of tests/quant_golden.h.
 *
 * Build against ggml commit e041be1c~1 (ggml-org/ggml, 2025-03-04; same ggml-quants.c as llama.cpp
 * in Feb 2025), e.g.:
 *   cmake -S ggml -B ggml/build -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF && cmake --build ggml/build --target
 * ggml-base
 *   cc -O2 -Iggml/include -Iinclude -Isrc tools/quant/quant_golden_ggml.c src/base/sha256.c \
 *      ggml/build/src/libggml-base.a -lstdc++ -lm -lpthread -o quant_golden_ggml
 *   ./quant_golden_ggml > table.txt
 * Quantization goes through ggml_quantize_chunk without importance matrix (what llama-quantize
 * calls), except Q8_K and Q8_1, which only exist as quantize_row_*_ref activation quantizers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/quant_golden.h"
#include "base/sha256.h"
#include "ggml.h"

void quantize_row_q8_K_ref(const float *x, void *y, int64_t k); /* ggml-base, not in ggml.h */
void quantize_row_q8_1_ref(const float *x, void *y, int64_t k);

int main(void) {
    /* ggml_init fills the fp16 lookup table the quantizers read back their scales with */
    struct ggml_init_params ip = {1 << 20, NULL, false};
    struct ggml_context *ctx = ggml_init(ip);
    static const int types[] = {GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,   GGML_TYPE_Q4_1,
                                GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,   GGML_TYPE_Q8_1,
                                GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,   GGML_TYPE_Q5_K,
                                GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS};
    static float x[GOLDEN_N], y[GOLDEN_N];
    static uint8_t q[GOLDEN_N * 4];
    char hex[65];
    printf("/* quantize: {type, dist, sha256 of the quantized bytes} */\n");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const size_t bytes = ggml_row_size(types[t], GOLDEN_N);
        for (int d = 0; d < GOLDEN_N_DIST; d++) {
            golden_fill(d, x);
            /* ggml's Q8_K leaves bsums of an all-zero super-block unwritten; slm writes zeros */
            memset(q, 0, sizeof q);
            if (types[t] == GGML_TYPE_Q8_K) {
                quantize_row_q8_K_ref(x, q, GOLDEN_N);
            } else if (types[t] == GGML_TYPE_Q8_1) {
                quantize_row_q8_1_ref(x, q, GOLDEN_N);
            } else {
                ggml_quantize_chunk(types[t], x, q, 0, GOLDEN_N / 256, 256, NULL);
            }
            slm_sha256_hex(q, bytes, hex);
            printf("    {%d, %d, \"%s\"},\n", types[t], d, hex);
        }
    }
    printf("/* dequantize random bytes: {type, rep, sha256 of the float32 output} */\n");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const struct ggml_type_traits *tr = ggml_get_type_traits(types[t]);
        if (!tr->to_float) continue; /* Q8_K and Q8_1 have no to_float in ggml */
        for (int rep = 0; rep < 2; rep++) {
            golden_bytes(rep, q, ggml_row_size(types[t], GOLDEN_N));
            tr->to_float(q, y, GOLDEN_N);
            slm_sha256_hex(y, sizeof y, hex);
            printf("    {%d, %d, \"%s\"},\n", types[t], rep, hex);
        }
    }
    ggml_free(ctx);
    return 0;
}
