/* AMX prompt tiles (kernels_x16_amx_impl.h) with the tile instructions: the SLM_ISA_AMX table
 * (Sapphire Rapids and later Xeons), chosen only where the CPU has AMX-TILE + AMX-INT8, the OS
 * enables the tile state and grants this process its use (kernels.c: cpu_has_amx). */
#include "kernels/kernels_x16_amx_impl.h"

void kernels_fill_x16_amx(slm_kernels *kt) { amx_fill(kt); }
