/* The engine commands through the real binary ($SLM_BIN): `slm logits` JSON against the
 * transformers reference (top ids, logits, greedy, --last-f32, --exact on a quantized GGUF, --kv),
 * a prompt longer than --ctx (clear error, exit 1, no crash), usage errors (exit 2), and
 * `slm bench --json` in llama-bench's shape. */
#include <sys/wait.h>

#include "kernels/kernels.h"
#include "test_engine_common.h"

/* Run a shell command; stdout into a malloc'd string (*out), stderr into err_file. Returns the
 * exit status, or -1 if it died from a signal. */
static int run_cmd(const char *cmd, char **out) {
    FILE *f = popen(cmd, "r");
    if (!f) return -2;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, 4096, f);
        if (!got) break;
        n += got;
    }
    buf[n] = '\0';
    const int st = pclose(f);
    *out = buf;
    if (WIFSIGNALED(st)) return -1;
    return WEXITSTATUS(st);
}

static char *ids_list(const eng_ref *r) {
    static char buf[1024];
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < r->n_pos; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%d", i ? "," : "", r->ids[i]);
    return buf;
}

static void test_logits_json(const char *model_dir, const char *name) {
    eng_ref r;
    if (!er_load(tu_path("%s/reference", model_dir), "medium", &r)) return;
    char cmd[8192], last_path[4096];
    snprintf(last_path, sizeof last_path, "%s/engine_cli_%s.f32", tu_tmpdir(), name);
    snprintf(cmd, sizeof cmd, "'%s' logits '%s' --ids %s --top 20 --greedy 6 --kv f32 -t 2 --last-f32 '%s'", tu_bin(),
             model_dir, ids_list(&r), last_path);
    char *out = NULL;
    const int rc = run_cmd(cmd, &out);
    CHECK(rc == 0, "%s: slm logits exit %d", name, rc);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL, "%s: output is not JSON: %.200s", name, out);
    if (j) {
        const cJSON *nv = cJSON_GetObjectItem(j, "n_vocab");
        CHECK(cJSON_IsNumber(nv) && (int64_t)nv->valuedouble == r.n_vocab, "%s: n_vocab", name);
        const cJSON *pos = cJSON_GetObjectItem(j, "positions");
        CHECK(cJSON_GetArraySize(pos) == r.n_pos, "%s: %d positions", name, cJSON_GetArraySize(pos));
        double worst = 0;
        int p = 0, top1_bad = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, pos) {
            if (p >= r.n_pos) break;
            const cJSON *ids = cJSON_GetObjectItem(e, "ids"), *lg = cJSON_GetObjectItem(e, "logits");
            CHECK(cJSON_GetArraySize(ids) == 20 && cJSON_GetArraySize(lg) == 20, "%s: 20 entries", name);
            /* our top-20 by value vs the reference's logits of the same ids */
            for (int k = 0; k < 20 && k < cJSON_GetArraySize(ids); k++) {
                const int id = (int)cJSON_GetArrayItem(ids, k)->valuedouble;
                const double v = cJSON_GetArrayItem(lg, k)->valuedouble;
                for (int q = 0; q < 20; q++)
                    if (r.top_ids[p][q] == id && fabs(v - r.top_logits[p][q]) > worst)
                        worst = fabs(v - r.top_logits[p][q]);
                if (k > 0) CHECK(v <= cJSON_GetArrayItem(lg, k - 1)->valuedouble, "%s: not sorted", name);
            }
            if ((int)cJSON_GetArrayItem(ids, 0)->valuedouble != r.top_ids[p][0] && r.margin[p] > 2e-3) top1_bad++;
            p++;
        }
        CHECK(worst <= 1e-3, "%s: JSON logits off the reference by %g", name, worst);
        CHECK(top1_bad == 0, "%s: %d positions with another top-1", name, top1_bad);
        const cJSON *g = cJSON_GetObjectItem(j, "greedy");
        CHECK(cJSON_GetArraySize(g) == 6, "%s: 6 greedy ids", name);
        for (int s = 0; s < 6 && s < cJSON_GetArraySize(g); s++) {
            if (r.greedy_margin[s] <= 2e-3) break;
            CHECK((int)cJSON_GetArrayItem(g, s)->valuedouble == r.greedy_ids[s], "%s: greedy step %d", name, s);
        }
        cJSON_Delete(j);
    }
    free(out);
    char *raw = NULL;
    size_t n = 0;
    slm_error err = {0};
    if (slm_file_read_all(last_path, 1 << 26, &raw, &n, &err) == SLM_OK && n == (size_t)r.n_vocab * 4 && r.last) {
        double worst = 0;
        for (int64_t i = 0; i < r.n_vocab; i++) {
            float v;
            memcpy(&v, raw + 4 * i, 4);
            if (fabs(v - r.last[i]) > worst) worst = fabs(v - r.last[i]);
        }
        CHECK(worst <= 1e-3, "%s: --last-f32 off the reference by %g", name, worst);
    } else {
        CHECK(0, "%s: --last-f32 file %s: %zu bytes", name, last_path, n);
    }
    free(raw);
    er_free(&r);
}

