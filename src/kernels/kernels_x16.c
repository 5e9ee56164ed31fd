/* 16-row interleaved weights ("x16", kernels.h): the layouts, packing, reading one row back, the
 * activation order the tiles expect, and the matmul driver. Portable C; the tiles are per ISA.
 *
 * A group is 16 consecutive rows. Its bytes are the same 16 x row_bytes as before, reordered block
 * by block: group-block b holds block b of all 16 rows, so that one 512-bit vector holds the same
 * weights of 16 rows, one row per 32-bit lane, and a tile accumulates 16 rows at once with no
 * horizontal sums (the per-block scales of 16 rows are one vector too).
 *
 * Group-block = the header fields of the block, each as an array over the 16 rows (fields in
 * block order; Q4_K's and Q6_K's scale bytes one by one, so 16 rows of a byte are one xmm), then
 * "chunks": the same 4 bytes (Q8_0: 2 bytes) of the block's codes for the 16 rows, 64 (32) bytes,
 * in an order per type (formats_init below) that the tiles read front to back. Packing therefore
 * only moves 4-byte units and costs about a copy (Q6_K excepted, below). Q5_0's 32 fifth bits
 * are one 4-byte field, reordered per pair (q5_pack_bits).
 *
 * A chunk's 32-bit lane r is 4 code bytes of row r; as 16-bit words (bytes 0-1, bytes 2-3), nibble
 * q of each word ((c >> 4q) & 15 per word) is an int16 pair for vpdpwssd: pair q of the chunk is
 * (element of byte q/2, nibble q%2; element of byte 2 + q/2, nibble q%2). Those elements are not
 * neighbours in the block, so the activations are put in the same order instead
 * (slm_x16_order_act): activation pair P of a block is the chunk-order pair P = 4 x chunk + q, and a
 * tile broadcasts pairs front to back. Q8_0 chunks hold bytes (2p, 2p+1): already in order.
 *
 * Q6_K is laid out bit by bit instead (its 6-bit codes straddle the nibbles and the qh bits, and
 * gathering them cost the one-token tile 3-4 shifts per 4 pairs on Zen 4's one shift pipe): d and
 * the 16 scale bytes as above, then per 16-element scale j (elements 16j + i) three chunks D0 D1
 * D2 of 16 rows x 4 bytes. Pair P (0..7) is elements (16j + 2P, 16j + 2P + 1), word w of a chunk
 * lane holding the pair's element 2P + w (activations in natural order). With c_P the 6-bit code of
 * pair P's element in that word, the three words are
 *   D0 = c0 | (c6 & 15) << 6 | (c1 ^ 32) << 10
 *   D1 = c2 | (c7 & 15) << 6 | (c3 ^ 32) << 10
 *   D2 = c4 | c5 << 6 | (c6 >> 4) << 12 | (c7 >> 4) << 14
 * so that one AND gives pairs 0, 2, 4 as codes, 1 and 3 as (code - 32) x 1024 (the XOR makes
 * the top 6 bits the signed code - 32), 5 as 64 x code, and 6, 7 are a bit select of D0 / D1
 * with D2 >> 2 / D2 >> 4, masked, as 64 x code. The -32 offset of the unsigned ones: the x16
 * activations of Q6_K hold in bsums[j] -32 x the sum of the 12 activation codes of pairs other
 * than 1 and 3 (slm_x16_order_act). That is the layout of the AVX-512 tables.
 *
 * The AVX2 tables read Q6_K in bytes instead (x16_q6k_bytes; vpmaddubsw multiplies bytes, and AVX2
 * has no vpdpwssd for the pairs): chunks A B C at the same places, lane r of each holding 4 bytes,
 * byte i of A / B / C = code of element 16j + i / 16j + 4 + i / 16j + 8 + i in its low 6 bits and
 * 2 bits of the code of element 16j + 12 + i in its top 2 (A: bits 4-5, B: 2-3, C: 0-1). One AND
 * per chunk gives three vectors of codes, and ((((C & 0xC0) >> 2 | (B & 0xC0)) >> 2) | (A & 0xC0)) >> 2
 * the fourth (one mask constant), all four in natural element order (the 8-bit activations need no reordering). The 16-bit
 * tiles split each byte vector into words (x & 0x3F, x >> 8 & 0x3F): pair P of scale j is elements
 * 16j + 4 (P / 2) + P % 2 + {0, 2}, and all 16 codes are unsigned, so bsums[j] = -32 x their
 * activation sum. Which one is in use follows the active table (slm_kernels_get) at first use. */
