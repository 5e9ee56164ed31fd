/* 16-row interleaved weights ("x16", kernels.h): the layout, repacking in place, reading one row
 * back, and the matmul driver over packed weights. Portable C; the tiles are per ISA.
 *
 * A group is 16 consecutive rows. Its bytes are the same 16 x row_bytes as before, reordered block
 * by block: group-block b holds block b of all 16 rows, so that one 512-bit vector can hold the
 * same weights of 16 rows, one row per 32-bit lane, and a tile accumulates 16 rows at once with no
 * horizontal sums (the per-block scales of 16 rows are one vector too).
 *
 * Q4_0 group-block (288 bytes = 16 x 18):
 *   uint16 d[16]          the rows' fp16 scales
 *   uint8  qs[4][64]      4 chunks of 32 16-bit words; word s of chunk m belongs to row s / 2 and
 *                         holds 4 codes (0..15, value = (code - 8) * d): bits 4q..4q+3 = element
 *                         8m + 2q + (s % 2) of that row.
 * So (chunk m >> 4q) & 15, taken per 16-bit word, is the int16 pair (element 2p, element 2p+1),
 * p = 4m + q, of all 16 rows: exactly what vpdpwssd multiplies with the broadcast activation pair
 * (a[2p], a[2p+1]).
 *
 * Q8_0 group-block (544 bytes = 16 x 34):
 *   uint16 d[16]
 *   int8   qs[16][32]     chunk p (32 bytes), byte s = element 2p + (s % 2) of row s / 2: one
 *                         sign extension to 16 bits gives the pairs of 16 rows. */
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

#define X16 16

/* A block is a header of fixed-width fields and codes. Packed, each header field of the 16 rows
 * is stored as an array of 16 (fields in block order), then the codes of the group-block:
 * 4-bit codes per 32-element sub-block in 4 chunks of 64 bytes (the Q4_0 word layout above),
 * or Q8_0's int8 chunks. */
typedef struct x16_format {
    uint32_t type;
    int block_bytes, elems, n_fields;
    int field_off[17], field_width[17]; /* header fields (byte offset in the block, bytes) */
    bool int8_codes;                    /* Q8_0; otherwise 4-bit codes */
} x16_format;

