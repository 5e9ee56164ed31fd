/* AVX2 gemm16 tiles (16-bit activations, kernels.h) and a16 quantizers. (Being written.) */
#include "kernels/kernels_internal.h"

void kernels_fill_a16_avx2(slm_kernels *kt) { (void)kt; }
