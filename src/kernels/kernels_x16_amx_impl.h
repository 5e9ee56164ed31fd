/* AMX prompt tiles over 16-row interleaved weights (x16 layouts: kernels_x16.c), included by
 * kernels_x16_amx_avx512.c (the tile instructions) and kernels_x16_amxemu_avx512.c (the same code
 * over a C model of those instructions, AMX_EMULATE: what lets a machine without AMX test the
 * layouts, the activation split and the epilogue against the reference, bit for bit).
 *
 * Exact 16-bit activations with int8 tiles: an a16 code a is 256 ah + al with al = a & 255
 * (unsigned) and ah = a >> 8 (signed), so per 32-element block
 *     sum a w = 256 x (ah . w, TDPBSSD) + (al . w, TDPBUSD)
 * with the int32 results equal to the AVX-512 tiles' vpdpwssd sums. Weights are int8 in both
 * instructions: Q8_0 codes as they are, IQ4_XS its IQ4_NL table values, the others unsigned codes
 * (Q4_0 and Q4_K 0..15, Q5_0 0..31, Q6_K 0..63), their offset taken once per block or scale as
 * offset x the activations' exact code sum, as the AVX-512 tiles do (Q4_K's mins likewise).
 *
 * Tiles: A (16 tokens x 32 bytes: one block or sub-block; Q6_K 16 bytes, one scale), B (8 rows of
 * 64 bytes, Q6_K 4: those codes of 16 weight rows in VNNI order, 4 consecutive k of row n at bytes
 * 4n..4n+3), C (16 tokens x 16 rows, int32). Per block and 16-row group the two C tiles are stored and an
 * epilogue converts (256 C_h + C_l - offset x sum) to float and adds it, times the rows' scales x
 * the token's scale, into 16 float accumulators (one per token, lane = row).
 *
 * B from the x16 chunks: Q8_0 chunks hold (2p, 2p + 1) of the 16 rows as 16-bit words, so two
 * neighbouring chunks interleaved word by word (one vpermw) are one B row. A Q4_0 chunk's lane is
 * 4 code bytes of a row; its low nibbles (c & 0x0F0F0F0F) are one B row and its high nibbles
 * another, with no shuffle: those rows hold activation pairs (x16 order) 0, 2 / 1, 3 of the chunk
 * interleaved, so the activation split puts the same order into A (g_perm_q4). */
#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "kernels/kernels_x16_avx512.h" /* X16, the group-block sizes, kq_scales, q6_scale */
#include "quant/quant.h"


/* Tile registers. */
#define T_AL 0 /* low bytes of 16 tokens' activations (unsigned) */
#define T_AH 1 /* high bytes (signed) */
#define T_B 2
#define T_CL 3
#define T_CH 4

typedef struct amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;

#ifdef AMX_EMULATE
/* ---- A C model of the AMX instructions used here (Intel SDM, "Intel AMX Instruction Set
 * Reference"): tiles of rows x colsb bytes from the loaded palette-1 config; a load fills rows
 * from memory and zeroes the rest; TDPB[SU]SD: C[m][n] (int32) += sum over k < A.colsb / 4 of
 * the 4 byte products A[m][4k + i] x B[k][4n + i]. ------------------------------------------- */
typedef struct emu_tiles {
    amx_cfg cfg;
    uint8_t t[8][16][64];
} emu_tiles;
static _Thread_local emu_tiles g_emu;