#include <pthread.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

#define X16 16
#define MAX_CHUNKS 32 /* Q4_K, IQ4_XS: 32 of 4 bytes; Q8_0: 16 of 2 bytes; Q6_K: none (its own bit layout) */

typedef struct x16_format {
    uint32_t type;
    int block_bytes, elems, n_fields;
    int field_off[17], field_width[17]; /* header fields (byte offset in the block, bytes) */
    int unit;                           /* code bytes per row in a chunk: 4, 2 (Q8_0), 0 (Q6_K: no chunks) */
    int n_chunks;
    int chunk_off[MAX_CHUNKS];          /* block offset of each chunk's code bytes, packed order */
} x16_format;

#define N_FORMATS 6
static x16_format g_formats[N_FORMATS];
static int g_n_formats;
/* element of activation pair slot j (2 per pair, packed order), per format */
static uint16_t g_perm[N_FORMATS][256];
/* 8-bit activations (unit-4 formats): slot u of 4 codes = elements 4 g_perm8[u] .. + 3. A chunk
 * lane's 4 code bytes hold 4 consecutive elements in their low nibbles and 4 in their high ones
 * (nibble_elem), so the tiles' a8 order is, chunk by chunk, the low nibbles' 4 then the high's. */
static uint8_t g_perm8[N_FORMATS][64];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_q6_bytes; /* Q6_K packed in bytes (AVX2) rather than 16-bit pairs (AVX-512) */

static void add_field(x16_format *f, int off, int width) {
    f->field_off[f->n_fields] = off;
    f->field_width[f->n_fields++] = width;
}

/* Element of code byte `byte` (offset in the block), nibble `hi`, for the 4-bit types. */
static int nibble_elem(uint32_t type, int byte, int hi) {
    switch (type) {
    case SLM_DT_Q4_0: { /* qs[j]: elements j, j + 16 */
        const int j = byte - (int)offsetof(block_q4_0, qs);
        return j + 16 * hi;
    }
    case SLM_DT_Q5_0: { /* low 4 bits as Q4_0 */
        const int j = byte - (int)offsetof(block_q5_0, qs);
        return j + 16 * hi;
    }
    case SLM_DT_IQ4_XS: { /* qs[16 s + j]: elements 32 s + j, 32 s + 16 + j */
        const int j = byte - (int)offsetof(block_iq4_xs, qs);
        return 32 * (j / 16) + j % 16 + 16 * hi;
    }
    default: { /* Q4_K qs[32 c + j]: elements 64 c + j, 64 c + 32 + j */
        const int j = byte - (int)offsetof(block_q4_K, qs);
        return 64 * (j / 32) + j % 32 + 32 * hi;
    }
    }
}

