/* Compute kernels behind one dispatch table chosen once from CPU features.
 *
 * Matmul (the only heavy op), for weight W of N rows x K elements in a block type T, and n_tok
 * activation rows X[t][0..K) in float32:
 *
 *     Y[t * ldy + r] = sum_i W[r][i] * X[t][i]          for r < N, t < n_tok
 *
 * Three activation modes (slm_act_mode, below): 16-bit codes (SLM_ACT_A16, the production
 * default: gemm16 tiles), llama.cpp's 8-bit blocks (SLM_ACT_Q8: gemm), and 8-bit plus the
 * quantized rounding residual (SLM_ACT_Q8X2: gemm2). The 8-bit mode is described here; the others
 * follow the same two phases with their own activation format. One token over packed weights
 * may also take 8-bit activations in the tiles' own order (slm_matmul_x16_multi_a8, below).
 *
 * Like llama.cpp it runs in two phases, each splittable over threads:
 *   1. quantize X once into the weight type's activation format (act_type below): Q8_0 for
 *      the 32-element types (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL), Q8_K for the K-quants and IQ4_XS,
 *      float32 (a plain copy) for F32 / F16 / BF16 weights. (Unlike llama.cpp, Q4_1 / Q5_1 use
 *      Q8_0 too: the min term takes the exact integer sum of the activation block instead of
 *      Q8_1's fp16-rounded d * sum.)
 *   2. integer (or float) dot products of weight rows with the activation rows, tiled over rows x
 *      tokens so that each weight block is read once for several tokens.
 * The activation quantizers give the same bytes as quantize_row_q8_0_ref / quantize_row_q8_K_ref
 * (src/quant). Dot products differ from the scalar reference only by float rounding order (the
 * reference accumulates float weights in double).
 *
 * Memory: all scratch is the caller's; kernels never allocate. Weight rows must be aligned to
 * _Alignof their block struct (GGUF data is 32-byte aligned); the activation buffer to 32 bytes
 * (slm_matmul_act_size already rounds each activation row to a multiple of 32 bytes).
 * K must be a multiple of the activation block (32 for Q8_0 types, 256 for Q8_K types; any K > 0
 * for float weights): slm_matmul_check validates shapes from untrusted files once at load time;
 * the kernels themselves do not check.
 */
#ifndef SLM_KERNELS_KERNELS_H
#define SLM_KERNELS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/fp16.h"
#include "base/threadpool.h"
#include "quant/quant.h"
#include "slm.h"

typedef enum slm_isa {
    SLM_ISA_SCALAR = 0, /* portable C reference; always available */
    SLM_ISA_AVX2 = 1,   /* x86-64 AVX2 + FMA + F16C */
    SLM_ISA_AVX512 = 2, /* AVX-512 F/BW/DQ/VL + VNNI (Zen 4, Ice Lake+) */
    SLM_ISA_NEON = 3,      /* AArch64 Advanced SIMD (any arm64 CPU) */
    SLM_ISA_NEON_DOT = 4,  /* + dot product (ARMv8.2 sdot: Cortex-A55/A76+, Apple M1+) */
    SLM_ISA_NEON_I8MM = 5, /* + int8 matrix multiply (ARMv8.6 smmla: Apple M2+, Graviton 3) */
    SLM_ISA_AMX = 6,       /* AVX-512 + AMX int8 tiles for prompts (Sapphire Rapids+ Xeons) */
    SLM_ISA_AMX_EMULATED = 7, /* the AMX code path over a C model of the tile instructions, on any
                               * AVX-512 CPU: for tests, never chosen by default (slow) */
    SLM_ISA_COUNT
} slm_isa;

/* Quantize n_rows rows of k floats (row stride ldx floats) into consecutive activation rows of
 * act_row_bytes bytes each. */
typedef void (*slm_quant_act_fn)(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act,
                                 size_t act_row_bytes);

/* Matmul tile: for r < n_rows, t < n_tok:
 *     y[t * ldy + r] = dot(row r of w (rows w_row_bytes apart), activation row t)
 * w and y point at the first row of the tile (the caller offsets both by r0). */
typedef void (*slm_gemm_fn)(int64_t k, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act,
                            size_t act_row_bytes, int64_t n_tok, float *y, int64_t ldy);