static void emu_config(const amx_cfg *c) {
    memset(&g_emu, 0, sizeof g_emu);
    g_emu.cfg = *c;
}
static void emu_release(void) { memset(&g_emu, 0, sizeof g_emu); }
static void emu_load(int t, const void *base, long stride) {
    memset(g_emu.t[t], 0, sizeof g_emu.t[t]);
    for (int r = 0; r < g_emu.cfg.rows[t]; r++)
        memcpy(g_emu.t[t][r], (const uint8_t *)base + r * stride, g_emu.cfg.colsb[t]);
}
static void emu_store(int t, void *base, long stride) {
    for (int r = 0; r < g_emu.cfg.rows[t]; r++)
        memcpy((uint8_t *)base + r * stride, g_emu.t[t][r], g_emu.cfg.colsb[t]);
}
static void emu_zero(int t) { memset(g_emu.t[t], 0, sizeof g_emu.t[t]); }
static void emu_dp(int c, int a, int b, bool a_signed) {
    const int kq = g_emu.cfg.colsb[a] / 4, nn = g_emu.cfg.colsb[c] / 4;
    for (int m = 0; m < g_emu.cfg.rows[c]; m++)
        for (int n = 0; n < nn; n++) {
            int32_t s;
            memcpy(&s, &g_emu.t[c][m][4 * n], 4);
            for (int k = 0; k < kq; k++)
                for (int i = 0; i < 4; i++) {
                    const uint8_t av = g_emu.t[a][m][4 * k + i];
                    s += (a_signed ? (int32_t)(int8_t)av : (int32_t)av) * (int32_t)(int8_t)g_emu.t[b][k][4 * n + i];
                }
            memcpy(&g_emu.t[c][m][4 * n], &s, 4);
        }
}
#define AMX_CONFIG(cfg) emu_config(cfg)
#define AMX_RELEASE() emu_release()
#define AMX_LOAD(t, p, s) emu_load(t, p, s)
#define AMX_STORE(t, p, s) emu_store(t, p, s)
#define AMX_ZERO(t) emu_zero(t)
#define AMX_DPBUSD(c, a, b) emu_dp(c, a, b, false)
#define AMX_DPBSSD(c, a, b) emu_dp(c, a, b, true)
#else
/* The instructions as inline asm with memory clobbers (GCC 12's _tile_loadd declares no memory
 * input, so the stores that fill a staging buffer could move past it). AT&T operand order:
 * tdpbusd B, A, C. */
#define AMX_STR_(x) #x
#define AMX_STR(x) AMX_STR_(x)
#define AMX_CONFIG(cfg) __asm__ volatile("ldtilecfg %0" ::"m"(*(const amx_cfg *)(cfg)) : "memory")
#define AMX_RELEASE() __asm__ volatile("tilerelease" ::: "memory")
#define AMX_LOAD(t, p, s) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" AMX_STR(t)::"r"((const void *)(p)), "r"((long)(s)) : "memory")
#define AMX_STORE(t, p, s) \
    __asm__ volatile("tilestored %%tmm" AMX_STR(t) ", (%0,%1,1)" ::"r"((void *)(p)), "r"((long)(s)) : "memory")
#define AMX_ZERO(t) __asm__ volatile("tilezero %%tmm" AMX_STR(t)::: "memory")
#define AMX_DPBUSD(c, a, b) \
    __asm__ volatile("tdpbusd %%tmm" AMX_STR(b) ", %%tmm" AMX_STR(a) ", %%tmm" AMX_STR(c)::: "memory")
#define AMX_DPBSSD(c, a, b) \
    __asm__ volatile("tdpbssd %%tmm" AMX_STR(b) ", %%tmm" AMX_STR(a) ", %%tmm" AMX_STR(c)::: "memory")
#endif

typedef enum { XA_Q4_0, XA_Q8_0, XA_Q4_K, XA_IQ4_XS, XA_Q6_K, XA_Q5_0, XA_COUNT } amx_kind;
static const uint32_t g_type_of[XA_COUNT] = {SLM_DT_Q4_0, SLM_DT_Q8_0, SLM_DT_Q4_K, SLM_DT_IQ4_XS, SLM_DT_Q6_K, SLM_DT_Q5_0};

/* The AVX-512 gemm16_x16 of each type, for fewer than 16 tokens (generation): set by the fill. */
static slm_gemm_fn g_small[XA_COUNT];

/* One slice (SLICE_EL elements) of 16 tokens' activations split into bytes: al / ah (rows of A,
 * each 32-byte piece (Q6_K: 16) one B tile's k order), and per piece the activation block's scale and
 * the piece's code sum. Tokens past n_tok are zero (their results are dropped). */