static void formats_init(void) {
    x16_format *f;
    g_q6_bytes = slm_kernels_get()->x16_q6k_bytes;
    /* Q4_0: d; chunks = qs bytes 4m .. 4m + 3 */
    f = &g_formats[g_n_formats++];
    *f = (x16_format){.type = SLM_DT_Q4_0, .block_bytes = sizeof(block_q4_0), .elems = 32, .unit = 4};
    add_field(f, offsetof(block_q4_0, d), 2);
    for (int m = 0; m < 4; m++) f->chunk_off[f->n_chunks++] = (int)offsetof(block_q4_0, qs) + 4 * m;
    /* Q5_0: d, qh (bit-permuted, see q5_qh_bit); chunks = qs bytes 4m .. 4m + 3 as Q4_0 */
    f = &g_formats[g_n_formats++];
    *f = (x16_format){.type = SLM_DT_Q5_0, .block_bytes = sizeof(block_q5_0), .elems = 32, .unit = 4};
    add_field(f, offsetof(block_q5_0, d), 2);
    add_field(f, offsetof(block_q5_0, qh), 4);
    for (int m = 0; m < 4; m++) f->chunk_off[f->n_chunks++] = (int)offsetof(block_q5_0, qs) + 4 * m;
    /* Q8_0: d; chunks = qs bytes 2p, 2p + 1 */
    f = &g_formats[g_n_formats++];
    *f = (x16_format){.type = SLM_DT_Q8_0, .block_bytes = sizeof(block_q8_0), .elems = 32, .unit = 2};
    add_field(f, offsetof(block_q8_0, d), 2);
    for (int p = 0; p < 16; p++) f->chunk_off[f->n_chunks++] = (int)offsetof(block_q8_0, qs) + 2 * p;
    /* Q4_K: d, dmin, 12 scale bytes; chunks in qs order (8 per 64 elements: sub-blocks 2c, 2c + 1) */
    f = &g_formats[g_n_formats++];
    *f = (x16_format){.type = SLM_DT_Q4_K, .block_bytes = sizeof(block_q4_K), .elems = 256, .unit = 4};
    add_field(f, offsetof(block_q4_K, d), 2);
    add_field(f, offsetof(block_q4_K, dmin), 2);
    for (int j = 0; j < 12; j++) add_field(f, (int)offsetof(block_q4_K, scales) + j, 1);
    for (int u = 0; u < 32; u++) f->chunk_off[f->n_chunks++] = (int)offsetof(block_q4_K, qs) + 4 * u;
    /* IQ4_XS: d, scales_h, 4 scales_l bytes; chunks in qs order (4 per sub-block) */
    f = &g_formats[g_n_formats++];
    *f = (x16_format){.type = SLM_DT_IQ4_XS, .block_bytes = sizeof(block_iq4_xs), .elems = 256, .unit = 4};
    add_field(f, offsetof(block_iq4_xs, d), 2);
    add_field(f, offsetof(block_iq4_xs, scales_h), 2);
    for (int j = 0; j < 4; j++) add_field(f, (int)offsetof(block_iq4_xs, scales_l) + j, 1);
    for (int u = 0; u < 32; u++) f->chunk_off[f->n_chunks++] = (int)offsetof(block_iq4_xs, qs) + 4 * u;
    /* Q6_K: d, 16 scale bytes; the codes in their own bit layout (q6_pack_codes), no chunks */
    f = &g_formats[g_n_formats++];
    *f = (x16_format){.type = SLM_DT_Q6_K, .block_bytes = sizeof(block_q6_K), .elems = 256, .unit = 0};
    add_field(f, offsetof(block_q6_K, d), 2);
    for (int j = 0; j < 16; j++) add_field(f, (int)offsetof(block_q6_K, scales) + j, 1);
    /* activation order: slot 2P + w of pair P = 4 x (code chunk index) + q, word w; Q8_0 and
     * Q6_K keep the natural order */
    for (int i = 0; i < g_n_formats; i++) {
        f = &g_formats[i];
        if (f->unit != 4) {
            for (int e = 0; e < f->elems; e++) g_perm[i][e] = (uint16_t)e;
            for (int u = 0; u < f->elems / 4; u++) g_perm8[i][u] = (uint8_t)u; /* Q6_K bytes: natural */
            if (f->type == SLM_DT_Q6_K && g_q6_bytes) /* pairs (0, 2), (1, 3), (4, 6) ... of each scale */
                for (int e = 0; e < f->elems; e++) {
                    const int P = (e % 16) / 2, w = e % 2;
                    g_perm[i][e] = (uint16_t)(16 * (e / 16) + 4 * (P / 2) + P % 2 + 2 * w);
                }
            continue;
        }
        for (int c = 0; c < f->n_chunks; c++)
            for (int hi = 0; hi < 2; hi++) g_perm8[i][2 * c + hi] = (uint8_t)(nibble_elem(f->type, f->chunk_off[c], hi) / 4);
        int P = 0;
        for (int c = 0; c < f->n_chunks; c++) {
            for (int q = 0; q < 4; q++, P++)
                for (int w = 0; w < 2; w++)
                    g_perm[i][2 * P + w] = (uint16_t)nibble_elem(f->type, f->chunk_off[c] + 2 * w + q / 2, q % 2);
        }
    }
}

static int format_index(uint32_t type) {
    pthread_once(&g_once, formats_init);
    for (int i = 0; i < g_n_formats; i++)
        if (g_formats[i].type == type) return i;
    return -1;
}

bool slm_x16_layout_exists(uint32_t type) { return format_index(type) >= 0; }

bool slm_x16_usable(const slm_kernels *kt, uint32_t type, int64_t n_rows, int64_t k) {
    const int i = format_index(type);
    return i >= 0 && kt->mm[type].gemm16_x16 && n_rows > 0 && n_rows % X16 == 0 && k > 0 &&
           k % g_formats[i].elems == 0 && slm_matmul_supported(type, k) &&
           (type != SLM_DT_Q6_K || kt->x16_q6k_bytes == g_q6_bytes);
}

