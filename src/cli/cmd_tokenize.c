/* slm tokenize MODEL [--add-special] [--no-parse-special]: UTF-8 text on stdin -> JSON array of ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cli/cli.h"
#include "tokenizer/tokenizer.h"

static const char k_help[] =
    "usage: slm tokenize MODEL [--add-special] [--no-parse-special]\n\n"
    "Read UTF-8 text from stdin and print its token ids as one JSON array on one line.\n"
    "MODEL is a .gguf file, a Hugging Face folder (with tokenizer.json) or a tokenizer.json.\n\n"
    "options:\n"
    "  --add-special        add BOS/EOS as the model's post-processor does\n"
    "                       (HF add_special_tokens=True; default: add nothing)\n"
    "  --no-parse-special   treat control-token text such as <|im_start|> as plain text\n"
    "                       (default: such text becomes the control token, like HF)\n\n"
    "Invalid UTF-8 input is an error (exit status 1).\n";

/* Read all of stdin (at most SLM_TOKENIZE_MAX_BYTES) into a malloc'd buffer. */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= SLM_TOKENIZE_MAX_BYTES) { free(buf); return NULL; }
            char *p = realloc(buf, cap * 2);
            if (!p) { free(buf); return NULL; }
            buf = p;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, stdin);
        n += r;
        if (r == 0) break;
    }
    if (ferror(stdin)) { free(buf); return NULL; }
    *len = n;
    return buf;
}

int cmd_tokenize(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    const char *model = NULL;
    slm_tokenize_flags fl = {false, true};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--add-special")) fl.add_special = true;
        else if (!strcmp(argv[i], "--no-parse-special")) fl.parse_special = false;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
        else if (!model) model = argv[i];
        else return cli_usage_error("tokenize", "more than one MODEL given");
    }
    if (!model) return cli_usage_error("tokenize", "missing MODEL");
    slm_error err = {0};
    slm_tokenizer *tok;
    if (slm_tokenizer_load_path(model, &tok, &err)) return cli_fail("tokenize", &err);
    size_t len = 0;
    char *text = read_stdin(&len);
    if (!text) {
        slm_tokenizer_free(tok);
        slm_fail(&err, SLM_E_IO, "cannot read stdin (or it is larger than %zu bytes)", (size_t)SLM_TOKENIZE_MAX_BYTES);
        return cli_fail("tokenize", &err);
    }
    slm_tokens ids = {0};
    slm_status st = slm_tokenize(tok, text, len, fl, &ids, &err);
    free(text);
    slm_tokenizer_free(tok);
    if (st) {
        slm_tokens_free(&ids);
        return cli_fail("tokenize", &err);
    }
    putchar('[');
    for (size_t i = 0; i < ids.n; i++) printf(i ? ", %d" : "%d", ids.ids[i]);
    puts("]");
    slm_tokens_free(&ids);
    return CLI_EXIT_OK;
}