#define SLICE_EL 512
typedef struct amx_act {
    uint8_t al[X16][SLICE_EL];
    int8_t ah[X16][SLICE_EL];
    float d[X16][SLICE_EL / 16];
    int32_t sum[X16][SLICE_EL / 16];
} amx_act;

/* Q4_0, IQ4_XS: byte j of a group of 8 in A takes x16-order activation element j of g_perm_q4
 * (see top; IQ4_XS's 32-element sub-blocks are 4 chunks, as a Q4_0 block). */
static const int16_t g_perm_q4[32] = {0,  4,  1,  5,  2,  6,  3,  7,  8,  12, 9,  13, 10, 14, 11, 15,
                                      16, 20, 17, 21, 18, 22, 19, 23, 24, 28, 25, 29, 26, 30, 27, 31};
/* Q4_K: a 64-element group is 8 chunks whose low nibbles (activation pairs 0, 2) are sub-block 2c
 * and high nibbles (pairs 1, 3) sub-block 2c + 1: the first 32 bytes of A take elements
 * 8u + {0, 4, 1, 5} of the group, the next 32 elements 8u + {2, 6, 3, 7} (u = chunk). */
static const int16_t g_perm_q4k[2][32] = {
    {0, 4, 1, 5, 8, 12, 9, 13, 16, 20, 17, 21, 24, 28, 25, 29, 32, 36, 33, 37, 40, 44, 41, 45, 48, 52, 49, 53, 56, 60, 57, 61},
    {2, 6, 3, 7, 10, 14, 11, 15, 18, 22, 19, 23, 26, 30, 27, 31, 34, 38, 35, 39, 42, 46, 43, 47, 50, 54, 51, 55, 58, 62, 59, 63}};

/* Q6_K: a B row holds elements [0, 2, 1, 3] of a 4-element group (decode_b_q6). */
static const int16_t g_perm_q6[32] = {0,  2,  1,  3,  4,  6,  5,  7,  8,  10, 9,  11, 12, 14, 13, 15,
                                      16, 18, 17, 19, 20, 22, 21, 23, 24, 26, 25, 27, 28, 30, 29, 31};

/* 32 int16 codes into their low (unsigned) and high (signed) bytes. */
static inline void split32(__m512i q, uint8_t *al, int8_t *ah) {
    _mm256_storeu_si256((__m256i *)al, _mm512_cvtepi16_epi8(q));
    _mm256_storeu_si256((__m256i *)ah, _mm512_cvtepi16_epi8(_mm512_srai_epi16(q, 8)));
}