/* --exact and the 16-bit (default) / 8x2 activation paths on a quantized GGUF: the last-position
 * logits against reference-Q4_K_M (exact: 1e-3; 16-bit and 8x2 with an f32 cache: 1e-2, llama.cpp
 * itself is off by 0.29 here). --act 8 is far outside 1e-2 (a flag that did nothing would fail).
 * The default (auto) one token per pass (-b 1): where the table has 8-bit one-token tiles for
 * Q4_K (AVX2), those matmuls take llama.cpp's activations and land far outside 1e-2 too; elsewhere
 * it is 16-bit throughout (1e-2). */
static void test_quant_paths(void) {
    const char *g = tu_path("%s/models/llama2-quant/gguf", tu_fixtures());
    char gdir[4096];
    snprintf(gdir, sizeof gdir, "%s", g);
    eng_ref r;
    if (!er_load(tu_path("%s/reference-Q4_K_M", gdir), "short", &r)) return;
    const char *flags[] = {"--exact", "--kv f32", "--act 16 --kv f32", "--act 8x2 --kv f32", "--act 8 --kv f32",
                           "--act auto -b 1 --kv f32"};
    const bool a8 = slm_kernels_get()->mm[SLM_DT_Q4_K].tok1_a8_x16 != NULL;
    const double bound[] = {1e-3, 1e-2, 1e-2, 1e-2, 1.0, a8 ? 1.0 : 1e-2};
    for (int k = 0; k < 6; k++) {
        char cmd[8192], last_path[4096];
        snprintf(last_path, sizeof last_path, "%s/engine_cli_q4km_%d.f32", tu_tmpdir(), k);
        snprintf(cmd, sizeof cmd, "'%s' logits '%s/llama2-quant-Q4_K_M.gguf' --ids %s --top 1 %s --last-f32 '%s'",
                 tu_bin(), gdir, ids_list(&r), flags[k], last_path);
        char *out = NULL;
        CHECK(run_cmd(cmd, &out) == 0, "%s Q4_K_M run", flags[k]);
        free(out);
        char *raw = NULL;
        size_t n = 0;
        if (slm_file_read_all(last_path, 1 << 26, &raw, &n, NULL) == SLM_OK && n == (size_t)r.n_vocab * 4 && r.last) {
            double worst = 0;
            for (int64_t i = 0; i < r.n_vocab; i++) {
                float v;
                memcpy(&v, raw + 4 * i, 4);
                if (fabs(v - r.last[i]) > worst) worst = fabs(v - r.last[i]);
            }
            CHECK(worst <= bound[k], "%s Q4_K_M off reference-Q4_K_M by %g", flags[k], worst);
            if (k == 4 || (k == 5 && a8))
                CHECK(worst > 3e-2, "%s Q4_K_M only %g off the gold: not 8-bit activations?", flags[k], worst);
        } else {
            CHECK(0, "%s --last-f32: %zu bytes", flags[k], n);
        }
        free(raw);
    }
    er_free(&r);
}

