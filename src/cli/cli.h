/* The slm command-line tool: one file per subcommand, each `int cmd_NAME(int argc, char **argv)`
 * where argv[0] is the subcommand name. Returns the process exit code: 0 success, 1 runtime
 * failure (bad model file, ...), 2 usage error. Only the CLI prints. */
#ifndef SLM_CLI_H
#define SLM_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "slm.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Print "slm: <what>: <message>" to stderr and return CLI_EXIT_FAIL. */
int cli_fail(const char *what, const slm_error *err);
/* Print "slm CMD: <message>" + "see 'slm CMD --help'" to stderr and return CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* MODEL argument -> a path the loaders take: paths pass through, store names ("llama3.2:1b",
 * "hf.co/OWNER/REPO:Q4_K_M") resolve to their blob. With pull_if_missing a name that is not in the
 * store yet is pulled first (as `ollama run` does). Returns NULL after printing an error; *exit_code
 * is then the code to return. The result lives in a static buffer (one model per command). */
const char *cli_model_path(const char *arg, bool pull_if_missing, int *exit_code);

/* --act VALUE: "16", "8" or "8x2" -> *out; false for anything else. */
bool cli_parse_activations(const char *s, slm_activations *out);
/* Help text of --act (one entry of an options list, two-space indent, 22-column values). */
#define CLI_ACT_HELP                                                                                   \
    "  --act 16|8|8x2        activation precision of quantized matmuls: 16 (default) 16-bit,\n"     \
    "                        ~100x closer to exact than llama.cpp; 8: llama.cpp's 8-bit\n"          \
    "                        (fastest); 8x2: 8-bit plus its residual\n"

/* True if argv holds -h or --help. */
bool cli_wants_help(int argc, char **argv);

/* Subcommands. Declared weak so that the table in main.c names every planned command while
 * each lives in its own file; a command whose file is not linked is simply not offered. */
#define CLI_COMMAND(name) int cmd_##name(int argc, char **argv) __attribute__((weak))
CLI_COMMAND(run);
CLI_COMMAND(show);
CLI_COMMAND(tokenize);
CLI_COMMAND(detokenize);
CLI_COMMAND(logits);
CLI_COMMAND(bench);
CLI_COMMAND(convert);
CLI_COMMAND(quantize);
CLI_COMMAND(template);
CLI_COMMAND(pull);
CLI_COMMAND(list);
CLI_COMMAND(rm);
CLI_COMMAND(cp);
CLI_COMMAND(create);
CLI_COMMAND(serve);
#undef CLI_COMMAND

#endif
