/* slm logits: raw logits of a model for given token ids, as one line of JSON (for tests and for
 * checking the engine against other implementations).
 *
 *   {"n_vocab":V,"positions":[{"ids":[K ids, descending logit],"logits":[K floats]}...],
 *    "greedy":[N ids]}
 *
 * The default is the production path `slm run` uses (kernels, f16 KV cache); --exact runs the
 * reference path (scalar dequantization, float32 math, f32 KV cache). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "model/loader.h"

#define LOGITS_MAX_IDS (1 << 20)

static void usage(FILE *f) {
    fprintf(f,
            "usage: slm logits MODEL --ids 1,2,3 [options]\n\n"
            "Print the raw logits after each input position as one JSON line:\n"
            "  {\"n_vocab\":V,\"positions\":[{\"ids\":[...],\"logits\":[...]}...],\"greedy\":[...]}\n\n"
            "options:\n"
            "  --ids LIST        comma-separated token ids (required)\n"
            "  --top K           ids/logits per position, by descending logit (default 10)\n"
            "  --greedy N        also generate N tokens greedily after the input\n"
            "  --ctx N           context size (default: input + greedy tokens)\n"
            "  --kv TYPE         KV cache type: f16 (default), f32, q8_0\n"
            "  --exact           reference path: exact dequantization, float32 math, f32 KV cache\n"
            "  --act MODE        activation precision of the production path: auto (default: 16-bit,\n"
            "                    llama.cpp's 8-bit for one-token steps of Q4_0/Q5_0/Q4_K/Q6_K/IQ4_XS), 16 (16-bit\n"
            "                    everywhere), 8 (llama.cpp's 8-bit), 8x2 (8-bit plus its residual)\n"
            "  --last-f32 FILE   write the full last-position logits (float32 little-endian)\n"
            "  -b, --ubatch N    tokens per forward pass (default 256)\n"
            "  -t, --threads N   threads (default: physical cores)\n");
}

static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* "1,2,3" -> malloc'd array; false on a malformed list. */
static bool parse_ids(const char *s, int32_t **out, int32_t *n_out) {
    int32_t n = 1;
    for (const char *p = s; *p; p++) n += *p == ',';
    if (n > LOGITS_MAX_IDS) return false;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) return false;
    int32_t i = 0;
    const char *p = s;
    while (i < n) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX || (*end != ',' && *end != '\0')) {
            free(ids);
            return false;
        }
        ids[i++] = (int32_t)v;
        p = end + (*end == ',');
    }
    *out = ids;
    *n_out = n;
    return true;
}

/* Shortest decimal that reads back as the same float32. */
static void print_float(float x) {
    char buf[32];
    if (x != x || x - x != 0) { /* NaN / inf are not JSON numbers */
        fputs("null", stdout);
        return;
    }
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    fputs(buf, stdout);
}