typedef struct slm_matmul_kernel {
    uint32_t act_type; /* slm_dtype of the activation rows: F32, Q8_0 or Q8_K */
    slm_quant_act_fn quant_act;
    slm_gemm_fn gemm; /* NULL: weight type not supported by slm's matmul */
    /* Precise tile (NULL for float weights, whose F32 activations are not rounded): the
     * activation holds two rows per token, row 2t = q8(x_t) and row 2t+1 = q8(e_t), where
     * e_t = x_t - dequant(q8(x_t)) is the rounding residual (see slm_matmul_precise), and
     *     y[t * ldy + r] = dot(row r of w, row 2t) + dot(row r of w, row 2t+1)   for t < n_tok,
     * n_tok counting tokens (the activation has 2 n_tok rows). Each weight block is unpacked
     * once for both rows. NULL with a quantized act_type: slm_matmul_rows2 runs gemm on both
     * rows (an ISA without precise tiles stays correct, at ~2x its gemm's weight unpacking). */
    slm_gemm_fn gemm2;
    /* 16-bit activations (the default production path, see "16-bit activations" below): a16 is
     * the activation block (32 or 256; 0 for float weights, whose activations stay F32), gemm16
     * the tile with gemm's contract over a16 activation rows (NULL: this table has no 16-bit
     * kernel for the type, and slm_matmul_mode falls back to the precise residual path). */
    int a16;
    slm_gemm_fn gemm16;
    /* gemm16 over weights repacked into 16-row groups (slm_x16_pack, below): w points at the
     * first group of the tile, w_row_bytes is still the row size of the unpacked layout, n_rows a
     * multiple of 16. NULL: this table has no such tile, and weights of this type stay unpacked. */
    slm_gemm_fn gemm16_x16;
    /* One token over packed weights with llama.cpp's 8-bit activations (slm_matmul_x16_multi_a8):
     * gemm's contract with n_tok == 1 and the a8 activation row of slm_x16_quantize_a8. NULL: the
     * table has none for the type (a token then takes gemm16_x16). */
    slm_gemm_fn tok1_a8_x16;
} slm_matmul_kernel;

typedef struct slm_kernels {
    slm_isa isa;
    const char *name;                   /* "scalar", "avx2", "avx512" */
    slm_matmul_kernel mm[SLM_DT_COUNT]; /* indexed by the weight's slm_dtype */
    /* The packed (x16) Q6_K layout this table's Q6_K tiles read: false, 16-bit pairs (AVX-512's
     * vpdpwssd tiles); true, 6-bit codes in bytes (AVX2's vpmaddubsw tiles). Weights are packed in
     * the active table's layout (kernels_x16.c); a table of the other layout does not take them. */
    bool x16_q6k_bytes;

    /* Vector ops, n elements each, any n >= 0, no alignment needed. */
    float (*dot_f32)(const float *a, const float *b, int64_t n);       /* sum a[i] * b[i] */
    float (*dot_f16_f32)(const slm_f16 *a, const float *b, int64_t n); /* q . k on an f16 KV row */
    void (*axpy_f32)(float *y, float a, const float *x, int64_t n);    /* y += a * x */
    void (*axpy_f16)(float *y, float a, const slm_f16 *x, int64_t n);  /* y += a * x (f16 V row) */
    void (*scale_f32)(float *y, float a, int64_t n);                   /* y *= a */
    /* f32 <-> f16 rows (round to nearest even, bit-exact with base/fp16.h, except that a
     * signalling NaN half may come out as a quiet NaN float). */
    void (*f32_to_f16)(const float *x, slm_f16 *y, int64_t n);
    void (*f16_to_f32)(const slm_f16 *x, float *y, int64_t n);
    /* Q8_0 KV rows: n a multiple of 32; bytes as quantize_row_q8_0_ref / dequantize_row_q8_0. */
    void (*q8_0_from_f32)(const float *x, void *y, int64_t n);
    void (*q8_0_to_f32)(const void *x, float *y, int64_t n);

    /* Attention over a chunk of n f16 KV rows given by pointers (rows of one kv head, head_dim hd
     * each), for n_heads query heads q[n_heads][hd] sharing that kv head (GQA):
     *   attn_scores_f16: s[h * ld_s + i] = q_h . k_i            (raw dot products)
     *   attn_accum_f16:  acc[h * hd + d] += sum_i p[h * ld_p + i] * v_i[d]
     *   exp_shift_sum:   x[i] = exp(x[i] - m) for x[i] <= m, returns the sum of the new x[i] */
    void (*attn_scores_f16)(const float *q, int64_t n_heads, int64_t hd, const slm_f16 *const *k, int n, float *s,
                            int64_t ld_s);
    void (*attn_accum_f16)(float *acc, int64_t n_heads, int64_t hd, const slm_f16 *const *v, int n, const float *p,
                           int64_t ld_p);
    float (*exp_shift_sum)(float *x, int64_t n, float m);
    /* The gated FFN's activation, in place: g[i] = act(g[i]) * u[i], act = SiLU x / (1 + e^-x),
     * or with gelu_tanh GELU's tanh form 0.5 x (1 + tanh z), z = sqrt(2/pi) (x + 0.044715 x^3),
     * written as x / (1 + e^-2z) (one exp, no cancellation: the sum is of positive terms). */
    void (*glu)(float *g, const float *u, int64_t n, bool gelu_tanh);
    /* The same two for a Q8_0 KV cache: k[i] / v[i] point at the first of the hd / 32 blocks of
     * a row (hd a multiple of 32); element d of row i is d_blk * qs[d % 32] of its block. */
    void (*attn_scores_q8)(const float *q, int64_t n_heads, int64_t hd, const block_q8_0 *const *k, int n, float *s,
                           int64_t ld_s);
    void (*attn_accum_q8)(float *acc, int64_t n_heads, int64_t hd, const block_q8_0 *const *v, int n, const float *p,
                          int64_t ld_p);

    /* 16-bit activation quantizers (slm_quant_act_fn contract) into block_a16_32 / block_a16_256
     * rows; every table's bytes equal the scalar ones (kernels_a16_scalar.c). */
    slm_quant_act_fn quant_a16_32, quant_a16_256;
} slm_kernels;

