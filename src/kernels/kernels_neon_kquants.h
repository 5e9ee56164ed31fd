/* NEON K-quant (Q2_K Q3_K Q4_K Q5_K Q6_K) and IQ4_XS tiles against Q8_K activations. Part of
 * kernels_neon_impl.h (include only from there: it needs that file's neon_dot_i8).
 *
 * Per super-block (256 values) each row's scales are decoded once (nkq_prologue) into one int32
 * multiplier per 16-value group (32-value types repeat theirs) and, for the min-carrying types,
 * one min per 16-value group. Each 32-value chunk of codes is decoded once into two int8x16
 * (signed, offsets applied) and used for every token of the tile; the group dot products are
 * scaled in int32 (exact), then one float fma per (super-block, row, token) applies
 * d * d_act, and the min term dmin * d_act * sum(mn * bsums) is subtracted in a scalar. */
#ifndef SLM_KERNELS_NEON_KQUANTS_H
#define SLM_KERNELS_NEON_KQUANTS_H

enum { NKQ_Q2_K, NKQ_Q3_K, NKQ_Q4_K, NKQ_Q5_K, NKQ_Q6_K, NKQ_IQ4_XS };

static const size_t nkq_block_size[] = {sizeof(block_q2_K), sizeof(block_q3_K), sizeof(block_q4_K),
                                        sizeof(block_q5_K), sizeof(block_q6_K), sizeof(block_iq4_xs)};

NEON_INLINE int nkq_has_min(int kind) { return kind == NKQ_Q2_K || kind == NKQ_Q4_K || kind == NKQ_Q5_K; }
/* Types whose scales change every 16 values (the others every 32). */
NEON_INLINE int nkq_groups16(int kind) { return kind == NKQ_Q2_K || kind == NKQ_Q3_K || kind == NKQ_Q6_K; }

typedef struct nkq_block {
    const uint8_t *p;
    int32_t sc[16]; /* multiplier of 16-value group g (signed, offsets removed) */
    int16_t mn[16]; /* min of group g (min-carrying types only) */
    float d, dmin;
} nkq_block;