/* Elements [e0, e0 + ne) of rows t0.. of the activations into s (ne a multiple of the block). */
static void split_act(amx_kind kind, const uint8_t *act, size_t arb, int nt, int64_t e0, int ne, amx_act *s) {
    const __m512i pq6 = _mm512_loadu_si512(g_perm_q6), pq4 = _mm512_loadu_si512(g_perm_q4), pk0 = _mm512_loadu_si512(g_perm_q4k[0]),
                  pk1 = _mm512_loadu_si512(g_perm_q4k[1]);
    for (int t = 0; t < X16; t++) {
        if (t >= nt) {
            memset(s->al[t], 0, sizeof s->al[t]);
            memset(s->ah[t], 0, sizeof s->ah[t]);
            memset(s->d[t], 0, sizeof s->d[t]);
            memset(s->sum[t], 0, sizeof s->sum[t]);
            continue;
        }
        const uint8_t *row = act + (size_t)t * arb;
        if (kind == XA_Q4_0 || kind == XA_Q5_0 || kind == XA_Q8_0) {
            const block_a16_32 *a = (const block_a16_32 *)row + e0 / 32;
            for (int b = 0; b < ne / 32; b++) {
                __m512i q = _mm512_loadu_si512(a[b].qs);
                if (kind != XA_Q8_0) q = _mm512_permutexvar_epi16(pq4, q);
                split32(q, &s->al[t][32 * b], &s->ah[t][32 * b]);
                s->d[t][b] = a[b].d;
                s->sum[t][b] = a[b].sum;
            }
            continue;
        }
        const block_a16_256 *a = (const block_a16_256 *)row + e0 / 256;
        if (kind == XA_Q6_K) { /* natural order; sums of 16 codes (the x16 bsums hold other sums) */
            for (int b = 0; b < ne / 256; b++)
                for (int c = 0; c < 8; c++) {
                    const __m512i z = _mm512_loadu_si512(a[b].qs + 32 * c);
                    split32(_mm512_permutexvar_epi16(pq6, z), &s->al[t][256 * b + 32 * c], &s->ah[t][256 * b + 32 * c]);
                    const __m512i w = _mm512_madd_epi16(z, _mm512_set1_epi16(1)); /* 16 pair sums */
                    s->sum[t][16 * b + 2 * c] = _mm512_mask_reduce_add_epi32(0x00FF, w);
                    s->sum[t][16 * b + 2 * c + 1] = _mm512_mask_reduce_add_epi32(0xFF00, w);
                    s->d[t][16 * b + 2 * c] = s->d[t][16 * b + 2 * c + 1] = a[b].d;
                }
            continue;
        }
        for (int b = 0; b < ne / 256; b++) {
            for (int c = 0; c < 4; c++) {
                const __m512i z0 = _mm512_loadu_si512(a[b].qs + 64 * c), z1 = _mm512_loadu_si512(a[b].qs + 64 * c + 32);
                __m512i o0, o1;
                if (kind == XA_Q4_K) {
                    o0 = _mm512_permutex2var_epi16(z0, pk0, z1);
                    o1 = _mm512_permutex2var_epi16(z0, pk1, z1);
                } else {
                    o0 = _mm512_permutexvar_epi16(pq4, z0);
                    o1 = _mm512_permutexvar_epi16(pq4, z1);
                }
                const int at = 256 * b + 64 * c;
                split32(o0, &s->al[t][at], &s->ah[t][at]);
                split32(o1, &s->al[t][at + 32], &s->ah[t][at + 32]);
            }
            for (int j = 0; j < 8; j++) { /* the activation scale per 32 elements, as the 32-element types */
                s->d[t][8 * b + j] = a[b].d;
                s->sum[t][8 * b + j] = a[b].bsums[2 * j] + a[b].bsums[2 * j + 1];
            }
        }
    }
}

/* B tiles: 8 rows of 64 bytes each at bst; Q4_0 / Q8_0 one per block, Q4_K / IQ4_XS two per
 * 64-element group c (sub-blocks 2c, 2c + 1). */
