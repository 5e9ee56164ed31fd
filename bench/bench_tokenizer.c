/* Tokenizer throughput: bench_tokenizer TEXT_FILE TOKENIZER... (GGUF, HF folder or tokenizer.json).
 * Prints, per tokenizer, the load time and the best of 3 tokenizations of the whole file in MB/s.
 * Used by bench/tokenizer_bench.sh next to llama.cpp's tokenizer on the same text. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/file.h"
#include "tokenizer/tokenizer.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenizer TEXT_FILE TOKENIZER...\n");
        return 2;
    }
    char *text;
    size_t n;
    slm_error err = {0};
    if (slm_file_read_all(argv[1], (size_t)1 << 30, &text, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        slm_tokenizer *tok;
        double t0 = now_s();
        if (slm_tokenizer_load_path(argv[i], &tok, &err)) {
            fprintf(stderr, "%s: %s\n", argv[i], err.msg);
            continue;
        }
        double load = now_s() - t0, best = 1e30;
        slm_tokens ids = {0};
        for (int r = 0; r < 3; r++) {
            ids.n = 0;
            double a = now_s();
            slm_tokenize(tok, text, n, (slm_tokenize_flags){.add_special = false, .parse_special = true}, &ids, &err);
            double dt = now_s() - a;
            if (dt < best) best = dt;
        }
        printf("{\"engine\":\"slm\",\"tokenizer\":\"%s\",\"load_s\":%.3f,\"mb_per_s\":%.2f,\"tokens\":%zu}\n", argv[i],
               load, (double)n / 1e6 / best, ids.n);
        slm_tokens_free(&ids);
        slm_tokenizer_free(tok);
    }
    free(text);
    return 0;
}