NEON_INLINE void nkq_prologue(int kind, const uint8_t *blk, nkq_block *st) {
    st->p = blk;
    st->dmin = 0.0f;
    switch (kind) {
    case NKQ_Q4_K:
    case NKQ_Q5_K: {
        const block_q4_K *x = (const block_q4_K *)blk; /* d, dmin, scales: same offsets in Q5_K */
        const uint8_t *q = x->scales;
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            if (j < 4) {
                sc = q[j] & 63;
                mn = q[j + 4] & 63;
            } else {
                sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
                mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
            }
            st->sc[2 * j] = st->sc[2 * j + 1] = sc;
            st->mn[2 * j] = st->mn[2 * j + 1] = (int16_t)mn;
        }
        st->d = neon_f16(x->d);
        st->dmin = neon_f16(x->dmin);
        break;
    }
    case NKQ_Q2_K: {
        const block_q2_K *x = (const block_q2_K *)blk;
        for (int s = 0; s < 16; s++) {
            st->sc[s] = x->scales[s] & 0xF;
            st->mn[s] = (int16_t)(x->scales[s] >> 4);
        }
        st->d = neon_f16(x->d);
        st->dmin = neon_f16(x->dmin);
        break;
    }
    case NKQ_Q3_K: {
        const block_q3_K *x = (const block_q3_K *)blk;
        for (int s = 0; s < 16; s++) {
            int lo = s < 8 ? (x->scales[s] & 0xF) : (x->scales[s - 8] >> 4);
            int hi = (x->scales[8 + s % 4] >> (2 * (s / 4))) & 3;
            st->sc[s] = (lo | hi << 4) - 32;
        }
        st->d = neon_f16(x->d);
        break;
    }
    case NKQ_Q6_K: {
        const block_q6_K *x = (const block_q6_K *)blk;
        for (int s = 0; s < 16; s++)
            st->sc[s] = x->scales[s];
        st->d = neon_f16(x->d);
        break;
    }
    default: { /* NKQ_IQ4_XS: 6-bit scale j = nibble j of scales_l | 2 bits 2j of scales_h, -32 */
        const block_iq4_xs *x = (const block_iq4_xs *)blk;
        for (int j = 0; j < 8; j++) {
            int ls = ((x->scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | ((x->scales_h >> (2 * j)) & 3) << 4;
            st->sc[2 * j] = st->sc[2 * j + 1] = ls - 32;
        }
        st->d = neon_f16(x->d);
        break;
    }
    }
}

/* Bits `shift`.. of every byte (shift 0..7; vshlq by a negative count shifts right, so the count
 * need not be an immediate). */
NEON_INLINE uint8x16_t nkq_shr(uint8x16_t v, int shift) { return vshlq_u8(v, vdupq_n_s8((int8_t)-shift)); }

/* Signed codes of values 32c .. 32c+15 (*q0) and 32c+16 .. 32c+31 (*q1) of a block. */
NEON_INLINE void nkq_chunk(int kind, const nkq_block *st, int c, int8x16_t *q0, int8x16_t *q1) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(3);
    const int h = c / 4, j = c % 4;
    switch (kind) {
    case NKQ_Q4_K:
    case NKQ_Q5_K: {
        const uint8_t *qs = kind == NKQ_Q5_K ? ((const block_q5_K *)st->p)->qs : ((const block_q4_K *)st->p)->qs;
        const uint8_t *base = qs + 32 * (c / 2);
        uint8x16_t a = nkq_shr(vld1q_u8(base), 4 * (c % 2)), b = nkq_shr(vld1q_u8(base + 16), 4 * (c % 2));
        a = vandq_u8(a, m4);
        b = vandq_u8(b, m4);
        if (kind == NKQ_Q5_K) { /* fifth bit: bit c of qh[l] */
            const block_q5_K *x = (const block_q5_K *)st->p;
            const uint8x16_t b4 = vdupq_n_u8(0x10);
            const int8x16_t sh = vdupq_n_s8((int8_t)(4 - c));
            a = vorrq_u8(a, vandq_u8(vshlq_u8(vld1q_u8(x->qh), sh), b4));
            b = vorrq_u8(b, vandq_u8(vshlq_u8(vld1q_u8(x->qh + 16), sh), b4));
        }
        *q0 = vreinterpretq_s8_u8(a);
        *q1 = vreinterpretq_s8_u8(b);
        break;
    }
    case NKQ_Q6_K: {
        /* Value 128h + 32j + l: nibble (j < 2 low, else high) of ql[64h + 32(j%2) + l], bits 2j of
         * qh[32h + l] on top; minus 32. */
        const block_q6_K *x = (const block_q6_K *)st->p;
        const uint8_t *ql = x->ql + 64 * h + 32 * (j % 2), *qh = x->qh + 32 * h;
        const int ls = j < 2 ? 0 : 4;
        const uint8x16_t m30 = vdupq_n_u8(0x30);
        const int8x16_t hs = vdupq_n_s8((int8_t)(4 - 2 * j));
        const uint8x16_t a = vorrq_u8(vandq_u8(nkq_shr(vld1q_u8(ql), ls), m4), vandq_u8(vshlq_u8(vld1q_u8(qh), hs), m30));
        const uint8x16_t b =
            vorrq_u8(vandq_u8(nkq_shr(vld1q_u8(ql + 16), ls), m4), vandq_u8(vshlq_u8(vld1q_u8(qh + 16), hs), m30));
        *q0 = vsubq_s8(vreinterpretq_s8_u8(a), vdupq_n_s8(32));
        *q1 = vsubq_s8(vreinterpretq_s8_u8(b), vdupq_n_s8(32));
        break;
    }
    case NKQ_Q3_K:
    case NKQ_Q2_K: {
        /* Value 128h + 32j + l: bits 2j of qs[32h + l]; Q3_K adds bit 4h + j of hmask[l] as bit 2
         * and subtracts 4. */
        const uint8_t *qs = (kind == NKQ_Q3_K ? ((const block_q3_K *)st->p)->qs : ((const block_q2_K *)st->p)->qs) +
                            32 * h;
        uint8x16_t a = vandq_u8(nkq_shr(vld1q_u8(qs), 2 * j), m3);
        uint8x16_t b = vandq_u8(nkq_shr(vld1q_u8(qs + 16), 2 * j), m3);
        if (kind == NKQ_Q3_K) {
            const block_q3_K *x = (const block_q3_K *)st->p;
            const int8x16_t sh = vdupq_n_s8((int8_t)(2 - (4 * h + j)));
            const uint8x16_t b2 = vdupq_n_u8(4);
            a = vorrq_u8(a, vandq_u8(vshlq_u8(vld1q_u8(x->hmask), sh), b2));
            b = vorrq_u8(b, vandq_u8(vshlq_u8(vld1q_u8(x->hmask + 16), sh), b2));
            *q0 = vsubq_s8(vreinterpretq_s8_u8(a), vdupq_n_s8(4));
            *q1 = vsubq_s8(vreinterpretq_s8_u8(b), vdupq_n_s8(4));
        } else {
            *q0 = vreinterpretq_s8_u8(a);
            *q1 = vreinterpretq_s8_u8(b);
        }
        break;
    }
    default: { /* NKQ_IQ4_XS: values 32c + l: low nibbles of qs[16c + l], then the high nibbles */
        const block_iq4_xs *x = (const block_iq4_xs *)st->p;
        const uint8x16_t raw = vld1q_u8(x->qs + 16 * c);
        const int8x16_t tab = vld1q_s8(kvalues_iq4nl);
        *q0 = vqtbl1q_s8(tab, vandq_u8(raw, m4));
        *q1 = vqtbl1q_s8(tab, vshrq_n_u8(raw, 4));
        break;
    }
    }
}

