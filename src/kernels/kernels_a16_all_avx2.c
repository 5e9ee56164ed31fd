/* AVX2 gemm16 tiles and a16 quantizers (16-bit activations, kernels.h). (Being written.) */
#include "kernels/kernels_internal.h"

void kernels_fill_a16_all_avx2(slm_kernels *kt) { (void)kt; }