static inline __attribute__((always_inline)) void decode_b32(amx_kind kind, const uint8_t *gb, uint8_t *bst) {
    if (kind == XA_Q8_0) {
        static const int16_t inter[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                          8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
        const __m512i idx = _mm512_loadu_si512(inter);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            _mm512_storeu_si512(bst + 64 * q, _mm512_permutexvar_epi16(idx, _mm512_loadu_si512(gb + 32 + 64 * q)));
    } else if (kind == XA_Q5_0) {
        /* fifth bits (kernels_q5_bit_pos): after >> m, nibble 0's and 2's sit at bits 4 and 12 of
         * each word (the low row's byte places), nibble 1's at bit 8 and 3's at bit 0 */
        const __m512i hb = _mm512_loadu_si512(gb + 32), lo4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) {
            const __m512i c = _mm512_loadu_si512(gb + 96 + 64 * m), h = _mm512_srli_epi16(hb, m);
            const __m512i lo = _mm512_or_si512(_mm512_and_si512(c, lo4), _mm512_and_si512(h, _mm512_set1_epi16(0x1010)));
            const __m512i hi = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(c, 4), lo4),
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(h, 4), _mm512_set1_epi16(0x0010)),
                                _mm512_and_si512(_mm512_slli_epi16(h, 12), _mm512_set1_epi16(0x1000))));
            _mm512_storeu_si512(bst + 128 * m, lo);
            _mm512_storeu_si512(bst + 128 * m + 64, hi);
        }
    } else {
        const __m512i lo4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) {
            const __m512i c = _mm512_loadu_si512(gb + 32 + 64 * m);
            _mm512_storeu_si512(bst + 128 * m, _mm512_and_si512(c, lo4));
            _mm512_storeu_si512(bst + 128 * m + 64, _mm512_and_si512(_mm512_srli_epi16(c, 4), lo4));
        }
    }
}
static inline __attribute__((always_inline)) void decode_b256(amx_kind kind, const uint8_t *cs, uint8_t *bst) {
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    const __m512i tab = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)kvalues_iq4nl));
#pragma GCC unroll 8
    for (int u = 0; u < 8; u++) {
        const __m512i c = _mm512_loadu_si512(cs + 64 * u);
        __m512i lo = _mm512_and_si512(c, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), lo4);
        if (kind == XA_IQ4_XS) { /* chunks 0-3: sub-block 2c, as a Q4_0 block; 4-7: 2c + 1 */
            lo = _mm512_shuffle_epi8(tab, lo);
            hi = _mm512_shuffle_epi8(tab, hi);
            _mm512_storeu_si512(bst + 128 * u, lo);
            _mm512_storeu_si512(bst + 128 * u + 64, hi);
        } else { /* low nibbles: sub-block 2c, high: 2c + 1 */
            _mm512_storeu_si512(bst + 64 * u, lo);
            _mm512_storeu_si512(bst + 512 + 64 * u, hi);
        }
    }
}

/* Q6_K (x16 bit layout, kernels_x16.c): the B tile (4 rows of 64 bytes) of 16-element scale j, codes
 * unsigned 0..63; row q holds pairs 2q, 2q + 1 as bytes [2q.w0, 2q+1.w0, 2q.w1, 2q+1.w1]. */
static inline __attribute__((always_inline)) void decode_b_q6(const uint8_t *gb, int j, uint8_t *bst) {
    const uint8_t *D = gb + 288 + 192 * j;
    const __m512i D0 = _mm512_loadu_si512(D), D1 = _mm512_loadu_si512(D + 64), D2 = _mm512_loadu_si512(D + 128);
    const __m512i m63 = _mm512_set1_epi16(63), m15 = _mm512_set1_epi16(15), m3 = _mm512_set1_epi16(3),
                  x32 = _mm512_set1_epi16(32);
    __m512i c[8];
    c[0] = _mm512_and_si512(D0, m63);
    c[1] = _mm512_xor_si512(_mm512_and_si512(_mm512_srli_epi16(D0, 10), m63), x32);
    c[2] = _mm512_and_si512(D1, m63);
    c[3] = _mm512_xor_si512(_mm512_and_si512(_mm512_srli_epi16(D1, 10), m63), x32);
    c[4] = _mm512_and_si512(D2, m63);
    c[5] = _mm512_and_si512(_mm512_srli_epi16(D2, 6), m63);
    c[6] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(D0, 6), m15),
                           _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(D2, 12), m3), 4));
    c[7] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(D1, 6), m15),
                           _mm512_slli_epi16(_mm512_srli_epi16(D2, 14), 4));
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
        _mm512_storeu_si512(bst + 64 * q, _mm512_or_si512(c[2 * q], _mm512_slli_epi16(c[2 * q + 1], 8)));
}

/* C += A . B for the 16 tokens' piece `at` of the slice: C_h via the high bytes, C_l the low;
 * returns nothing, the tiles are stored to cl / ch. */