/* ---- 16-bit activations ------------------------------------------------------------------------
 *
 * Each block of activations x[0..n) is stored as d * q[i] with int16 q: amax = max |x[i]|; if
 * amax == 0 then d = 0 and every q = 0; otherwise id = QMAX / amax (float division), q[i] =
 * round-half-even(x[i] * id) (a single float product, then nearbyintf / cvtps2dq in the
 * default rounding mode) and d = amax / QMAX (float division). A NaN x[i] gives q = 0.
 * That is ~15-bit precision, ~130x finer than llama.cpp's Q8_0 / Q8_K activations, while the
 * weights' integer codes (times their integer sub-block scales) still take exact int32 dot
 * products (pmaddwd / vpdpwssd).
 *   block_a16_32  (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL weights): 32 elements, QMAX 32767, sum = the
 *                 exact sum of the 32 codes (the Q4_1 / Q5_1 min term).
 *   block_a16_256 (Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS weights): 256 elements, QMAX 16383, bsums[j]
 *                 = exact sum of codes 16j .. 16j+15. QMAX 16383 keeps int32 sums of a whole
 *                 block exact even 32 products per lane deep: K-quant code x sub-block scale
 *                 products are at most 4096 in magnitude (Q6_K: 32 x 128) and
 *                 4096 * 16383 * 32 < 2^31.
 * Rows are consecutive blocks, padded to a multiple of 64 bytes (slm_matmul_act_row_bytes_mode). */
#define SLM_A16_QMAX_32 32767
#define SLM_A16_QMAX_256 16383
typedef struct block_a16_32 {
    int16_t qs[32];
    float d;
    int32_t sum;
} block_a16_32; /* 72 bytes */
typedef struct block_a16_256 {
    int16_t qs[256];
    int32_t bsums[16];
    float d;
    int32_t pad_[15]; /* 640 bytes: every block starts 64-byte aligned in a 64-aligned row */
} block_a16_256;

/* How a matmul treats its activations (float weights always take F32 activations):
 *   SLM_ACT_Q8:   llama.cpp's Q8_0 / Q8_K (gemm);
 *   SLM_ACT_Q8X2: Q8 plus its quantized rounding residual, 2 rows per token (gemm2);
 *   SLM_ACT_A16:  16-bit (gemm16); a type whose table entry has no gemm16 runs SLM_ACT_Q8X2. */