/* n bytes with a constant size (inlined moves, not a memcpy call per unit) */
static inline void copy_n(uint8_t *dst, const uint8_t *src, int n) {
    if (n == 4)
        memcpy(dst, src, 4);
    else if (n == 2)
        memcpy(dst, src, 2);
    else
        *dst = *src;
}

/* Q5_0's 32 fifth bits (bit j = element j), reordered for the tiles: bit kernels_q5_bit_pos(P) of
 * the packed word is the fifth bit of pair P's first element (16-bit word 0 of a chunk lane), bit
 * 16 + kernels_q5_bit_pos(P) of its second (word 1), P = 4 x chunk + q. vptestmw with that bit, on
 * the packed words of 16 rows, is the mask of the pair-P int16 codes that take + 16; one shift
 * right by the chunk index lines a chunk's bits up with its nibbles (kernels_internal.h). */
static int q5_elem(int P, int word) { return 4 * (P / 4) + 2 * word + (P % 4) / 2 + 16 * (P % 2); }

static uint32_t q5_pack_bits(uint32_t qh) {
    uint32_t out = 0;
    for (int P = 0; P < 16; P++)
        for (int w = 0; w < 2; w++) out |= ((qh >> q5_elem(P, w)) & 1u) << (kernels_q5_bit_pos(P) + 16 * w);
    return out;
}

static uint32_t q5_unpack_bits(uint32_t packed) {
    uint32_t qh = 0;
    for (int P = 0; P < 16; P++)
        for (int w = 0; w < 2; w++) qh |= ((packed >> (kernels_q5_bit_pos(P) + 16 * w)) & 1u) << q5_elem(P, w);
    return qh;
}

/* Q6_K: the 6-bit codes of a block (as dequantize_row_q6_K reads them: in half h, element
 * 128 h + 32 t + l has the nibble t / 2 of ql byte 64 h + 32 (t % 2) + l and bits 2t of qh byte
 * 32 h + l), and the same codes written back. */
static inline uint32_t load4(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 4 bytes at a time (packing a model is a pass over all its Q6_K bytes): every shift is masked to
 * whole bytes, so the result does not depend on the byte order. */
static void q6_codes(const block_q6_K *b, uint8_t code[256]) {
    const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l += 4) {
            const uint32_t q0 = load4(b->ql + 64 * h + l), q1 = load4(b->ql + 64 * h + 32 + l), qh = load4(b->qh + 32 * h + l);
            const uint32_t c[4] = {(q0 & m4) | (qh & m2) << 4, (q1 & m4) | (qh >> 2 & m2) << 4,
                                   (q0 >> 4 & m4) | (qh >> 4 & m2) << 4, (q1 >> 4 & m4) | (qh >> 6 & m2) << 4};
            for (int t = 0; t < 4; t++) memcpy(code + 128 * h + 32 * t + l, &c[t], 4);
        }
}

static void q6_set_codes(block_q6_K *b, const uint8_t code[256]) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *c = code + 128 * h + l;
            b->ql[64 * h + l] = (uint8_t)((c[0] & 15) | (c[64] & 15) << 4);
            b->ql[64 * h + 32 + l] = (uint8_t)((c[32] & 15) | (c[96] & 15) << 4);
            b->qh[32 * h + l] = (uint8_t)((c[0] >> 4) | (c[32] >> 4) << 2 | (c[64] >> 4) << 4 | (c[96] >> 4) << 6);
        }
}

/* The 8 codes c[P] of a pair slot from its three words (layout at the top). */
static void q6_codes_of_words(uint16_t d0, uint16_t d1, uint16_t d2, uint8_t c[8]) {
    c[0] = (uint8_t)(d0 & 63), c[1] = (uint8_t)((d0 >> 10) ^ 32), c[2] = (uint8_t)(d1 & 63);
    c[3] = (uint8_t)((d1 >> 10) ^ 32), c[4] = (uint8_t)(d2 & 63), c[5] = (uint8_t)((d2 >> 6) & 63);
    c[6] = (uint8_t)(((d0 >> 6) & 15) | ((d2 >> 12) & 3) << 4);
    c[7] = (uint8_t)(((d1 >> 6) & 15) | ((d2 >> 14) & 3) << 4);
}

/* The code area of a group-block from the 16 rows' blocks: the codes are first gathered as
 * t[8j + P][2r + w] (scale j, pair P, row r, word w), so that each 64-byte chunk (j, m) is one
 * vectorizable loop over its 32 words (measured 1.3 GB/s per thread; the byte layouts pack at ~2.3). */
