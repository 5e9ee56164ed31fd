/* Tensor block formats: ggml's layouts byte for byte, with scalar reference (de)quantizers.
 *
 * These scalar functions are the source of truth: every optimized kernel (src/kernels) is tested
 * against them. Dequantization is bit-exact with ggml's to_float (and gguf-py). Quantization
 * follows llama.cpp's reference quantizers without importance matrix (quantize_row_*_ref, and for
 * IQ4_NL / IQ4_XS the no-imatrix path of quantize_iq4_*), so quantizing the same float32 input
 * gives the same bytes as llama-quantize.
 *
 * Naming keeps ggml's vocabulary (block_q4_K, QK_K, quantize_row_q8_K_ref) so that the formats can
 * be compared side by side with llama.cpp. Type ids are slm_dtype (base/dtype.h, ggml numbering).
 *
 * Ownership: nothing here allocates or keeps a pointer; every buffer belongs to the caller. All
 * functions are pure and thread-safe (no global state), so rows can be converted in parallel.
 *
 * Block memory: blocks are read through their struct types, so block pointers must be aligned
 * to _Alignof(the block) (2 bytes for every fp16-scaled block, 4 for Q8_K and F32). GGUF tensor
 * data always is (32-byte alignment). The checked wrappers reject misaligned pointers.
 *
 * Non-finite input to the raw quantizers (NaN, +-inf, or subnormals so small that 1/scale
 * overflows): never crashes and never invokes undefined behaviour (float -> integer casts go
 * through helpers that give what x86 gives instead of C's undefined result). Only the blocks
 * holding such values are affected; their bytes are garbage in, garbage out: codes in range, the
 * stored scale possibly inf/NaN. (ggml does the same, but its NaN bits depend on the build, so
 * bit-identity is only promised for finite input.) slm_quantize() rejects non-finite input
 * instead (SLM_E_RANGE).
 */
#ifndef SLM_QUANT_QUANT_H
#define SLM_QUANT_QUANT_H

#include <stdint.h>

#include "base/fp16.h"
#include "slm.h"

/* Elements per super-block of the K-quants, IQ4_XS and Q8_K. */
#define QK_K 256
/* Elements per block of the legacy formats and IQ4_NL. */
#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
/* Bytes of packed 6-bit scales/mins in Q4_K, Q5_K (and of 6-bit scales in Q3_K). */
#define K_SCALE_SIZE 12

/* ---- Legacy 32-element blocks ----------------------------------------------------------------
 * Element j of a block: nibble j & 15 of qs[j] holds elements 0..15, the high nibble 16..31. */

/* Q4_0: 4.5 bpw. x[j] = d * (q[j] - 8), q in 0..15. */
typedef struct {
    slm_f16 d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

/* Q4_1: 5 bpw. x[j] = d * q[j] + m, q in 0..15. */
typedef struct {
    slm_f16 d;
    slm_f16 m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

/* Q5_0: 5.5 bpw. x[j] = d * (q[j] - 16), q = low nibble | bit j of qh (little-endian u32) << 4. */
typedef struct {
    slm_f16 d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

/* Q5_1: 6 bpw. x[j] = d * q[j] + m, q in 0..31 split as in Q5_0. */
typedef struct {
    slm_f16 d;
    slm_f16 m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

/* Q8_0: 8.5 bpw. x[j] = d * qs[j]. */
typedef struct {
    slm_f16 d;
    int8_t qs[QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

/* Q8_1: 9 bpw, activation format for the Q4_1/Q5_1 dot products. x[j] = d * qs[j];
 * s = fp16(d * sum(qs)) lets a dot product fold in the other side's min. */
typedef struct {
    slm_f16 d;
    slm_f16 s;
    int8_t qs[QK8_1];
} block_q8_1;
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

/* ---- K-quants: 256-element super-blocks of 16 or 32-element sub-blocks --------------------- */

/* Q2_K: 2.625 bpw. 16 sub-blocks of 16. scales[s] = sc | mn << 4 (4 bits each).
 * x = d * sc * q - dmin * mn, q in 0..3. qs: element 128*h + 32*k + l (h half, k 0..3 shift,
 * l 0..31) is bits 2k..2k+1 of qs[32*h + l]. */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    slm_f16 d;
    slm_f16 dmin;
} block_q2_K;
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

/* Q3_K: 3.4375 bpw. 16 sub-blocks of 16 with signed 6-bit scales (packed in 12 bytes, stored +32).
 * x = d * (sc - 32) * (q - 4), q = 2 low bits (qs, laid out as Q2_K) | hmask bit << 2;
 * hmask: element 32*b + l has its high bit in bit b of hmask[l]. */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[K_SCALE_SIZE];
    slm_f16 d;
} block_q3_K;
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

/* Q4_K: 4.5 bpw. 8 sub-blocks of 32 with 6-bit scale sc and min mn (packed in 12 bytes).
 * x = d * sc * q - dmin * mn, q in 0..15. qs: 64-element chunks, low nibbles first 32, high next. */
typedef struct {
    slm_f16 d;
    slm_f16 dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

/* Q5_K: 5.5 bpw. As Q4_K with a fifth bit: x = d * sc * q - dmin * mn, q in 0..31;
 * qh bit 2c (low nibbles) / 2c+1 (high nibbles) of qh[l] for 64-element chunk c. */
typedef struct {
    slm_f16 d;
    slm_f16 dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

/* Q6_K: 6.5625 bpw. 16 sub-blocks of 16 with int8 scales. x = d * scales[s] * (q - 32), q in 0..63:
 * 4 low bits in ql, 2 high bits in qh (per 128-element half: see dequantize_row_q6_K). */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    slm_f16 d;
} block_q6_K;
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* Q8_K: 9.125 bpw, activation format for the K-quant dot products. x = d * qs (d is float32);
 * bsums[g] = sum of qs[16g .. 16g+15]. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

/* ---- Non-linear 4-bit ------------------------------------------------------------------------ */

/* The 16 IQ4 levels (a non-uniform grid denser near 0). */
extern const int8_t kvalues_iq4nl[16];

/* IQ4_NL: 4.5 bpw. x[j] = d * kvalues_iq4nl[q[j]], nibbles as Q4_0. */
typedef struct {
    slm_f16 d;
    uint8_t qs[QK4_NL / 2];
} block_iq4_nl;
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");

/* IQ4_XS: 4.25 bpw. 8 sub-blocks of 32 with 6-bit scales ls (low 4 bits in scales_l nibbles,
 * high 2 bits in scales_h). x = d * (ls - 32) * kvalues_iq4nl[q], nibbles per 32 as IQ4_NL. */
typedef struct {
    slm_f16 d;
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* ---- Scalar reference row functions ----------------------------------------------------------
 * k (elements) must be a multiple of the type's block size (unchecked: use the wrappers below for
 * untrusted sizes). Rows are independent per block, so a whole tensor can be passed as one row. */

void dequantize_row_f16(const slm_f16 *x, float *y, int64_t k);
void dequantize_row_bf16(const slm_bf16 *x, float *y, int64_t k);
void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t k);
void dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t k);
void dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t k);
void dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t k);
void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t k);
void dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t k);
void dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t k);
void dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t k);
void dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t k);
void dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t k);
void dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t k);
void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t k);
void dequantize_row_iq4_nl(const block_iq4_nl *x, float *y, int64_t k);
void dequantize_row_iq4_xs(const block_iq4_xs *x, float *y, int64_t k);

