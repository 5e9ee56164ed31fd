/* The 32-element weight formats as the gemm16 files (kernels_a16_b32_avx2.c / _avx512.c) see
 * them: one kind per format, block sizes, where the codes, fifth bits and mins live. Plain C, no
 * intrinsics: included from files built with different -m flags. */
#ifndef SLM_KERNELS_A16_B32_H
#define SLM_KERNELS_A16_B32_H

#include <stdbool.h>
#include <stddef.h>

#include "quant/quant.h"

enum { B_Q4_0, B_Q4_1, B_Q5_0, B_Q5_1, B_Q8_0, B_IQ4_NL };

static const size_t b_block_size[] = {sizeof(block_q4_0), sizeof(block_q4_1), sizeof(block_q5_0),
                                      sizeof(block_q5_1), sizeof(block_q8_0), sizeof(block_iq4_nl)};

/* Q4_1 / Q5_1: w = d * code + m, so the activation sum takes an extra m term. */
static inline bool b_has_min(int kind) { return kind == B_Q4_1 || kind == B_Q5_1; }

/* Offset of the packed nibbles (qs) in a block of a nibble kind (all but Q8_0). */
static inline size_t b_qs_offset(int kind) {
    return kind == B_Q4_0   ? offsetof(block_q4_0, qs)
           : kind == B_Q4_1 ? offsetof(block_q4_1, qs)
           : kind == B_Q5_0 ? offsetof(block_q5_0, qs)
           : kind == B_Q5_1 ? offsetof(block_q5_1, qs)
                            : offsetof(block_iq4_nl, qs);
}

/* Offsets of the fifth bits (Q5_0 / Q5_1) and of the min (Q4_1 / Q5_1). The scale d is the first
 * member of every block. */
static inline size_t b_qh_offset(int kind) { return kind == B_Q5_0 ? offsetof(block_q5_0, qh) : offsetof(block_q5_1, qh); }
static inline size_t b_m_offset(int kind) { return kind == B_Q4_1 ? offsetof(block_q4_1, m) : offsetof(block_q5_1, m); }

#endif
