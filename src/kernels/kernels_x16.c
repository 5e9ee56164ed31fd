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
    int field_off[16], field_width[16]; /* header fields (byte offset in the block, bytes) */
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

/* Where the 4-bit code of element e lives in a block: byte offset, and whether it is the high
 * nibble. Q4_0 / IQ4_NL-style: 16 bytes per 32 elements, low nibbles first; Q4_K: 32 bytes per
 * 64 elements, low nibbles first. */
static int nibble_at(uint32_t type, int e, bool *high) {
    switch (type) {
    case SLM_DT_Q4_0:
        *high = e >= 16;
        return (int)offsetof(block_q4_0, qs) + e % 16;
    case SLM_DT_Q4_K:
        *high = e % 64 >= 32;
        return (int)offsetof(block_q4_K, qs) + 32 * (e / 64) + e % 32;
    default: /* IQ4_XS */
        *high = e % 32 >= 16;
        return (int)offsetof(block_iq4_xs, qs) + 16 * (e / 32) + e % 16;
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
    for (int sb = 0; sb < f->elems / 32; sb++, out += 256)
        for (int m = 0; m < 4; m++)
            for (int s = 0; s < 32; s++) {
                unsigned word = 0;
                for (int q = 0; q < 4; q++) {
                    bool high;
                    const int at = nibble_at(f->type, 32 * sb + 8 * m + 2 * q + s % 2, &high);
                    const unsigned code = high ? rows[s / 2][at] >> 4 : rows[s / 2][at] & 15u;
                    word |= code << (4 * q);
                }
                out[m * 64 + 2 * s] = (uint8_t)(word & 0xFF);
                out[m * 64 + 2 * s + 1] = (uint8_t)(word >> 8);
            }
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
    for (int sb = 0; sb < f->elems / 32; sb++, in += 256)
        for (int m = 0; m < 4; m++)
            for (int h = 0; h < 2; h++) {
                const int s = 2 * r + h;
                const unsigned word = in[m * 64 + 2 * s] | (unsigned)in[m * 64 + 2 * s + 1] << 8;
                for (int q = 0; q < 4; q++) {
                    bool high;
                    const int at = nibble_at(f->type, 32 * sb + 8 * m + 2 * q + h, &high);
                    const unsigned code = (word >> (4 * q)) & 15u;
                    out[at] = (uint8_t)(high ? (out[at] & 0x0F) | code << 4 : (out[at] & 0xF0) | code);
                }
            }
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
