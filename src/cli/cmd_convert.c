/* slm convert HF_DIR OUT.gguf [--type T] [-t N] [-q] */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "cli/convert_progress.h"

static const char k_help[] =
    "usage: slm convert HF_DIR OUT.gguf [--type TYPE] [-t N] [-q]\n\n"
    "Convert a Hugging Face model folder (config.json, *.safetensors, tokenizer.json) to a GGUF file\n"
    "with llama.cpp's metadata keys, tensor names and tokenizer, so llama.cpp runs it too.\n\n"
    "options:\n"
    "  --type TYPE  f32, f16 (default), bf16, q8_0, q4_k_m, ... (see 'slm quantize --help')\n"
    "  -t N         threads (default: physical cores)\n"
    "  -q           no progress output\n";

int cmd_convert(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    const char *pos[2] = {0}, *type = "f16";
    int n_pos = 0, n_threads = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            type = argv[++i];
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 256) return cli_usage_error("convert", "bad thread count '%s'", argv[i]);
            n_threads = (int)v;
        } else if (!strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("convert", "unknown option '%s'", argv[i]);
        } else if (n_pos < 2) {
            pos[n_pos++] = argv[i];
        } else {
            return cli_usage_error("convert", "too many arguments");
        }
    }
    if (n_pos != 2) return cli_usage_error("convert", "expected HF_DIR OUT.gguf");
    if (!slm_path_is_dir(pos[0])) return cli_usage_error("convert", "'%s' is not a Hugging Face model folder", pos[0]);
    return cli_convert_main("convert", pos[0], pos[1], type, n_threads, quiet);
}
