/* AVX2 gemm16 tiles over 16-row interleaved weights (layouts: kernels_x16.c). */
#include <immintrin.h>

#include "kernels/kernels_internal.h"

void kernels_fill_x16_avx2(slm_kernels *kt) { (void)kt; }