static inline __attribute__((always_inline)) void tile_dot(const amx_act *s, int at, const uint8_t *bst,
                                                           int32_t cl[X16][X16], int32_t ch[X16][X16]) {
    AMX_LOAD(T_B, bst, 64);
    AMX_LOAD(T_AL, &s->al[0][at], sizeof s->al[0]);
    AMX_LOAD(T_AH, &s->ah[0][at], sizeof s->ah[0]);
    AMX_ZERO(T_CL);
    AMX_ZERO(T_CH);
    AMX_DPBUSD(T_CL, T_AL, T_B);
    AMX_DPBSSD(T_CH, T_AH, T_B);
    AMX_STORE(T_CL, cl, 64);
    AMX_STORE(T_CH, ch, 64);
}

/* acc[t] += (256 C_h + C_l - offset x sum) x scale x the token's scale, for the 16 tokens. */
static inline __attribute__((always_inline)) void epilogue(const amx_act *s, int j, int offset, __m512 scale,
                                                           int32_t cl[X16][X16], int32_t ch[X16][X16], __m512 acc[X16]) {
#pragma GCC unroll 16
    for (int t = 0; t < X16; t++) {
        __m512i v = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(ch[t]), 8), _mm512_load_si512(cl[t]));
        if (offset) v = _mm512_sub_epi32(v, _mm512_set1_epi32(offset * s->sum[t][j]));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(scale, _mm512_set1_ps(s->d[t][j])), acc[t]);
    }
}

/* 16 rows (group-blocks from g) x the 16 tokens of s, the slice's elements [e0, e0 + ne). */
static void group_slice(amx_kind kind, const uint8_t *g, int64_t e0, int ne, const amx_act *s, __m512 acc[X16]) {
    uint8_t bst[1024] __attribute__((aligned(64)));
    int32_t cl[X16][X16] __attribute__((aligned(64))), ch[X16][X16] __attribute__((aligned(64)));
    if (kind == XA_Q4_0 || kind == XA_Q5_0 || kind == XA_Q8_0) {
        const size_t gbytes = kind == XA_Q4_0 ? Q4_0_GB : kind == XA_Q5_0 ? Q5_0_GB : Q8_0_GB;
        for (int b = 0; b < ne / 32; b++) {
            const uint8_t *gb = g + (size_t)(e0 / 32 + b) * gbytes;
            decode_b32(kind, gb, bst);
            tile_dot(s, 32 * b, bst, cl, ch);
            epilogue(s, b, kind == XA_Q4_0 ? 8 : kind == XA_Q5_0 ? 16 : 0, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb)), cl, ch,
                     acc);
        }
        return;
    }
    if (kind == XA_Q6_K) { /* (code - 32) x a: 32 x the piece's activation sum off the int32 sum */
        for (int b = 0; b < ne / 256; b++) {
            const uint8_t *gb = g + (size_t)(e0 / 256 + b) * Q6_K_GB;
            const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb));
            for (int j = 0; j < 16; j++) {
                decode_b_q6(gb, j, bst);
                tile_dot(s, 256 * b + 16 * j, bst, cl, ch);
                const __m512 sc = _mm512_mul_ps(d, q6_scale(gb, j));
                epilogue(s, 16 * b + j, 32, sc, cl, ch, acc);
            }
        }
        return;
    }
    const x16_kq kq = kind == XA_Q4_K ? XK_Q4_K : XK_IQ4_XS;
    const size_t gbytes = kind == XA_Q4_K ? Q4_K_GB : IQ4_XS_GB, codes = kind == XA_Q4_K ? 256 : 128;
    for (int b = 0; b < ne / 256; b++) {
        const uint8_t *gb = g + (size_t)(e0 / 256 + b) * gbytes;
        __m512 sc[8], mn[8];
        kq_scales(kq, gb, true, sc, mn);
        for (int c = 0; c < 4; c++) {
            decode_b256(kind, gb + codes + 512 * c, bst);
            for (int h = 0; h < 2; h++) {
                const int j = 8 * b + 2 * c + h; /* 32-element piece of the slice */
                tile_dot(s, 32 * j, bst + 512 * h, cl, ch);
                epilogue(s, j, 0, sc[2 * c + h], cl, ch, acc);
            }
        }
        if (kind == XA_Q4_K) { /* - sum over sub-blocks of min x the 32 activation codes */
#pragma GCC unroll 16
            for (int t = 0; t < X16; t++) {
                __m512 m = _mm512_setzero_ps();
                for (int sb = 0; sb < 8; sb++) m = _mm512_fmadd_ps(mn[sb], _mm512_set1_ps((float)s->sum[t][8 * b + sb]), m);
                acc[t] = _mm512_fnmadd_ps(m, _mm512_set1_ps(s->d[t][8 * b]), acc[t]);
            }
        }
    }
}