static void test_errors(const char *model_dir) {
    char cmd[8192];
    char *out = NULL;
    const char *err_path = tu_path("%s/engine_cli_err.txt", tu_tmpdir());
    char errp[4096];
    snprintf(errp, sizeof errp, "%s", err_path);
    /* 10 ids, context of 4: clear error, exit 1, nothing half-printed */
    snprintf(cmd, sizeof cmd, "'%s' logits '%s' --ids 1,2,3,4,5,6,7,8,9,10 --ctx 4 2>'%s'", tu_bin(), model_dir, errp);
    int rc = run_cmd(cmd, &out);
    CHECK(rc == 1, "prompt longer than --ctx: exit %d (want 1)", rc);
    CHECK(out[0] == '\0', "no JSON on error: %.100s", out);
    free(out);
    char *msg = NULL;
    size_t n = 0;
    if (slm_file_read_all(errp, 1 << 16, &msg, &n, NULL) == SLM_OK) {
        CHECK(strstr(msg, "ctx") != NULL, "error names the context: %s", msg);
        free(msg);
    }
    /* greedy running past the context */
    snprintf(cmd, sizeof cmd, "'%s' logits '%s' --ids 1,2,3 --greedy 10 --ctx 8 2>/dev/null", tu_bin(), model_dir);
    rc = run_cmd(cmd, &out);
    CHECK(rc == 1, "greedy past --ctx: exit %d", rc);
    free(out);
    const char *bad[] = {"--ids 1,x,3", "--ids 1,2 --kv q4", "--ids 1 --top -1", "", "--ids 99999999"};
    const int want[] = {2, 2, 2, 2, 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' logits '%s' %s 2>/dev/null", tu_bin(), model_dir, bad[i]);
        rc = run_cmd(cmd, &out);
        CHECK(rc == want[i], "'%s': exit %d, want %d", bad[i], rc, want[i]);
        free(out);
    }
}

static void test_bench_json(const char *model_dir) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' bench '%s' -p 8 -n 3 -r 2 -d 4 -t 1,2 --json", tu_bin(), model_dir);
    char *out = NULL;
    CHECK(run_cmd(cmd, &out) == 0, "bench --json");
    cJSON *j = cJSON_Parse(out);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 4, "bench: array of 4 results: %.300s", out);
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, j) {
        const char *keys[] = {"n_prompt", "n_gen", "n_depth", "n_threads", "avg_ts", "stddev_ts"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            CHECK(cJSON_IsNumber(cJSON_GetObjectItem(e, keys[k])), "bench result %d: %s", i, keys[k]);
        const cJSON *s = cJSON_GetObjectItem(e, "samples_ts");
        CHECK(cJSON_IsArray(s) && cJSON_GetArraySize(s) == 2, "bench result %d: samples_ts", i);
        CHECK(cJSON_GetObjectItem(e, "avg_ts")->valuedouble > 0, "bench result %d: avg_ts > 0", i);
        CHECK(cJSON_GetObjectItem(e, "n_depth")->valuedouble == 4, "n_depth");
        const double np = cJSON_GetObjectItem(e, "n_prompt")->valuedouble, ng = cJSON_GetObjectItem(e, "n_gen")->valuedouble;
        CHECK((np == 8 && ng == 0) || (np == 0 && ng == 3), "bench result %d: test shape %g/%g", i, np, ng);
        i++;
    }
    cJSON_Delete(j);
    free(out);
}

int main(void) {
    char llama3[4096], gemma3[4096];
    snprintf(llama3, sizeof llama3, "%s/models/llama3-tiny", tu_fixtures());
    snprintf(gemma3, sizeof gemma3, "%s/models/gemma3-tiny", tu_fixtures());
    test_logits_json(llama3, "llama3-tiny");
    if (!er_sanitized()) test_logits_json(gemma3, "gemma3-tiny");
    test_quant_paths();
    test_errors(llama3);
    test_bench_json(llama3);
    return tu_finish("test_engine_cli");
}