static void q6_pack_codes(const uint8_t *const rows[X16], uint8_t *codes) {
    uint8_t t[128][32], code[256];
    for (int r = 0; r < X16; r++) {
        q6_codes((const block_q6_K *)rows[r], code);
        for (int k = 0; k < 128; k++) memcpy(&t[k][2 * r], &code[2 * k], 2);
    }
    for (int j = 0; j < 16; j++) {
        const uint8_t(*c)[32] = t + 8 * j;
        uint16_t d0[32], d1[32], d2[32];
        for (int i = 0; i < 32; i++) {
            d0[i] = (uint16_t)(c[0][i] | (c[6][i] & 15) << 6 | (c[1][i] ^ 32) << 10);
            d1[i] = (uint16_t)(c[2][i] | (c[7][i] & 15) << 6 | (c[3][i] ^ 32) << 10);
            d2[i] = (uint16_t)(c[4][i] | c[5][i] << 6 | (c[6][i] >> 4) << 12 | (c[7][i] >> 4) << 14);
        }
        memcpy(codes + 192 * j, d0, 64);
        memcpy(codes + 192 * j + 64, d1, 64);
        memcpy(codes + 192 * j + 128, d2, 64);
    }
}

/* The byte layout (x16_q6k_bytes, top of the file): chunk m (A B C) of scale j, lane r, byte i. */
static void q6b_pack_codes(const uint8_t *const rows[X16], uint8_t *codes) {
    const uint32_t m2 = 0x03030303u;
    for (int r = 0; r < X16; r++) {
        uint8_t code[256];
        q6_codes((const block_q6_K *)rows[r], code);
        for (int j = 0; j < 16; j++) {
            const uint32_t top = load4(code + 16 * j + 12);
            for (int m = 0; m < 3; m++) {
                const uint32_t v = load4(code + 16 * j + 4 * m) | (top >> (4 - 2 * m) & m2) << 6;
                memcpy(codes + 192 * j + 64 * m + 4 * r, &v, 4);
            }
        }
    }
}

static void q6b_unpack_codes(const uint8_t *codes, int r, block_q6_K *b) {
    uint8_t code[256];
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 4; i++) {
            uint8_t top = 0;
            for (int m = 0; m < 3; m++) {
                const uint8_t v = codes[192 * j + 64 * m + 4 * r + i];
                code[16 * j + 4 * m + i] = v & 63;
                top |= (uint8_t)((v >> 6) << (4 - 2 * m));
            }
            code[16 * j + 12 + i] = top;
        }
    q6_set_codes(b, code);
}

static void q6_unpack_codes(const uint8_t *codes, int r, block_q6_K *b) {
    uint8_t code[256];
    for (int j = 0; j < 16; j++)
        for (int w = 0; w < 2; w++) {
            uint16_t d[3];
            uint8_t c[8];
            for (int m = 0; m < 3; m++) memcpy(&d[m], codes + 192 * j + 64 * m + 4 * r + 2 * w, 2);
            q6_codes_of_words(d[0], d[1], d[2], c);
            for (int P = 0; P < 8; P++) code[16 * j + 2 * P + w] = c[P];
        }
    q6_set_codes(b, code);
}

static void pack_block(const x16_format *f, const uint8_t *const rows[X16], uint8_t *out) {
    for (int i = 0; i < f->n_fields; i++) {
        const int w = f->field_width[i];
        for (int r = 0; r < X16; r++) copy_n(out + r * w, rows[r] + f->field_off[i], w);
        if (f->type == SLM_DT_Q5_0 && w == 4)
            for (int r = 0; r < X16; r++) {
                uint32_t v;
                memcpy(&v, out + 4 * r, 4);
                v = q5_pack_bits(v);
                memcpy(out + 4 * r, &v, 4);
            }
        out += X16 * w;
    }
    for (int c = 0; c < f->n_chunks; c++, out += X16 * f->unit)
        for (int r = 0; r < X16; r++) copy_n(out + r * f->unit, rows[r] + f->chunk_off[c], f->unit);
    if (f->type == SLM_DT_Q6_K) (g_q6_bytes ? q6b_pack_codes : q6_pack_codes)(rows, out);
}