static void amx_gemm(amx_kind kind, int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                     int64_t n_tok, float *y, int64_t ldy) {
    if (n_tok < X16) {
        g_small[kind](k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
        return;
    }
    amx_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    const int kb = kind == XA_Q6_K ? 16 : 32; /* k per tile product: Q6_K's scales cover 16 elements */
    cfg.rows[T_AL] = cfg.rows[T_AH] = X16;
    cfg.colsb[T_AL] = cfg.colsb[T_AH] = (uint16_t)kb;
    cfg.rows[T_B] = (uint8_t)(kb / 4);
    cfg.colsb[T_B] = 64;
    cfg.rows[T_CL] = cfg.rows[T_CH] = X16;
    cfg.colsb[T_CL] = cfg.colsb[T_CH] = 64;
    AMX_CONFIG(&cfg);
    amx_act stage __attribute__((aligned(64))), *s = &stage; /* 18 KiB */
    for (int64_t t0 = 0; t0 < n_tok; t0 += X16) {
        const int nt = n_tok - t0 < X16 ? (int)(n_tok - t0) : X16;
        for (int64_t e0 = 0; e0 < k; e0 += SLICE_EL) {
            const int ne = k - e0 < SLICE_EL ? (int)(k - e0) : SLICE_EL;
            split_act(kind, (const uint8_t *)act + (size_t)t0 * arb, arb, nt, e0, ne, s);
            for (int64_t r = 0; r < n_rows; r += X16) {
                float *yt = y + t0 * ldy + r;
                __m512 acc[X16];
#pragma GCC unroll 16
                for (int t = 0; t < X16; t++) acc[t] = e0 == 0 || t >= nt ? _mm512_setzero_ps() : _mm512_loadu_ps(yt + t * ldy);
                group_slice(kind, (const uint8_t *)w + (size_t)r * wrb, e0, ne, s, acc);
                for (int t = 0; t < nt; t++) _mm512_storeu_ps(yt + t * ldy, acc[t]);
            }
        }
    }
    AMX_RELEASE();
}

#define AMX_GEMM(name, kind)                                                                                    \
    static void name(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,          \
                     int64_t n_tok, float *y, int64_t ldy) {                                                    \
        amx_gemm(kind, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);                                             \
    }
AMX_GEMM(gemm_amx_q4_0, XA_Q4_0)
AMX_GEMM(gemm_amx_q8_0, XA_Q8_0)
AMX_GEMM(gemm_amx_q4_K, XA_Q4_K)
AMX_GEMM(gemm_amx_iq4_xs, XA_IQ4_XS)
AMX_GEMM(gemm_amx_q6_K, XA_Q6_K)
AMX_GEMM(gemm_amx_q5_0, XA_Q5_0)

/* Over a table holding the AVX-512 x16 tiles: their prompt path (16 tokens or more) becomes AMX. */
static void amx_fill(slm_kernels *kt) {
    static const slm_gemm_fn amx[XA_COUNT] = {gemm_amx_q4_0, gemm_amx_q8_0, gemm_amx_q4_K, gemm_amx_iq4_xs,
                                                gemm_amx_q6_K, gemm_amx_q5_0};
    for (int i = 0; i < XA_COUNT; i++) {
        g_small[i] = kt->mm[g_type_of[i]].gemm16_x16;
        if (g_small[i]) kt->mm[g_type_of[i]].gemm16_x16 = amx[i];
    }
}
