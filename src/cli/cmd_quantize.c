/* slm quantize IN OUT TYPE [-t N] [-q] */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/convert_progress.h"

static const char k_help[] =
    "usage: slm quantize IN OUT TYPE [-t N] [-q]\n\n"
    "Quantize a model (a .gguf file, or a Hugging Face folder) into a GGUF file of another type,\n"
    "with llama.cpp's per-tensor type mix (e.g. Q4_K_M keeps the output matrix and some attn_v /\n"
    "ffn_down layers at Q6_K). Tensors are dequantized exactly, then quantized with slm's reference\n"
    "quantizers; norms and other vectors keep their type.\n\n"
    "TYPE: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s,\n"
    "      q4_k_m, q5_k_s, q5_k_m, q6_k, iq4_nl, iq4_xs\n\n"
    "options:\n"
    "  -t N   threads (default: physical cores)\n"
    "  -q     no progress output\n";

int cmd_quantize(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    const char *pos[3] = {0};
    int n_pos = 0, n_threads = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 256) return cli_usage_error("quantize", "bad thread count '%s'", argv[i]);
            n_threads = (int)v;
        } else if (!strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("quantize", "unknown option '%s'", argv[i]);
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[i];
        } else {
            return cli_usage_error("quantize", "too many arguments");
        }
    }
    if (n_pos != 3) return cli_usage_error("quantize", "expected IN OUT TYPE");
    return cli_convert_main("quantize", pos[0], pos[1], pos[2], n_threads, quiet);
}