/* sum_g mn[g] * bsums[g] over the 16 groups of an activation block. */
NEON_INLINE int32_t nkq_min_sum(const nkq_block *st, const block_q8_K *a) {
    const int16x8_t m0 = vld1q_s16(st->mn), m1 = vld1q_s16(st->mn + 8);
    const int16x8_t b0 = vld1q_s16(a->bsums), b1 = vld1q_s16(a->bsums + 8);
    int32x4_t s = vmull_s16(vget_low_s16(m0), vget_low_s16(b0));
    s = vmlal_high_s16(s, m0, b0);
    s = vmlal_s16(s, vget_low_s16(m1), vget_low_s16(b1));
    s = vmlal_high_s16(s, m1, b1);
    return vaddvq_s32(s);
}

/* R rows (<= 2) x T tokens (<= 4) over all nb super-blocks. */
NEON_INLINE void nkq_tile(int kind, int R, int T, int64_t nb, const uint8_t *w, size_t wrb, const uint8_t *act,
                          size_t arb, float *y, int64_t ldy) {
    float32x4_t acc[2][4];
    float accm[2][4];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            acc[r][t] = vdupq_n_f32(0.0f);
            accm[r][t] = 0.0f;
        }
    for (int64_t b = 0; b < nb; b++) {
        nkq_block st[2];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++)
            nkq_prologue(kind, w + (size_t)r * wrb + (size_t)b * nkq_block_size[kind], &st[r]);
        int32x4_t isum[2][4];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                isum[r][t] = vdupq_n_s32(0);
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            int8x16_t q0[2], q1[2];
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
                nkq_chunk(kind, &st[r], c, &q0[r], &q1[r]);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)t * arb) + b;
                const int8x16_t a0 = vld1q_s8(a->qs + 32 * c), a1 = vld1q_s8(a->qs + 32 * c + 16);
#pragma GCC unroll 2
                for (int r = 0; r < R; r++) {
                    const int32x4_t z = vdupq_n_s32(0);
                    if (nkq_groups16(kind)) {
                        isum[r][t] = vmlaq_n_s32(isum[r][t], neon_dot_i8(z, q0[r], a0), st[r].sc[2 * c]);
                        isum[r][t] = vmlaq_n_s32(isum[r][t], neon_dot_i8(z, q1[r], a1), st[r].sc[2 * c + 1]);
                    } else {
                        const int32x4_t p = neon_dot_i8(neon_dot_i8(z, q0[r], a0), q1[r], a1);
                        isum[r][t] = vmlaq_n_s32(isum[r][t], p, st[r].sc[2 * c]);
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)t * arb) + b;
#pragma GCC unroll 2
            for (int r = 0; r < R; r++) {
                acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(isum[r][t]), st[r].d * a->d);
                if (nkq_has_min(kind)) accm[r][t] -= (st[r].dmin * a->d) * (float)nkq_min_sum(&st[r], a);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = vaddvq_f32(acc[r][t]) + accm[r][t];
}

/* Tiles: 2 rows x 4 tokens while 4 tokens remain, then one row x one token. */
NEON_INLINE void nkq_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr, const void *vact, size_t arb,
                          int64_t nt, float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) {
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2)
            nkq_tile(kind, 2, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            nkq_tile(kind, 1, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            nkq_tile(kind, 1, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
}

#define NKQ_DEF(kind)                                                                                             \
    static void neon_gemm_kq_##kind(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, \
                                    int64_t nt, float *y, int64_t ldy) {                                         \
        nkq_gemm(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                        \
    }
NKQ_DEF(NKQ_Q2_K)
NKQ_DEF(NKQ_Q3_K)
NKQ_DEF(NKQ_Q4_K)
NKQ_DEF(NKQ_Q5_K)
NKQ_DEF(NKQ_Q6_K)
NKQ_DEF(NKQ_IQ4_XS)
#undef NKQ_DEF

#endif
