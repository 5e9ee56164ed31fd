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

bool slm_x16_layout_exists(uint32_t type) { return type == SLM_DT_Q4_0 || type == SLM_DT_Q8_0; }

bool slm_x16_usable(const slm_kernels *kt, uint32_t type, int64_t n_rows, int64_t k) {
    return slm_x16_layout_exists(type) && kt->mm[type].gemm16_x16 && n_rows > 0 && n_rows % X16 == 0 &&
           k > 0 && k % 32 == 0 && slm_matmul_supported(type, k);
}

/* Element e (0..31) code of a block in row layout. */
static int q4_0_code(const block_q4_0 *b, int e) { return e < 16 ? b->qs[e] & 15 : b->qs[e - 16] >> 4; }

static void pack_block_q4_0(const block_q4_0 *const rows[X16], uint8_t *out) {
    for (int r = 0; r < X16; r++) memcpy(out + 2 * r, &rows[r]->d, 2);
    uint8_t *qs = out + 2 * X16;
    for (int m = 0; m < 4; m++)
        for (int s = 0; s < 32; s++) {
            const block_q4_0 *b = rows[s / 2];
            unsigned word = 0;
            for (int q = 0; q < 4; q++) word |= (unsigned)q4_0_code(b, 8 * m + 2 * q + s % 2) << (4 * q);
            qs[m * 64 + 2 * s] = (uint8_t)(word & 0xFF);
            qs[m * 64 + 2 * s + 1] = (uint8_t)(word >> 8);
        }
}

static void unpack_block_q4_0(const uint8_t *in, int r, block_q4_0 *out) {
    memcpy(&out->d, in + 2 * r, 2);
    const uint8_t *qs = in + 2 * X16;
    int code[32];
    for (int m = 0; m < 4; m++)
        for (int h = 0; h < 2; h++) {
            const int s = 2 * r + h;
            const unsigned word = qs[m * 64 + 2 * s] | (unsigned)qs[m * 64 + 2 * s + 1] << 8;
            for (int q = 0; q < 4; q++) code[8 * m + 2 * q + h] = (int)(word >> (4 * q)) & 15;
        }
    for (int j = 0; j < 16; j++) out->qs[j] = (uint8_t)(code[j] | code[j + 16] << 4);
}

static void pack_block_q8_0(const block_q8_0 *const rows[X16], uint8_t *out) {
    for (int r = 0; r < X16; r++) memcpy(out + 2 * r, &rows[r]->d, 2);
    int8_t *qs = (int8_t *)(out + 2 * X16);
    for (int p = 0; p < 16; p++)
        for (int s = 0; s < 32; s++) qs[p * 32 + s] = rows[s / 2]->qs[2 * p + s % 2];
}

static void unpack_block_q8_0(const uint8_t *in, int r, block_q8_0 *out) {
    memcpy(&out->d, in + 2 * r, 2);
    const int8_t *qs = (const int8_t *)(in + 2 * X16);
    for (int p = 0; p < 16; p++)
        for (int h = 0; h < 2; h++) out->qs[2 * p + h] = qs[p * 32 + 2 * r + h];
}

static size_t block_bytes(uint32_t type) { return type == SLM_DT_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q8_0); }

void slm_x16_pack(uint32_t type, void *w, size_t row_bytes, int64_t g0, int64_t g1, void *scratch) {
    const size_t bs = block_bytes(type), nb = row_bytes / bs;
    for (int64_t g = g0; g < g1; g++) {
        uint8_t *grp = (uint8_t *)w + (size_t)g * X16 * row_bytes;
        memcpy(scratch, grp, X16 * row_bytes);
        for (size_t b = 0; b < nb; b++) {
            const void *rows[X16];
            for (int r = 0; r < X16; r++) rows[r] = (const uint8_t *)scratch + r * row_bytes + b * bs;
            uint8_t *out = grp + b * X16 * bs;
            if (type == SLM_DT_Q4_0)
                pack_block_q4_0((const block_q4_0 *const *)rows, out);
            else
                pack_block_q8_0((const block_q8_0 *const *)rows, out);
        }
    }
}

void slm_x16_unpack_row(uint32_t type, const void *w, size_t row_bytes, int64_t r, int64_t b0, int64_t b1, void *out) {
    const size_t bs = block_bytes(type);
    const uint8_t *grp = (const uint8_t *)w + (size_t)(r / X16) * X16 * row_bytes;
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *in = grp + (size_t)b * X16 * bs;
        if (type == SLM_DT_Q4_0)
            unpack_block_q4_0(in, (int)(r % X16), (block_q4_0 *)out + (b - b0));
        else
            unpack_block_q8_0(in, (int)(r % X16), (block_q8_0 *)out + (b - b0));
    }
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