static const float *g_sort_logits;
static int cmp_desc(const void *a, const void *b) {
    const int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    const float x = g_sort_logits[i], y = g_sort_logits[j];
    if (x != y) return x > y ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Indices of the k largest logits, descending, ties by smaller id. idx has room for n. */
static void top_k(const float *lg, int64_t n, int32_t k, int32_t *idx) {
    if (k > 64) {
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
        g_sort_logits = lg;
        qsort(idx, (size_t)n, sizeof *idx, cmp_desc);
        return;
    }
    int32_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (m == k && !(lg[i] > lg[idx[k - 1]])) continue;
        int32_t j = m < k ? m++ : k - 1;
        while (j > 0 && lg[i] > lg[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (int32_t)i;
    }
}

static void print_position(const float *lg, int64_t V, int32_t k, int32_t *idx) {
    top_k(lg, V, k, idx);
    fputs("{\"ids\":[", stdout);
    for (int32_t i = 0; i < k; i++) printf("%s%d", i ? "," : "", idx[i]);
    fputs("],\"logits\":[", stdout);
    for (int32_t i = 0; i < k; i++) {
        if (i) putchar(',');
        print_float(lg[idx[i]]);
    }
    fputs("]}", stdout);
}

int cmd_logits(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    const char *model_path = NULL, *ids_arg = NULL, *last_path = NULL;
    long top = 10, greedy = 0, ctx_n = 0, threads = 0, ubatch = 256;
    bool exact = false;
    slm_activations act = SLM_ACT_AUTO;
    slm_kv_type kv = SLM_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool has_val = i + 1 < argc;
        if (!strcmp(a, "--exact")) {
            exact = true;
        } else if (!strcmp(a, "--act") && has_val) {
            if (!cli_parse_activations(argv[++i], &act)) return cli_usage_error("logits", "bad --act (auto, 16, 8 or 8x2)");
        } else if (!strcmp(a, "--ids") && has_val) {
            ids_arg = argv[++i];
        } else if (!strcmp(a, "--top") && has_val) {
            if (!parse_int(argv[++i], 0, 1L << 30, &top)) return cli_usage_error("logits", "bad --top '%s'", argv[i]);
        } else if (!strcmp(a, "--greedy") && has_val) {
            if (!parse_int(argv[++i], 0, LOGITS_MAX_IDS, &greedy))
                return cli_usage_error("logits", "bad --greedy '%s'", argv[i]);
        } else if (!strcmp(a, "--ctx") && has_val) {
            if (!parse_int(argv[++i], 1, 1L << 24, &ctx_n)) return cli_usage_error("logits", "bad --ctx '%s'", argv[i]);
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            if (!parse_int(argv[++i], 1, 256, &threads)) return cli_usage_error("logits", "bad -t '%s'", argv[i]);
        } else if ((!strcmp(a, "-b") || !strcmp(a, "--ubatch")) && has_val) {
            if (!parse_int(argv[++i], 1, 4096, &ubatch)) return cli_usage_error("logits", "bad -b '%s'", argv[i]);
        } else if (!strcmp(a, "--kv") && has_val) {
            const char *t = argv[++i];
            if (!strcmp(t, "f16")) kv = SLM_KV_F16;
            else if (!strcmp(t, "f32")) kv = SLM_KV_F32;
            else if (!strcmp(t, "q8_0")) kv = SLM_KV_Q8_0;
            else return cli_usage_error("logits", "unknown --kv type '%s' (f16, f32, q8_0)", t);
        } else if (!strcmp(a, "--last-f32") && has_val) {
            last_path = argv[++i];
        } else if (a[0] == '-') {
            return cli_usage_error("logits", "unknown option or missing value: %s", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return cli_usage_error("logits", "unexpected argument '%s'", a);
        }
    }
    if (!model_path) return cli_usage_error("logits", "no model given");
    if (!ids_arg) return cli_usage_error("logits", "--ids is required");
    int32_t *ids = NULL, n_ids = 0;
    if (!parse_ids(ids_arg, &ids, &n_ids)) return cli_usage_error("logits", "bad --ids list");

    slm_error err = {0};
    slm_model *m = NULL;
    slm_context *ctx = NULL;
    slm_batch_entry *batch = NULL;
    int32_t *idx = NULL;
    int rc = CLI_EXIT_FAIL;
    if (!(model_path = cli_model_path(model_path, false, &rc))) return rc;
    if (slm_model_load(model_path, &m, &err) != SLM_OK ||
        (!exact && (act == SLM_ACT_16 || act == SLM_ACT_AUTO) && slm_model_prepare(m, (int)threads, &err) != SLM_OK)) {
        rc = cli_fail(model_path, &err);
        goto done;
    }
    slm_context_params p = slm_context_default_params();
    p.n_ctx = ctx_n ? (int32_t)ctx_n : (int32_t)(n_ids + greedy > 0 ? n_ids + greedy : 1);
    if (!ctx_n && n_ids + greedy > (1L << 24)) p.n_ctx = 1 << 24;
    p.kv_type = kv;
    p.exact = exact;
    p.activations = act;
    p.n_threads = (int32_t)threads;
    p.n_ubatch = (int32_t)ubatch;
    if (slm_context_new(m, &p, &ctx, &err) != SLM_OK) {
        rc = cli_fail("context", &err);
        goto done;
    }
    const int64_t V = slm_context_n_vocab(ctx);
    if (top > V) top = V;
    /* the last greedy token is not fed back, so n_ids + greedy - 1 positions must fit */
    if ((int64_t)n_ids + (greedy > 0 ? greedy - 1 : 0) > p.n_ctx) {
        fprintf(stderr,
                "slm logits: %d input ids%s need a context of %lld positions, but --ctx is %d\n", n_ids,
                greedy > 0 ? " + greedy tokens" : "", (long long)n_ids + (greedy > 0 ? greedy - 1 : 0), p.n_ctx);
        goto done;
    }
    batch = malloc((size_t)n_ids * sizeof *batch);
    idx = malloc((size_t)V * sizeof *idx);
    if (!batch || !idx) {
        fprintf(stderr, "slm logits: out of memory\n");
        goto done;
    }
    for (int32_t i = 0; i < n_ids; i++) batch[i] = (slm_batch_entry){ids[i], i, 0, true};
    if (slm_decode(ctx, batch, n_ids, &err) != SLM_OK) {
        rc = cli_fail("decode", &err);
        goto done;
    }
    const float *last = slm_context_logits(ctx, n_ids - 1);
    if (last_path && slm_file_write_atomic(last_path, last, (size_t)V * sizeof(float), &err) != SLM_OK) {
        rc = cli_fail(last_path, &err);
        goto done;
    }
    /* positions are printed before generating: the greedy decodes replace the logits */
    printf("{\"n_vocab\":%lld,\"positions\":[", (long long)V);
    for (int32_t i = 0; i < n_ids; i++) {
        if (i) putchar(',');
        print_position(slm_context_logits(ctx, i), V, (int32_t)top, idx);
    }
    fputs("],\"greedy\":[", stdout);
    const float *lg = last;
    for (long s = 0; s < greedy; s++) {
        int32_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (lg[v] > lg[best]) best = (int32_t)v;
        printf("%s%d", s ? "," : "", best);
        if (s + 1 == greedy) break;
        slm_batch_entry e = {best, n_ids + (int32_t)s, 0, true};
        if (slm_decode(ctx, &e, 1, &err) != SLM_OK) {
            fflush(stdout);
            putchar('\n');
            rc = cli_fail("greedy decode", &err);
            goto done;
        }
        lg = slm_context_logits(ctx, 0);
    }
    fputs("]}\n", stdout);
    rc = CLI_EXIT_OK;
done:
    free(idx);
    free(batch);
    free(ids);
    slm_context_free(ctx);
    slm_model_free(m);
    return rc;
}
