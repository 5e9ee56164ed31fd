/* AVX-512 gemm16 tiles for the K-quants and IQ4_XS (16-bit activations, kernels.h). (Being written.) */
#include "kernels/kernels_internal.h"

void kernels_fill_a16_kquants_avx512(slm_kernels *kt) { (void)kt; }
