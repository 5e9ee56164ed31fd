/* Internal to src/kernels: how the per-ISA files fill the dispatch table. */
#ifndef SLM_KERNELS_INTERNAL_H
#define SLM_KERNELS_INTERNAL_H

#include <math.h>
#include <stdatomic.h>

#include "kernels/kernels.h"

/* The glu activations' scalar formulas (kernels.h: glu), shared by the reference and SIMD tails. */
#define KERNELS_GELU_K 0.7978845608028654f /* sqrt(2 / pi) */
static inline float kernels_silu(float x) { return x / (1.0f + expf(-x)); }
static inline float kernels_gelu_tanh(float x) {
    const float z = KERNELS_GELU_K * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * z));
}

/* Fill every entry with the portable reference (kernels_scalar.c). */
void kernels_fill_scalar(slm_kernels *kt);

/* Overwrite the entries that have an AVX2 version (kernels_*_avx2.c); others keep the scalar
 * reference. Only called when the CPU has AVX2 + FMA + F16C. */
void kernels_fill_avx2(slm_kernels *kt);
void kernels_fill_avx2_kquants(slm_kernels *kt);

/* Attention entries (kernels_attn_scalar.c, kernels_attn_avx2.c); called by the fills above. */
void kernels_fill_attn_scalar(slm_kernels *kt);
void kernels_fill_attn_avx2(slm_kernels *kt);
/* AVX-512 attention for head sizes 64/128/256, over a table already holding the AVX2 entries
 * (kernels_attn_avx512.c; other head sizes keep calling them). */
void kernels_fill_attn_avx512(slm_kernels *kt);

/* 16-bit activations (kernels_a16_scalar.c): the reference quantizers and the generic reference
 * gemm16 of every quantized type (called by kernels_fill_scalar). */
void kernels_fill_a16_scalar(slm_kernels *kt);
void kernels_quant_a16_32_ref(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act, size_t arb);
void kernels_quant_a16_256_ref(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act, size_t arb);

/* SIMD gemm16 tiles and a16 quantizers: overwrite the entries they have; called after
 * kernels_fill_avx2 / kernels_fill_avx512 (the AVX-512 table starts as a copy of the AVX2 one). */
void kernels_fill_a16_b32_avx2(slm_kernels *kt);       /* 32-element types + quantizers */
void kernels_fill_a16_kq_avx2(slm_kernels *kt);        /* K-quants and IQ4_XS */
void kernels_fill_a16_b32_avx512(slm_kernels *kt);     /* 32-element types + quantizers */
void kernels_fill_a16_kquants_avx512(slm_kernels *kt); /* K-quants and IQ4_XS */
/* gemm16_x16 tiles over 16-row interleaved weights (kernels_x16_avx2.c, kernels_x16_avx512.c). */
void kernels_fill_x16_avx2(slm_kernels *kt);
void kernels_fill_x16_avx512(slm_kernels *kt);
/* AMX prompt tiles for Q4_0 / Q8_0 over a table holding the AVX-512 x16 tiles (which keep fewer
 * than 16 tokens): with the tile instructions, or over their C model (tests; kernels_x16_amx*.c). */
void kernels_fill_x16_amx(slm_kernels *kt);
void kernels_fill_x16_amx_emulated(slm_kernels *kt);

/* Overwrite the entries that have an AVX-512 version (kernels_*_avx512.c) in a table already
 * filled by the AVX2 functions. Only called when the CPU has AVX-512 F/BW/DQ/VL + VNNI with ZMM
 * state enabled by the OS, and AVX2 + FMA + F16C. */
void kernels_fill_avx512(slm_kernels *kt);
void kernels_fill_avx512_kquants(slm_kernels *kt);

/* Overwrite every entry with the AArch64 NEON version of one feature level (kernels_neon*.c,
 * bodies in kernels_neon_impl.h): ARMv8.0, + dotprod, + i8mm. Only called when the CPU has it. */
void kernels_fill_neon(slm_kernels *kt);
void kernels_fill_neon_dot(slm_kernels *kt);
void kernels_fill_neon_i8mm(slm_kernels *kt);

/* The arguments of a whole matmul run on the pool (kernels.c, kernels_x16.c). */
/* x16 Q5_0 (kernels_x16.c, q5_pack_bits): the bit of a packed 16-bit word holding the fifth bit of
 * pair P = 4 m + j (chunk m, nibble j of the chunk's words): 4 + m, 8 + m, 12 + m for j = 0, 1, 2
 * and m for j = 3. So one shift of the word right by m puts chunk m's fifth bits just above
 * nibbles 0-2 (bits 4, 8, 12: + 16 x the nibble's place) and nibble 3's at bit 0. */
static inline int kernels_q5_bit_pos(int P) { return (P % 4 == 3 ? 0 : 4 + 4 * (P % 4)) + P / 4; }

typedef struct kernels_matmul_task {
    const slm_kernels *kt;
    slm_threadpool *pool;
    uint32_t type;
    const void *w;
    size_t row_bytes;
    int64_t n_rows;
    const float *x;
    int64_t ldx, n_tok, k;
    void *act;
    float *y;
    int64_t ldy;
    _Atomic int64_t next_chunk; /* kernels_next_rows: chunks taken after each thread's first */
} kernels_matmul_task;

/* Work sharing for phase 2 (the rows): the rows are cut into chunks of whole 16-row tiles, about
 * KERNELS_CHUNKS_PER_THREAD per thread; thread ith takes chunk ith first, then whichever chunk is
 * next untaken. A thread the machine slows down (another process on its core, a noisier memory
 * channel) so hands its last chunks to the others instead of holding all of them at the join.
 * Sets [*r0, *r1) and returns true while there are rows; *taken starts at 0. */
#define KERNELS_CHUNKS_PER_THREAD 4
bool kernels_next_rows(kernels_matmul_task *m, int ith, int nth, int *taken, int64_t *r0, int64_t *r1);

/* The part of the a16 activation rows that thread ith of nth quantizes (slm_matmul_quantize_act16)
 * and may post-process in place: tokens [t0, t0 + nt) whole (e0 = 0, ne = k), or for one token
 * and several threads elements [e0, e0 + ne) of its row, cut at block bounds; act_off: its first
 * byte in the activation rows. False when the share is empty. */
typedef struct kernels_a16_share {
    int64_t t0, nt, e0, ne;
    size_t act_off;
} kernels_a16_share;
bool kernels_a16_share_of(const slm_kernels *kt, uint32_t type, int64_t n_tok, int64_t k, int ith, int nth,
                          kernels_a16_share *s);

/* Phase 2 of an a16 matmul with a given tile (gemm16 or gemm16_x16): rows [r0, r1), cache-blocked
 * in chunks of rows x tokens. */
void kernels_rows16_with(slm_gemm_fn gemm, uint32_t type, const void *w, size_t row_bytes, const void *act,
                         int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1);

/* Bytes of one activation row of act_type (F32, Q8_0 or Q8_K) for k elements, rounded up to a
 * multiple of 32 bytes; 0 if k does not fit the block size. */
size_t kernels_act_row_bytes(uint32_t act_type, int64_t k);

#endif