static void unpack_block(const x16_format *f, const uint8_t *in, int r, uint8_t *out) {
    for (int i = 0; i < f->n_fields; i++) {
        const int w = f->field_width[i];
        if (f->type == SLM_DT_Q5_0 && w == 4) {
            uint32_t v;
            memcpy(&v, in + r * w, 4);
            v = q5_unpack_bits(v);
            memcpy(out + f->field_off[i], &v, 4);
        } else {
            copy_n(out + f->field_off[i], in + r * w, w);
        }
        in += X16 * w;
    }
    for (int c = 0; c < f->n_chunks; c++, in += X16 * f->unit) copy_n(out + f->chunk_off[c], in + r * f->unit, f->unit);
    if (f->type == SLM_DT_Q6_K) (g_q6_bytes ? q6b_unpack_codes : q6_unpack_codes)(in, r, (block_q6_K *)out);
}

void slm_x16_pack(uint32_t type, const void *src, void *dst, size_t row_bytes, int64_t g0, int64_t g1) {
    const x16_format *f = &g_formats[format_index(type)];
    const size_t bs = (size_t)f->block_bytes, nb = row_bytes / bs;
    for (int64_t g = g0; g < g1; g++) {
        const uint8_t *in = (const uint8_t *)src + (size_t)g * X16 * row_bytes;
        uint8_t *out = (uint8_t *)dst + (size_t)g * X16 * row_bytes;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *rows[X16];
            for (int r = 0; r < X16; r++) rows[r] = in + r * row_bytes + b * bs;
            pack_block(f, rows, out + b * X16 * bs);
        }
    }
}

void slm_x16_unpack_row(uint32_t type, const void *w, size_t row_bytes, int64_t r, int64_t b0, int64_t b1, void *out) {
    const x16_format *f = &g_formats[format_index(type)];
    const size_t bs = (size_t)f->block_bytes;
    const uint8_t *grp = (const uint8_t *)w + (size_t)(r / X16) * X16 * row_bytes;
    for (int64_t b = b0; b < b1; b++)
        unpack_block(f, grp + (size_t)b * X16 * bs, (int)(r % X16), (uint8_t *)out + (size_t)(b - b0) * bs);
}

void slm_x16_order_act(uint32_t type, void *act, size_t arb, int64_t n_tok, int64_t k) {
    const int i = format_index(type);
    const x16_format *f = &g_formats[i];
    if (f->type == SLM_DT_Q6_K && !g_q6_bytes) { /* natural order; bsums[j] = -32 x the codes of pairs 0, 2, 4-7 */
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t b = 0; b < k / 256; b++) {
                block_a16_256 *a = (block_a16_256 *)((uint8_t *)act + (size_t)t * arb) + b;
                for (int j = 0; j < 16; j++) {
                    const int16_t *q = a->qs + 16 * j;
                    a->bsums[j] = -32 * (a->bsums[j] - (q[2] + q[3] + q[6] + q[7]));
                }
            }
        return;
    }
    if (f->unit == 2) return;
    const uint16_t *perm = g_perm[i];
    const size_t bb = f->elems == 32 ? sizeof(block_a16_32) : sizeof(block_a16_256);
    int16_t tmp[256];
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t b = 0; b < k / f->elems; b++) {
            int16_t *qs = (int16_t *)((uint8_t *)act + (size_t)t * arb + (size_t)b * bb); /* qs first in both */
            memcpy(tmp, qs, sizeof(int16_t) * (size_t)f->elems);
            for (int j = 0; j < f->elems; j++) qs[j] = tmp[perm[j]];
            if (f->type == SLM_DT_Q6_K) /* byte layout: all 16 codes of a scale unsigned */
                for (int j = 0; j < 16; j++) ((block_a16_256 *)qs)->bsums[j] *= -32;
        }
}

/* ---- Matmul driver (the A16 path of kernels.c with x16 tiles) ------------------------------- */

void slm_matmul_rows16_x16(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                           int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    kernels_rows16_with(kt->mm[type].gemm16_x16, type, w, row_bytes, act, n_tok, k, y, ldy, r0, r1);
}

/* One pool run for several matrices that multiply the same activations (slm_matmul_x16_multi, and
 * slm_matmul_x16_multi_a8 for one token in 8-bit): phase 1 quantizes and reorders the activations
 * once per distinct act buffer, each thread its share of the blocks, phase 2 shares
 * the 16-row tiles of all the matrices (numbered item after item) among the threads in chunks
 * claimed from one counter, each 1 / (2 nth) of the tiles still unclaimed (at least min_tiles,
 * never across two items): big chunks while much is left, small ones at the end, so the threads
 * finish close together (equal chunks of 1/8 of a matmul left one thread waiting ~half a chunk at
 * every join, ~5% of a 2-thread generation). */