/* 8-bit activations for the one-token x16 tiles (slm_x16_quantize_a8): the codes and scale of
 * llama.cpp's Q8_0 (quantize_row_q8_0_ref: d = amax / 127 rounded to fp16, q = roundf(x / d)), d
 * as the float of that fp16, and the exact code sum (the -8 / -16 offsets of Q4_0 / Q5_0 codes).
 * The 256-element types keep llama.cpp's block_q8_K as is. In both, qs is in the tiles' order. */
typedef struct block_a8_32 {
    int8_t qs[32];
    float d;
    int32_t sum;
} block_a8_32; /* 40 bytes */

typedef enum slm_act_mode { SLM_ACT_Q8 = 0, SLM_ACT_Q8X2 = 1, SLM_ACT_A16 = 2 } slm_act_mode;

/* ---- Selecting a table -------------------------------------------------------------------- */

/* The table in use. The first call picks the best ISA the CPU supports, or the one named by the
 * environment variable SLM_ISA (scalar|avx2|avx512|amx|amx_emulated|neon|neon_dot|neon_i8mm) when set and usable; an unusable SLM_ISA is
 * reported by slm_kernels_init, and slm_kernels_get then falls back to the best available table.
 * Thread-safe; never NULL. */
const slm_kernels *slm_kernels_get(void);

/* Validate SLM_ISA once (call when creating a context): SLM_E_INVALID_ARG for an unknown name,
 * SLM_E_UNSUPPORTED when the CPU (or this build) lacks that ISA. */
slm_status slm_kernels_init(slm_error *err);

/* Table of one ISA, or NULL if the CPU or this build lacks it (tests iterate over all of them). */
const slm_kernels *slm_kernels_for_isa(slm_isa isa);

/* Parse an ISA name ("scalar", "avx2", "avx512", "neon", "neon_dot", "neon_i8mm", "amx", "amx_emulated"); false if unknown. */
bool slm_isa_from_name(const char *name, slm_isa *out);
const char *slm_isa_name(slm_isa isa);

/* ---- Matmul ------------------------------------------------------------------------------- */

/* Can weights of this type be multiplied (with K elements per row)? false when the type has no
 * kernel or K is not a positive multiple of the activation block. */
bool slm_matmul_supported(uint32_t type, int64_t k);

/* Check a weight's shape for slm_matmul from untrusted sizes: type supported, k > 0 a multiple of
 * the activation block, row_bytes == the type's row size for k. Fills err on failure. */
slm_status slm_matmul_check(uint32_t type, int64_t k, size_t row_bytes, slm_error *err);

/* Bytes of one activation row for weight type and k (rounded up to a multiple of 32 bytes), 0 if
 * unsupported. */
size_t slm_matmul_act_row_bytes(uint32_t type, int64_t k);
/* Bytes of scratch for n_tok activation rows (0 if unsupported or on overflow). */
size_t slm_matmul_act_size(uint32_t type, int64_t k, int64_t n_tok);

/* Phase 1, part ith of nth: quantize this thread's share of the n_tok rows of X (row stride ldx
 * floats) into act (slm_matmul_act_size bytes). */
void slm_matmul_quantize_act(const slm_kernels *kt, uint32_t type, const float *x, int64_t ldx, int64_t n_tok,
                             int64_t k, void *act, int ith, int nth);

/* Phase 2: rows [r0, r1) of W (w points at row 0, rows row_bytes apart) against all n_tok
 * activation rows: Y[t * ldy + r] for r0 <= r < r1. Threads split rows; any r0/r1 is valid, but
 * multiples of SLM_MATMUL_ROW_ALIGN keep every thread on whole tiles. */
#define SLM_MATMUL_ROW_ALIGN 16
void slm_matmul_rows(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                     int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1);

/* Both phases on the pool (NULL pool: this thread only), one dispatch with a barrier between.
 * act: caller's scratch of slm_matmul_act_size(type, k, n_tok) bytes, 32-byte aligned.
 * Shapes must have passed slm_matmul_check. */
void slm_matmul(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t row_bytes,
                int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k, void *act, float *y,
                int64_t ldy);

