/* Base utilities: sha256 against FIPS 180-4 vectors, fp16/bf16 conversions against their
 * definitions, dtype geometry against ggml's block sizes. */
#include <math.h>
#include <string.h>

#include "base/dtype.h"
#include "base/fp16.h"
#include "base/sha256.h"
#include "testutil.h"

static void test_sha256(void) {
    char hex[65];
    slm_sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "%s", hex);
    slm_sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "%s", hex);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    slm_sha256_hex(two, strlen(two), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "%s", hex);
    /* one million 'a', fed in odd-sized pieces to exercise buffering */
    slm_sha256 s;
    uint8_t d[32];
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    slm_sha256_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        slm_sha256_update(&s, chunk, n);
        left -= n;
    }
    slm_sha256_final(&s, d);
    slm_sha256_to_hex(d, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "%s", hex);
}

static void test_fp16(void) {
    /* Every half value converts to float and back unchanged (NaNs stay NaN). */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = slm_f16_to_f32((slm_f16)h);
        slm_f16 back = slm_f32_to_f16(f);
        if (isnan(f) ? !isnan(slm_f16_to_f32(back)) : back != h) bad++;
    }
    CHECK(bad == 0, "%d half values do not round-trip", bad);
    CHECK(slm_f16_to_f32(0x3c00) == 1.0f, "1.0");
    CHECK(slm_f16_to_f32(0x0001) == ldexpf(1, -24), "smallest subnormal");
    CHECK(slm_f32_to_f16(65520.0f) == 0x7c00, "rounds to inf");
    CHECK(slm_f32_to_f16(65504.0f) == 0x7bff, "max half");
    /* ties to even: 1 + 2^-11 is halfway between 1 and 1+2^-10 -> 1 */
    CHECK(slm_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00, "tie to even");
    CHECK(slm_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02, "tie to even up");
    CHECK(slm_f32_to_f16(ldexpf(1, -25)) == 0, "half of smallest subnormal rounds to 0");
    CHECK(slm_f32_to_f16(ldexpf(3, -26)) == 1, "0.75 of smallest subnormal rounds up");
    CHECK(slm_f32_to_bf16(1.0f) == 0x3f80, "bf16 1");
    CHECK(slm_f32_to_bf16(slm_bits_to_f32(0x3f808000)) == 0x3f80, "bf16 tie to even");
    CHECK(slm_f32_to_bf16(slm_bits_to_f32(0x3f818000)) == 0x3f82, "bf16 tie to even up");
    CHECK(slm_bf16_to_f32(0xc000) == -2.0f, "bf16 -2");
}

static void test_dtype(void) {
    uint64_t rs;
    CHECK(slm_dtype_row_size(SLM_DT_Q4_K, 4096, &rs) && rs == 16 * 144, "q4_k row");
    CHECK(!slm_dtype_row_size(SLM_DT_Q4_K, 100, &rs), "q4_k row not multiple of 256");
    CHECK(!slm_dtype_row_size(31, 32, &rs), "removed type id 31");
    CHECK(!slm_dtype_row_size(SLM_DT_F32, UINT64_MAX / 2, &rs), "overflow");
    slm_dtype t;
    CHECK(slm_dtype_from_name("iq4_xs", &t) && t == SLM_DT_IQ4_XS, "from name");
}

int main(void) {
    test_sha256();
    test_fp16();
    test_dtype();
    return tu_finish("test_base");
}
