/* slm bench: prompt-processing and generation speed, measured like llama-bench.
 *
 * Two tests per thread count: ppP (P random tokens in one decode call, logits of the last one)
 * and tgN (N decode calls of one token each), each after DEPTH tokens already in the KV cache
 * (filled once per thread count, untimed, and cut back to DEPTH tokens before each run, as
 * llama-bench restores its saved depth state), repeated REPS times after one warm-up run. Prints
 * a markdown table, or with --json an array with every field of llama-bench's `-o json` objects
 * (n_prompt, n_gen, n_depth, n_threads, avg_ts, stddev_ts, samples_ns, samples_ts, ...), so
 * existing llama-bench tooling reads it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "model/loader.h"

#define BENCH_MAX_REPS 1000
#define BENCH_MAX_THREADS_LIST 16

typedef struct bench_opts {
    const char *model_path;
    long n_prompt, n_gen, reps, depth, ubatch;
    int threads[BENCH_MAX_THREADS_LIST];
    int n_threads_list;
    slm_kv_type kv;
    bool json;
    slm_activations act;
} bench_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: slm bench MODEL [options]\n\n"
            "Measure prompt processing (pp) and generation (tg) speed in tokens/s.\n\n"
            "options:\n"
            "  -p N            prompt tokens of the pp test (default 512; 0 skips it)\n"
            "  -n N            generated tokens of the tg test (default 128; 0 skips it)\n"
            "  -d N            tokens already in the KV cache before each test (default 0)\n"
            "  -r N            repetitions (default 5)\n"
            "  -t N[,N...]     threads, one result per count (default: physical cores)\n"
            "  -ub N           tokens per forward pass (default 512)\n"
            "  --kv TYPE       KV cache type: f16 (default), f32, q8_0\n"
            "  --act MODE      activation precision: auto (default: 16-bit, llama.cpp's 8-bit for\n"
            "                  one-token steps of Q4_0/Q5_0/Q4_K/Q6_K/IQ4_XS), 16 (16-bit everywhere), 8\n"
            "                  (llama.cpp's 8-bit), 8x2 (8-bit plus its residual)\n"
            "  --json          print a JSON array (llama-bench -o json fields)\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t g_seed = 42;
static int32_t rand_token(int64_t n_vocab) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return (int32_t)((g_seed >> 4) % (uint64_t)n_vocab);
}

/* Bring the cache to exactly `depth` tokens of sequence 0 (untimed). The first call on a context
 * decodes `depth` random tokens; later calls only drop what the previous run appended, which
 * leaves the same cache contents, as llama-bench restores its saved depth state instead of
 * re-processing the depth prompt before every repetition (a 4096-token refill per repetition
 * would cost far more than the timed test itself). */
static slm_status prefill(slm_context *c, slm_batch_entry *b, long depth, bool *filled, slm_error *err) {
    if (depth > 0 && *filled) {
        slm_seq_remove(c, -1, (int32_t)depth, -1);
        return SLM_OK;
    }
    slm_seq_remove(c, -1, 0, -1);
    if (depth <= 0) return SLM_OK;
    const int64_t V = slm_context_n_vocab(c);
    for (long i = 0; i < depth; i++) b[i] = (slm_batch_entry){rand_token(V), (int32_t)i, 0, i == depth - 1};
    const slm_status st = slm_decode(c, b, (int32_t)depth, err);
    *filled = st == SLM_OK;
    return st;
}

/* One timed run: n_prompt tokens at once, or n_gen single-token decodes, after `depth` tokens.
 * Returns seconds, < 0 on error. */
static double run_once(slm_context *c, slm_batch_entry *b, const bench_opts *o, long n_prompt, long n_gen,
                       bool *filled, slm_error *err) {
    if (prefill(c, b, o->depth, filled, err) != SLM_OK) return -1;
    const int64_t V = slm_context_n_vocab(c);
    const double t0 = now_s();
    if (n_prompt > 0) {
        for (long i = 0; i < n_prompt; i++)
            b[i] = (slm_batch_entry){rand_token(V), (int32_t)(o->depth + i), 0, i == n_prompt - 1};
        if (slm_decode(c, b, (int32_t)n_prompt, err) != SLM_OK) return -1;
    }
    for (long i = 0; i < n_gen; i++) {
        slm_batch_entry e = {rand_token(V), (int32_t)(o->depth + i), 0, true};
        if (slm_decode(c, &e, 1, err) != SLM_OK) return -1;
    }
    return now_s() - t0;
}