/* ---- Precise matmul ------------------------------------------------------------------------ */

/* The same product with ~16-bit activations: x = q8(x) + e exactly, and e is quantized again
 * (its own Q8_0 / Q8_K scale, about 1/128 of x's), so
 *     W x ~= W q8(x) + W q8(e)
 * with an activation error ~100x below q8(x) alone (llama.cpp's precision class). The two
 * activation rows of a token go through one tile (gemm2), so weights are read and unpacked once;
 * the integer dot work doubles. Float weights (F32 activations) take slm_matmul unchanged.
 * act: slm_matmul_act_size(type, k, 2 * n_tok) bytes, 32-byte aligned. */
bool slm_matmul_has_precise(const slm_kernels *kt, uint32_t type);

/* Phase 1 of the precise matmul, part ith of nth: rows 2t and 2t+1 of act for this thread's
 * share of the tokens (or of the blocks, when n_tok == 1). */
void slm_matmul_quantize_act2(const slm_kernels *kt, uint32_t type, const float *x, int64_t ldx, int64_t n_tok,
                              int64_t k, void *act, int ith, int nth);

/* Phase 2: rows [r0, r1) against n_tok tokens of act (2 n_tok rows). */
void slm_matmul_rows2(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                      int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1);

/* Both phases on the pool, like slm_matmul; plain slm_matmul for types with F32 activations. */
void slm_matmul_precise(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t row_bytes,
                        int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k, void *act, float *y,
                        int64_t ldy);

/* ---- Matmul with a chosen activation mode (the production entry point) ------------------------ */

/* The mode a matmul of this type really runs with this table: SLM_ACT_A16 without gemm16 becomes
 * SLM_ACT_Q8X2; types with F32 activations (float weights) always report SLM_ACT_Q8. */
slm_act_mode slm_matmul_effective_mode(const slm_kernels *kt, uint32_t type, slm_act_mode mode);

/* Scratch bytes for n_tok tokens in a mode (for SLM_ACT_A16 the larger of the A16 and Q8X2 sizes,
 * so one buffer serves any table); 0 if unsupported or on overflow. */
size_t slm_matmul_act_size_mode(uint32_t type, int64_t k, int64_t n_tok, slm_act_mode mode);

/* Phase 1 / phase 2 of an A16 matmul (same splits as slm_matmul_quantize_act / slm_matmul_rows);
 * the type must have a gemm16 in kt. One activation row (slm_matmul_a16_row_bytes) per token. */
size_t slm_matmul_a16_row_bytes(uint32_t type, int64_t k);
void slm_matmul_quantize_act16(const slm_kernels *kt, uint32_t type, const float *x, int64_t ldx, int64_t n_tok,
                               int64_t k, void *act, int ith, int nth);
void slm_matmul_rows16(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                       int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1);

/* Both phases on the pool in the effective mode; act: slm_matmul_act_size_mode bytes, 64-byte
 * aligned. */
void slm_matmul_mode(const slm_kernels *kt, slm_threadpool *pool, slm_act_mode mode, uint32_t type, const void *w,
                     size_t row_bytes, int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k,
                     void *act, float *y, int64_t ldy);

/* ---- 16-row interleaved weights (kernels_x16.c) --------------------------------------------------
 *
 * Row-layout tiles pay, per weight block and (row, token), for turning 16 int32 partial sums of
 * one row into one float: a convert, a scale and a horizontal reduction. Repacked weights put
 * the same block of 16 consecutive rows side by side (one row per 32-bit lane), so one vector op
 * serves 16 rows and nothing is reduced horizontally. slm_model_prepare copies a weight once into
 * that layout (same size) when the active table has a gemm16_x16 for its type (slm_x16_usable); only
 * the 16-bit activation path multiplies packed weights directly, the other modes read rows back
 * with slm_x16_unpack_row. Layouts: Q4_0, Q8_0, Q4_K, Q6_K, IQ4_XS (kernels_x16.c). */

/* Is there a packed layout for the type at all (whatever the table)? */
bool slm_x16_layout_exists(uint32_t type);
/* Would kt multiply a weight of n_rows x k of this type in packed form? (n_rows % 16 == 0) */
bool slm_x16_usable(const slm_kernels *kt, uint32_t type, int64_t n_rows, int64_t k);
/* Pack groups [g0, g1) (rows 16 g0 .. 16 g1) of src (row layout, row 0 first) into the same
 * place of dst (same size; dst must not overlap src). */
