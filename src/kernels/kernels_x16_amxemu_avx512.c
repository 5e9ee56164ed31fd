/* The AMX prompt tiles (kernels_x16_amx_impl.h) over a C model of the tile instructions: the
 * SLM_ISA_AMX_EMULATED table, never chosen by default, which lets the kernel and model tests run
 * the AMX code path's layouts, activation split and epilogue on any AVX-512 machine. Slow. */
#define AMX_EMULATE 1
#include "kernels/kernels_x16_amx_impl.h"

void kernels_fill_x16_amx_emulated(slm_kernels *kt) { amx_fill(kt); }