typedef struct x16_multi_task {
    const slm_kernels *kt;
    slm_threadpool *pool;
    const slm_x16_item *items;
    int n_items;
    const float *x;
    int64_t ldx, n_tok, k;
    bool a8[SLM_X16_MULTI_MAX];          /* item i: one token, 8-bit activations (tok1_a8_x16) */
    int64_t min_tiles;                   /* smallest chunk */
    int64_t tile_end[SLM_X16_MULTI_MAX]; /* tiles of items 0..i */
    _Atomic int64_t next_tile;
} x16_multi_task;

/* This thread's share of quantizing x for `type` into act and putting it in the tiles' order
 * (one token: thread 0 after the barrier would serialize; the row's blocks are split like the
 * quantizer's). */
static void x16_prepare_act(const x16_multi_task *m, uint32_t type, void *act, int ith, int nth) {
    slm_matmul_quantize_act16(m->kt, type, m->x, m->ldx, m->n_tok, m->k, act, ith, nth);
    const size_t arb = slm_matmul_a16_row_bytes(type, m->k);
    if (m->n_tok > 1 || nth == 1) {
        int64_t t0, t1;
        slm_split_range(m->n_tok, ith, nth, 1, &t0, &t1);
        if (t1 > t0) slm_x16_order_act(type, (uint8_t *)act + (size_t)t0 * arb, arb, t1 - t0, m->k);
    } else {
        const int64_t ab = m->kt->mm[type].a16;
        const size_t bb = ab == 32 ? sizeof(block_a16_32) : sizeof(block_a16_256);
        int64_t b0, b1;
        slm_split_range(m->k / ab, ith, nth, 1, &b0, &b1);
        if (b1 > b0) slm_x16_order_act(type, (uint8_t *)act + (size_t)b0 * bb, arb, 1, (b1 - b0) * ab);
    }
}

static void x16_multi_run(void *arg, int ith, int nth) {
    x16_multi_task *m = arg;
    for (int i = 0; i < m->n_items; i++) {
        bool shared = false; /* an earlier item quantized into the same buffer */
        for (int j = 0; j < i; j++) shared |= m->items[j].act == m->items[i].act;
        if (shared) continue;
        if (m->a8[i]) {
            int64_t b0, b1;
            slm_split_range(m->k / g_formats[format_index(m->items[i].type)].elems, ith, nth, 1, &b0, &b1);
            slm_x16_quantize_a8(m->kt, m->items[i].type, m->x, m->k, m->items[i].act, b0, b1);
        } else {
            x16_prepare_act(m, m->items[i].type, m->items[i].act, ith, nth);
        }
    }
    slm_threadpool_barrier(m->pool);
    const int64_t total = m->tile_end[m->n_items - 1];
    for (;;) {
        int64_t cur = atomic_load_explicit(&m->next_tile, memory_order_relaxed), n;
        int i;
        do { /* claim [cur, cur + n) */
            if (cur >= total) return;
            n = (total - cur + 2 * nth - 1) / (2 * nth);
            if (n < m->min_tiles) n = m->min_tiles;
            for (i = 0; cur >= m->tile_end[i]; i++) {}
            if (n > m->tile_end[i] - cur) n = m->tile_end[i] - cur;
        } while (!atomic_compare_exchange_weak_explicit(&m->next_tile, &cur, cur + n, memory_order_relaxed,
                                                        memory_order_relaxed));
        const slm_x16_item *it = &m->items[i];
        const int64_t first = i ? m->tile_end[i - 1] : 0, r0 = (cur - first) * X16;
        const int64_t r1 = r0 + n * X16 < it->n_rows ? r0 + n * X16 : it->n_rows;
        if (m->a8[i])
            m->kt->mm[it->type].tok1_a8_x16(m->k, (const uint8_t *)it->w + (size_t)r0 * it->row_bytes, it->row_bytes,
                                            r1 - r0, it->act, 0, 1, it->y + r0, it->ldy);
        else
            slm_matmul_rows16_x16(m->kt, it->type, it->w, it->row_bytes, it->act, m->n_tok, m->k, it->y, it->ldy, r0, r1);
    }
}

/* One pool run of the tiles of every item (x16_multi_run): 16-bit, or with a8 (one token) 8-bit
 * for each item whose type has the tile. */