static const x16_format k_formats[] = {
    {SLM_DT_Q4_0, sizeof(block_q4_0), 32, 1, {0}, {2}, false},
    {SLM_DT_Q8_0, sizeof(block_q8_0), 32, 1, {0}, {2}, true},
    /* Q4_K: d, dmin, then the 12 packed scale bytes one by one (16 rows of a byte = one xmm) */
    {SLM_DT_Q4_K, sizeof(block_q4_K), 256, 14, {0, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
     {2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, false},
    /* IQ4_XS: d, scales_h, the 4 scales_l bytes */
    {SLM_DT_IQ4_XS, sizeof(block_iq4_xs), 256, 6, {0, 2, 4, 5, 6, 7}, {2, 2, 1, 1, 1, 1}, false},
    /* Q6_K: d, the 16 int8 scales one by one; after the low nibbles, the high 2-bit planes */
    {SLM_DT_Q6_K, sizeof(block_q6_K), 256, 17, {208, 192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207},
     {2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, false},
};

static const x16_format *format_of(uint32_t type) {
    for (size_t i = 0; i < sizeof k_formats / sizeof k_formats[0]; i++)
        if (k_formats[i].type == type) return &k_formats[i];
    return NULL;
}

bool slm_x16_layout_exists(uint32_t type) { return format_of(type) != NULL; }

bool slm_x16_usable(const slm_kernels *kt, uint32_t type, int64_t n_rows, int64_t k) {
    const x16_format *f = format_of(type);
    return f && kt->mm[type].gemm16_x16 && n_rows > 0 && n_rows % X16 == 0 && k > 0 && k % f->elems == 0 &&
           slm_matmul_supported(type, k);
}

/* Code of element e of a block in row layout (Q6_K: 6 bits, the others 4), and its inverse. */
static unsigned code_get(uint32_t type, const uint8_t *blk, int e) {
    switch (type) {
    case SLM_DT_Q4_0: {
        const uint8_t v = blk[offsetof(block_q4_0, qs) + e % 16];
        return e >= 16 ? v >> 4 : v & 15u;
    }
    case SLM_DT_Q4_K: {
        const uint8_t v = blk[offsetof(block_q4_K, qs) + 32 * (e / 64) + e % 32];
        return e % 64 >= 32 ? v >> 4 : v & 15u;
    }
    case SLM_DT_IQ4_XS: {
        const uint8_t v = blk[offsetof(block_iq4_xs, qs) + 16 * (e / 32) + e % 16];
        return e % 32 >= 16 ? v >> 4 : v & 15u;
    }
    default: { /* Q6_K: per 128-element half n, quarter g: ql nibble (low for g < 2) and 2 qh bits */
        const int n = e / 128, g = (e % 128) / 32, l = e % 32;
        const uint8_t lo = blk[offsetof(block_q6_K, ql) + 64 * n + 32 * (g % 2) + l];
        const uint8_t hi = blk[offsetof(block_q6_K, qh) + 32 * n + l];
        return (g < 2 ? lo & 15u : lo >> 4) | ((hi >> (2 * g)) & 3u) << 4;
    }
    }
}

static void set_bits(uint8_t *p, int shift, unsigned width_mask, unsigned v) {
    *p = (uint8_t)((*p & ~(width_mask << shift)) | (v & width_mask) << shift);
}

static void code_set(uint32_t type, uint8_t *blk, int e, unsigned v) {
    switch (type) {
    case SLM_DT_Q4_0: set_bits(blk + offsetof(block_q4_0, qs) + e % 16, e >= 16 ? 4 : 0, 15u, v); break;
    case SLM_DT_Q4_K:
        set_bits(blk + offsetof(block_q4_K, qs) + 32 * (e / 64) + e % 32, e % 64 >= 32 ? 4 : 0, 15u, v);
        break;
    case SLM_DT_IQ4_XS:
        set_bits(blk + offsetof(block_iq4_xs, qs) + 16 * (e / 32) + e % 16, e % 32 >= 16 ? 4 : 0, 15u, v);
        break;
    default: {
        const int n = e / 128, g = (e % 128) / 32, l = e % 32;
        set_bits(blk + offsetof(block_q6_K, ql) + 64 * n + 32 * (g % 2) + l, g < 2 ? 0 : 4, 15u, v);
        set_bits(blk + offsetof(block_q6_K, qh) + 32 * n + l, 2 * g, 3u, v >> 4);
    }
    }
}

/* Q6_K's high 2 bits: per sub-block, 2 chunks of 32 words; word s of chunk X serves nibble chunks
 * m0 = 2X and m1 = 2X + 1 (same word s): the bits of pair q < 3 of m0 at 4q + 4 (just above the
 * nibble's own position 4q, so (c & 0xF << 4q) | (h & 3 << 4q + 4) is 16^q x the 6-bit code), of
 * m1 at 4q + 6 (the same after h >> 2), and pair 3's at bits 0 (m0) and 2 (m1). */
static int q6_hi_shift(int m, int q) { return q < 3 ? 4 * q + 4 + 2 * (m % 2) : 2 * (m % 2); }

/* Bytes per sub-block of codes: 4 nibble chunks, and for Q6_K the 2 high-bit chunks right after
 * them (one sequential stream: with the high bits in a separate plane the 1-token tile ran 2.5x
 * slower once the matrix no longer fit the L3 cache). */
static int sub_bytes(const x16_format *f) { return f->type == SLM_DT_Q6_K ? 384 : 256; }

static void codes_pack(const x16_format *f, const uint8_t *const rows[X16], uint8_t *out) {
    const int nsb = f->elems / 32, sbb = sub_bytes(f);
    for (int sb = 0; sb < nsb; sb++)
        for (int m = 0; m < 4; m++)
            for (int s = 0; s < 32; s++) {
                unsigned word = 0, hword = 0;
                for (int q = 0; q < 4; q++) {
                    const unsigned code = code_get(f->type, rows[s / 2], 32 * sb + 8 * m + 2 * q + s % 2);
                    word |= (code & 15u) << (4 * q);
                    hword |= (code >> 4) << q6_hi_shift(m, q);
                }
                uint8_t *o = out + sbb * sb + 64 * m + 2 * s;
                o[0] = (uint8_t)(word & 0xFF);
                o[1] = (uint8_t)(word >> 8);
                if (f->type == SLM_DT_Q6_K) {
                    uint8_t *h = out + sbb * sb + 256 + 64 * (m / 2) + 2 * s;
                    if (m % 2 == 0) h[0] = h[1] = 0;
                    h[0] |= (uint8_t)(hword & 0xFF);
                    h[1] |= (uint8_t)(hword >> 8);
                }
            }
}

static void codes_unpack(const x16_format *f, const uint8_t *in, int r, uint8_t *out) {
    const int nsb = f->elems / 32, sbb = sub_bytes(f);
    for (int sb = 0; sb < nsb; sb++)
        for (int m = 0; m < 4; m++)
            for (int h = 0; h < 2; h++) {
                const int s = 2 * r + h;
                const uint8_t *w = in + sbb * sb + 64 * m + 2 * s;
                const unsigned word = w[0] | (unsigned)w[1] << 8;
                unsigned hword = 0;
                if (f->type == SLM_DT_Q6_K) {
                    const uint8_t *hw = in + sbb * sb + 256 + 64 * (m / 2) + 2 * s;
                    hword = hw[0] | (unsigned)hw[1] << 8;
                }
                for (int q = 0; q < 4; q++) {
                    const unsigned code = ((word >> (4 * q)) & 15u) | ((hword >> q6_hi_shift(m, q)) & 3u) << 4;
                    code_set(f->type, out, 32 * sb + 8 * m + 2 * q + h, code);
                }
            }
}

static void pack_block(const x16_format *f, const uint8_t *const rows[X16], uint8_t *out) {
    for (int i = 0; i < f->n_fields; i++) {
        const int w = f->field_width[i];
        for (int r = 0; r < X16; r++) memcpy(out + r * w, rows[r] + f->field_off[i], (size_t)w);
        out += X16 * w;
    }
    if (f->int8_codes) { /* chunk p (32 bytes): byte s = element 2p + s % 2 of row s / 2 */
        for (int p = 0; p < f->elems / 2; p++)
            for (int s = 0; s < 32; s++)
                out[p * 32 + s] = rows[s / 2][offsetof(block_q8_0, qs) + 2 * p + s % 2];
        return;
    }
    codes_pack(f, rows, out);
}

static void unpack_block(const x16_format *f, const uint8_t *in, int r, uint8_t *out) {
    for (int i = 0; i < f->n_fields; i++) {
        const int w = f->field_width[i];
        memcpy(out + f->field_off[i], in + r * w, (size_t)w);
        in += X16 * w;
    }
    if (f->int8_codes) {
        for (int p = 0; p < f->elems / 2; p++)
            for (int h = 0; h < 2; h++) out[offsetof(block_q8_0, qs) + 2 * p + h] = in[p * 32 + 2 * r + h];
        return;
    }
    codes_unpack(f, in, r, out);
}

void slm_x16_pack(uint32_t type, void *w, size_t row_bytes, int64_t g0, int64_t g1, void *scratch) {
    const x16_format *f = format_of(type);
    const size_t bs = (size_t)f->block_bytes, nb = row_bytes / bs;
    for (int64_t g = g0; g < g1; g++) {
        uint8_t *grp = (uint8_t *)w + (size_t)g * X16 * row_bytes;
        memcpy(scratch, grp, X16 * row_bytes);
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *rows[X16];
            for (int r = 0; r < X16; r++) rows[r] = (const uint8_t *)scratch + r * row_bytes + b * bs;
            pack_block(f, rows, grp + b * X16 * bs);
        }
    }
}

void slm_x16_unpack_row(uint32_t type, const void *w, size_t row_bytes, int64_t r, int64_t b0, int64_t b1, void *out) {
    const x16_format *f = format_of(type);
    const size_t bs = (size_t)f->block_bytes;
    const uint8_t *grp = (const uint8_t *)w + (size_t)(r / X16) * X16 * row_bytes;
    for (int64_t b = b0; b < b1; b++)
        unpack_block(f, grp + (size_t)b * X16 * bs, (int)(r % X16), (uint8_t *)out + (size_t)(b - b0) * bs);
}

/* ---- Matmul driver (the A16 path of kernels.c with x16 tiles) ------------------------------- */

/* Prompt tiles are cache-blocked like slm_matmul_rows16: ROWS rows (a multiple of 16) against
 * TOKS tokens at a time, so a tile's weights stay in L2 while all tokens pass. */
#define X16_ROW_CHUNK 64
#define X16_TOK_CHUNK 32

void slm_matmul_rows16_x16(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                           int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const slm_gemm_fn gemm = kt->mm[type].gemm16_x16;
    const size_t arb = slm_matmul_a16_row_bytes(type, k);
    if (n_tok <= X16_TOK_CHUNK) {
        gemm(k, (const uint8_t *)w + (size_t)r0 * row_bytes, row_bytes, r1 - r0, act, arb, n_tok, y + r0, ldy);
        return;
    }
    for (int64_t rc = r0; rc < r1; rc += X16_ROW_CHUNK) {
        const int64_t nr = r1 - rc < X16_ROW_CHUNK ? r1 - rc : X16_ROW_CHUNK;
        for (int64_t tc = 0; tc < n_tok; tc += X16_TOK_CHUNK) {
            const int64_t nt = n_tok - tc < X16_TOK_CHUNK ? n_tok - tc : X16_TOK_CHUNK;
            gemm(k, (const uint8_t *)w + (size_t)rc * row_bytes, row_bytes, nr, (const uint8_t *)act + (size_t)tc * arb,
                 arb, nt, y + tc * ldy + rc, ldy);
        }
    }
}

typedef struct x16_task {
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
} x16_task;

static void x16_task_run(void *arg, int ith, int nth) {
    const x16_task *m = arg;
    slm_matmul_quantize_act16(m->kt, m->type, m->x, m->ldx, m->n_tok, m->k, m->act, ith, nth);
    slm_threadpool_barrier(m->pool);
    int64_t r0, r1;
    slm_split_range(m->n_rows, ith, nth, X16, &r0, &r1);
    if (r1 > r0) slm_matmul_rows16_x16(m->kt, m->type, m->w, m->row_bytes, m->act, m->n_tok, m->k, m->y, m->ldy, r0, r1);
}

void slm_matmul_x16(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t row_bytes,
                    int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k, void *act, float *y,
                    int64_t ldy) {
    if (n_rows <= 0 || n_tok <= 0) return;
    x16_task m = {kt, pool, type, w, row_bytes, n_rows, x, ldx, n_tok, k, act, y, ldy};
    slm_threadpool_run(pool, x16_task_run, &m);
}