void quantize_row_f16_ref(const float *x, slm_f16 *y, int64_t k);
void quantize_row_bf16_ref(const float *x, slm_bf16 *y, int64_t k);
void quantize_row_q4_0_ref(const float *x, block_q4_0 *y, int64_t k);
void quantize_row_q4_1_ref(const float *x, block_q4_1 *y, int64_t k);
void quantize_row_q5_0_ref(const float *x, block_q5_0 *y, int64_t k);
void quantize_row_q5_1_ref(const float *x, block_q5_1 *y, int64_t k);
void quantize_row_q8_0_ref(const float *x, block_q8_0 *y, int64_t k);
void quantize_row_q8_1_ref(const float *x, block_q8_1 *y, int64_t k);
void quantize_row_q2_K_ref(const float *x, block_q2_K *y, int64_t k);
void quantize_row_q3_K_ref(const float *x, block_q3_K *y, int64_t k);
void quantize_row_q4_K_ref(const float *x, block_q4_K *y, int64_t k);
void quantize_row_q5_K_ref(const float *x, block_q5_K *y, int64_t k);
void quantize_row_q6_K_ref(const float *x, block_q6_K *y, int64_t k);
void quantize_row_q8_K_ref(const float *x, block_q8_K *y, int64_t k);
/* IQ4_NL / IQ4_XS: llama-quantize's path (quantize_iq4_nl / quantize_iq4_xs without imatrix:
 * weights x^2 and a best-scale search over 15 candidate scales per 32 elements). ggml's
 * quantize_row_iq4_nl_ref (ntry -1, used for activations) differs; it is not provided. */
void quantize_row_iq4_nl_ref(const float *x, block_iq4_nl *y, int64_t k);
void quantize_row_iq4_xs_ref(const float *x, block_iq4_xs *y, int64_t k);

/* ---- Dispatch by type id --------------------------------------------------------------------- */

/* Convert n elements (a multiple of the block size) of the given type. */
typedef void (*slm_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*slm_from_float_fn)(const float *src, void *dst, int64_t n);

/* Reference converter for type (slm_dtype id), or NULL when slm cannot convert that type.
 * to_float: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 Q2_K..Q6_K Q8_K IQ4_NL IQ4_XS.
 * from_float: the same set. */
slm_to_float_fn slm_quant_to_float(uint32_t type);
slm_from_float_fn slm_quant_from_float(uint32_t type);

/* Checked dequantization of n elements of type from src (src_bytes readable) into dst (room for
 * n floats). Fails without touching dst when: type unsupported (SLM_E_UNSUPPORTED); n < 0 or not
 * a multiple of the block size, src or dst NULL (with n > 0) or src misaligned for the block
 * struct (SLM_E_INVALID_ARG); src_bytes smaller than the n elements need (SLM_E_FORMAT).
 * Extra bytes beyond the n elements are ignored. */
slm_status slm_dequantize(uint32_t type, const void *src, uint64_t src_bytes, float *dst, int64_t n, slm_error *err);

/* Checked quantization of n floats into dst (dst_bytes writable). Same argument checks as
 * slm_dequantize (dst too small is SLM_E_INVALID_ARG here: the caller sized it); additionally
 * any NaN or infinite input is rejected with SLM_E_RANGE naming the first bad index, before
 * anything is written. */
slm_status slm_quantize(uint32_t type, const float *src, int64_t n, void *dst, uint64_t dst_bytes, slm_error *err);

#endif