static const char *kv_name(slm_kv_type t) { return t == SLM_KV_F32 ? "f32" : t == SLM_KV_Q8_0 ? "q8_0" : "f16"; }

static void print_json_array(const double *v, long n, double scale, bool integers) {
    putchar('[');
    for (long i = 0; i < n; i++) printf(integers ? "%s%.0f" : "%s%.6f", i ? ", " : "", v[i] * scale);
    putchar(']');
}

/* A JSON string value (quotes, backslashes and control bytes escaped). */
static void print_json_str(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

/* The CPU's model name (/proc/cpuinfo), as llama-bench's cpu_info; "" where unknown. */
static void cpu_model_name(char *out, size_t cap) {
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        snprintf(out, cap, "%s", colon);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

/* Print one result: JSON object or table row. secs: reps timings. */
static void report(const bench_opts *o, const slm_model *m, int threads, long n_prompt, long n_gen,
                   const double *secs, bool first) {
    const long n_tok = n_prompt + n_gen, R = o->reps;
    double ts[BENCH_MAX_REPS], avg_ts = 0, avg_ns = 0, sd_ts = 0, sd_ns = 0;
    for (long i = 0; i < R; i++) {
        ts[i] = (double)n_tok / secs[i];
        avg_ts += ts[i] / (double)R;
        avg_ns += secs[i] * 1e9 / (double)R;
    }
    for (long i = 0; i < R && R > 1; i++) {
        sd_ts += (ts[i] - avg_ts) * (ts[i] - avg_ts) / (double)(R - 1);
        sd_ns += (secs[i] * 1e9 - avg_ns) * (secs[i] * 1e9 - avg_ns) / (double)(R - 1);
    }
    sd_ts = sqrt(sd_ts);
    sd_ns = sqrt(sd_ns);
    const slm_hparams *hp = &m->hp;
    if (o->json) {
        /* Every field of llama-bench's `-o json` object, in its order and JSON types; the ones
         * about GPUs and offloading carry llama-bench's CPU-only values. flash_attn is true:
         * slm's attention is always the fused one-pass (online softmax) kind. */
        time_t now = time(NULL);
        char when[32], cpu[256], model_type[256];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        cpu_model_name(cpu, sizeof cpu);
        snprintf(model_type, sizeof model_type, "%s %s", hp->arch_name, hp->name);
        printf("%s\n  {\n", first ? "" : ",");
        printf("    \"build_commit\": \"slm-%s\",\n    \"build_number\": 0,\n    \"cpu_info\": ", slm_version());
        print_json_str(cpu);
        printf(",\n    \"gpu_info\": \"\",\n    \"backends\": \"CPU\",\n    \"model_filename\": ");
        print_json_str(o->model_path);
        printf(",\n    \"model_type\": ");
        print_json_str(model_type);
        printf(",\n    \"model_size\": %llu,\n    \"model_n_params\": %llu,\n", (unsigned long long)m->file_bytes,
               (unsigned long long)slm_model_n_params(m));
        printf("    \"n_batch\": %ld,\n    \"n_ubatch\": %ld,\n    \"n_threads\": %d,\n", o->ubatch, o->ubatch, threads);
        printf("    \"cpu_mask\": \"0x0\",\n    \"cpu_strict\": false,\n    \"poll\": 50,\n");
        printf("    \"type_k\": \"%s\",\n    \"type_v\": \"%s\",\n", kv_name(o->kv), kv_name(o->kv));
        printf("    \"n_gpu_layers\": 0,\n    \"n_cpu_moe\": 0,\n    \"split_mode\": \"layer\",\n    \"main_gpu\": 0,\n");
        printf("    \"no_kv_offload\": false,\n    \"flash_attn\": true,\n    \"devices\": \"auto\",\n");
        printf("    \"tensor_split\": \"0.00\",\n    \"tensor_buft_overrides\": \"none\",\n    \"use_mmap\": true,\n");
        printf("    \"embeddings\": false,\n    \"no_op_offload\": 0,\n    \"no_host\": false,\n");
        printf("    \"n_prompt\": %ld,\n    \"n_gen\": %ld,\n    \"n_depth\": %ld,\n", n_prompt, n_gen, o->depth);
        printf("    \"test_time\": \"%s\",\n", when);
        printf("    \"avg_ns\": %.0f,\n    \"stddev_ns\": %.0f,\n", avg_ns, sd_ns);
        printf("    \"avg_ts\": %.6f,\n    \"stddev_ts\": %.6f,\n", avg_ts, sd_ts);
        printf("    \"samples_ns\": ");
        print_json_array(secs, R, 1e9, true);
        printf(",\n    \"samples_ts\": ");
        print_json_array(ts, R, 1.0, false);
        printf("\n  }");
    } else {
        char test[64];
        if (n_prompt > 0) snprintf(test, sizeof test, "pp%ld", n_prompt);
        else snprintf(test, sizeof test, "tg%ld", n_gen);
        if (o->depth > 0) snprintf(test + strlen(test), sizeof test - strlen(test), " @ d%ld", o->depth);
        printf("| %-24.24s | %8.2f MiB | %8.2f M | %7d | %-14s | %9.2f ± %.2f |\n",
               hp->name[0] ? hp->name : hp->arch_name, (double)m->file_bytes / (1024.0 * 1024.0),
               (double)slm_model_n_params(m) / 1e6, threads, test, avg_ts, sd_ts);
    }
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.n_prompt = 512, .n_gen = 128, .reps = 5, .depth = 0, .ubatch = 512, .kv = SLM_KV_F16};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool v = i + 1 < argc;
        if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--precise")) { /* older spelling of --act 16 (now the default) */
            o->act = SLM_ACT_16;
        } else if (!strcmp(a, "--act") && v) {
            if (!cli_parse_activations(argv[++i], &o->act)) return cli_usage_error("bench", "bad --act (auto, 16, 8 or 8x2)");
        } else if (!strcmp(a, "-p") && v) {
            if (!parse_long(argv[++i], 0, 1L << 20, &o->n_prompt)) return cli_usage_error("bench", "bad -p");
        } else if (!strcmp(a, "-n") && v) {
            if (!parse_long(argv[++i], 0, 1L << 20, &o->n_gen)) return cli_usage_error("bench", "bad -n");
        } else if (!strcmp(a, "-r") && v) {
            if (!parse_long(argv[++i], 1, BENCH_MAX_REPS, &o->reps)) return cli_usage_error("bench", "bad -r");
        } else if (!strcmp(a, "-d") && v) {
            if (!parse_long(argv[++i], 0, 1L << 20, &o->depth)) return cli_usage_error("bench", "bad -d");
        } else if (!strcmp(a, "-ub") && v) {
            if (!parse_long(argv[++i], 1, 4096, &o->ubatch)) return cli_usage_error("bench", "bad -ub");
        } else if (!strcmp(a, "--kv") && v) {
            const char *t = argv[++i];
            if (!strcmp(t, "f16")) o->kv = SLM_KV_F16;
            else if (!strcmp(t, "f32")) o->kv = SLM_KV_F32;
            else if (!strcmp(t, "q8_0")) o->kv = SLM_KV_Q8_0;
            else return cli_usage_error("bench", "unknown --kv type '%s'", t);
        } else if (!strcmp(a, "-t") && v) {
            char *s = argv[++i];
            o->n_threads_list = 0;
            for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
                long t;
                if (o->n_threads_list == BENCH_MAX_THREADS_LIST || !parse_long(tok, 1, 256, &t))
                    return cli_usage_error("bench", "bad -t list");
                o->threads[o->n_threads_list++] = (int)t;
            }
        } else if (a[0] == '-') {
            return cli_usage_error("bench", "unknown option or missing value: %s", a);
        } else if (!o->model_path) {
            o->model_path = a;
        } else {
            return cli_usage_error("bench", "unexpected argument '%s'", a);
        }
    }
    if (!o->model_path) return cli_usage_error("bench", "no model given");
    int prc;
    if (!(o->model_path = cli_model_path(o->model_path, false, &prc))) return prc;
    if (o->n_prompt == 0 && o->n_gen == 0) return cli_usage_error("bench", "-p and -n are both 0: nothing to run");
    if (o->n_threads_list == 0) o->threads[o->n_threads_list++] = 0;
    return CLI_EXIT_OK;
}

