/* AVX-512 gemm16 tiles for the 32-element types (16-bit activations, kernels.h). (Being written.) */
#include "kernels/kernels_internal.h"

void kernels_fill_a16_avx512(slm_kernels *kt) { (void)kt; }