static void x16_multi_start(const slm_kernels *kt, slm_threadpool *pool, const slm_x16_item *items, int n_items,
                            const float *x, int64_t ldx, int64_t n_tok, int64_t k, bool a8) {
    if (n_items <= 0 || n_items > SLM_X16_MULTI_MAX || n_tok <= 0) return;
    x16_multi_task m = {kt, pool, items, n_items, x, ldx, n_tok, k, {false}, 0, {0}, 0};
    for (int i = 0; i < n_items; i++) m.a8[i] = a8 && slm_x16_a8_usable(kt, items[i].type, items[i].n_rows, k);
    const int nth = slm_threadpool_n_threads(pool);
    for (int i = 0; i < n_items; i++) m.tile_end[i] = (i ? m.tile_end[i - 1] : 0) + (items[i].n_rows + X16 - 1) / X16;
    const int64_t tiles = m.tile_end[n_items - 1];
    if (tiles == 0) return;
    /* one thread: one chunk per matrix; prompts: at least the cache blocking's row chunk (4 tiles) */
    m.min_tiles = nth == 1 ? tiles : n_tok > 1 ? 4 : 1;
    slm_threadpool_run(pool, x16_multi_run, &m);
}

void slm_matmul_x16_multi(const slm_kernels *kt, slm_threadpool *pool, const slm_x16_item *items, int n_items,
                          const float *x, int64_t ldx, int64_t n_tok, int64_t k) {
    x16_multi_start(kt, pool, items, n_items, x, ldx, n_tok, k, false);
}

/* ---- One token with 8-bit activations ------------------------------------------------------------ */

bool slm_x16_a8_usable(const slm_kernels *kt, uint32_t type, int64_t n_rows, int64_t k) {
    const int i = format_index(type);
    return i >= 0 && kt->mm[type].tok1_a8_x16 && (g_formats[i].unit == 4 || (type == SLM_DT_Q6_K && g_q6_bytes)) &&
           slm_x16_usable(kt, type, n_rows, k);
}

static size_t a8_block_bytes(uint32_t type) {
    return g_formats[format_index(type)].elems == 32 ? sizeof(block_a8_32) : sizeof(block_q8_K);
}

size_t slm_x16_a8_row_bytes(uint32_t type, int64_t k) {
    const int i = format_index(type);
    if (i < 0 || k <= 0 || k % g_formats[i].elems) return 0;
    return ((size_t)(k / g_formats[i].elems) * a8_block_bytes(type) + 63) & ~(size_t)63;
}

void slm_x16_quantize_a8(const slm_kernels *kt, uint32_t type, const float *x, int64_t k, void *act, int64_t b0,
                         int64_t b1) {
    (void)k;
    const int i = format_index(type);
    const x16_format *f = &g_formats[i];
    const uint8_t *perm = g_perm8[i];
    const int units = f->elems / 4;
    const slm_quant_act_fn quant = kt->mm[type].quant_act; /* Q8_0 or Q8_K, llama.cpp's bytes */
    for (int64_t b = b0; b < b1; b++) {
        const float *xb = x + b * f->elems;
        if (f->elems == 32) {
            block_q8_0 q;
            quant(xb, f->elems, 1, f->elems, &q, sizeof q);
            block_a8_32 *o = (block_a8_32 *)act + b;
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) sum += q.qs[j];
            for (int u = 0; u < units; u++) memcpy(o->qs + 4 * u, q.qs + 4 * perm[u], 4);
            o->d = slm_f16_to_f32(q.d);
            o->sum = sum;
        } else {
            block_q8_K *o = (block_q8_K *)act + b;
            quant(xb, f->elems, 1, f->elems, o, sizeof *o);
            int8_t tmp[256];
            memcpy(tmp, o->qs, sizeof tmp);
            for (int u = 0; u < units; u++) memcpy(o->qs + 4 * u, tmp + 4 * perm[u], 4);
        }
    }
}

void slm_matmul_x16_multi_a8(const slm_kernels *kt, slm_threadpool *pool, const slm_x16_item *items, int n_items,
                             const float *x, int64_t k) {
    x16_multi_start(kt, pool, items, n_items, x, k, 1, k, true);
}

void slm_matmul_x16(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t row_bytes,
                    int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k, void *act, float *y,
                    int64_t ldy) {
    const slm_x16_item item = {type, w, row_bytes, n_rows, y, ldy, act};
    slm_matmul_x16_multi(kt, pool, &item, 1, x, ldx, n_tok, k);
}