int cmd_bench(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    slm_error err = {0};
    slm_model *m = NULL;
    if (slm_model_load(o.model_path, &m, &err) != SLM_OK) return cli_fail(o.model_path, &err);
    if ((o.act == SLM_ACT_16 || o.act == SLM_ACT_AUTO) && slm_model_prepare(m, 0, &err) != SLM_OK) {
        slm_model_free(m);
        return cli_fail(o.model_path, &err);
    }
    const long biggest = o.n_prompt > o.n_gen ? o.n_prompt : o.n_gen;
    const long n_ctx = o.depth + biggest;
    slm_batch_entry *b = malloc((size_t)(o.depth > o.n_prompt ? o.depth : o.n_prompt) * sizeof *b + sizeof *b);
    double *secs = malloc((size_t)o.reps * sizeof *secs);
    rc = CLI_EXIT_FAIL;
    if (!b || !secs) {
        fprintf(stderr, "slm bench: out of memory\n");
        goto done;
    }
    if (o.json) printf("[");
    else printf("| %-24s | %12s | %10s | %7s | %-14s | %20s |\n|%s|%s|%s|%s|%s|%s|\n", "model", "size", "params",
                "threads", "test", "t/s", "--------------------------", "--------------", "------------",
                "--------:", "----------------", "---------------------:");
    bool first = true;
    for (int ti = 0; ti < o.n_threads_list; ti++) {
        slm_context_params p = slm_context_default_params();
        p.n_ctx = (int32_t)(n_ctx > 0 ? n_ctx : 1);
        p.n_ubatch = (int32_t)o.ubatch;
        p.n_threads = o.threads[ti];
        p.kv_type = o.kv;
        p.activations = o.act;
        slm_context *c = NULL;
        if (slm_context_new(m, &p, &c, &err) != SLM_OK) {
            rc = cli_fail("context", &err);
            goto done;
        }
        const int threads = o.threads[ti] > 0 ? o.threads[ti] : slm_context_n_threads(c);
        bool filled = false; /* the depth tokens are in this context's cache */
        for (int test = 0; test < 2; test++) {
            const long np = test == 0 ? o.n_prompt : 0, ng = test == 1 ? o.n_gen : 0;
            if (np + ng == 0) continue;
            /* warm-up: pages the weights in and spins the threads up */
            if (run_once(c, b, &o, np > 0 ? (np < 16 ? np : 16) : 0, ng > 0 ? 1 : 0, &filled, &err) < 0) {
                slm_context_free(c);
                rc = cli_fail("warm-up", &err);
                goto done;
            }
            for (long r = 0; r < o.reps; r++) {
                secs[r] = run_once(c, b, &o, np, ng, &filled, &err);
                if (secs[r] < 0) {
                    slm_context_free(c);
                    rc = cli_fail("bench", &err);
                    goto done;
                }
                if (secs[r] <= 0) secs[r] = 1e-9;
            }
            report(&o, m, threads, np, ng, secs, first);
            first = false;
            fflush(stdout);
        }
        slm_context_free(c);
    }
    if (o.json) printf("\n]\n");
    rc = CLI_EXIT_OK;
done:
    free(b);
    free(secs);
    slm_model_free(m);
    return rc;
}