void slm_x16_pack(uint32_t type, const void *src, void *dst, size_t row_bytes, int64_t g0, int64_t g1);
/* Blocks [b0, b1) of row r of packed w, in the row layout ((b1 - b0) blocks into out). */
void slm_x16_unpack_row(uint32_t type, const void *w, size_t row_bytes, int64_t r, int64_t b0, int64_t b1, void *out);
/* Put n_tok a16 activation rows (k elements, arb bytes apart) in the order the x16 tiles read
 * pairs in (kernels_x16.c); the scale and the sums are unchanged. */
void slm_x16_order_act(uint32_t type, void *act, size_t arb, int64_t n_tok, int64_t k);
/* Phase 2 over packed weights, rows [r0, r1) (multiples of 16) against n_tok a16 activation rows
 * (phase 1: slm_matmul_quantize_act16, then slm_x16_order_act). */
void slm_matmul_rows16_x16(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                           int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1);
/* Both phases on the pool, as slm_matmul_mode in SLM_ACT_A16 (slm_x16_usable must hold).
 * act: slm_matmul_act_size_mode(type, k, n_tok, SLM_ACT_A16) bytes, 64-byte aligned. */
void slm_matmul_x16(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t row_bytes,
                    int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k, void *act, float *y,
                    int64_t ldy);

/* Several packed matrices times the same n_tok activation rows x (k elements each; e.g. a layer's
 * q, k and v, or gate and up) in one pool run instead of one each: the activations are quantized
 * once per distinct act buffer (give items of one type the same buffer; items of different
 * types need their own: the a16 block and the pair order depend on the type), then the rows of
 * all items are shared among the threads in chunks. Every item must be slm_x16_usable; each y
 * gets n_tok rows of n_rows outputs, ldy apart. At most SLM_X16_MULTI_MAX items. */
#define SLM_X16_MULTI_MAX 4
typedef struct slm_x16_item {
    uint32_t type;
    const void *w;
    size_t row_bytes;
    int64_t n_rows;
    float *y;
    int64_t ldy;
    void *act; /* slm_matmul_act_size_mode(type, k, n_tok, SLM_ACT_A16) bytes, 64-byte aligned */
} slm_x16_item;
void slm_matmul_x16_multi(const slm_kernels *kt, slm_threadpool *pool, const slm_x16_item *items, int n_items,
                          const float *x, int64_t ldx, int64_t n_tok, int64_t k);

/* ---- One token with 8-bit activations over packed weights ----------------------------------------
 *
 * llama.cpp's activation precision (Q8_0 blocks for Q4_0 / Q5_0, Q8_K for Q4_K) at generation:
 * vpmaddubsw multiplies 32 byte pairs at once where the 16-bit tiles multiply 16, so the 4-bit
 * tiles, which are arithmetic-bound at one thread, do about half the work per weight byte. The
 * result equals slm_matmul in SLM_ACT_Q8 on the unpacked weights up to float rounding order. */

/* Does kt have a tile for one token of this type in packed form with 8-bit activations? */
bool slm_x16_a8_usable(const slm_kernels *kt, uint32_t type, int64_t n_rows, int64_t k);
/* Bytes of the a8 activation row (k elements; a multiple of 64, never more than the A16 row). */
size_t slm_x16_a8_row_bytes(uint32_t type, int64_t k);
/* Quantize blocks [b0, b1) of one activation row x (k elements) into act in the tiles' order. */
void slm_x16_quantize_a8(const slm_kernels *kt, uint32_t type, const float *x, int64_t k, void *act, int64_t b0,
                         int64_t b1);
/* slm_matmul_x16_multi for one token (x: k floats): the items that are slm_x16_a8_usable take
 * 8-bit activations (act: slm_x16_a8_row_bytes; the A16 sizes are enough), the others (which must
 * be slm_x16_usable) their 16-bit tiles, as slm_matmul_x16_multi would. */
void slm_matmul_x16_multi_a8(const slm_kernels *kt, slm_threadpool *pool, const slm_x16_item *items, int n_items,
                             const float *x, int64_t k);

#endif
