/* Shared by the engine tests: read a fixture reference (<kind>.json + <kind>.last_logits.f32)
 * and run the engine on its prompt and greedy continuation, comparing logits. Header-only
 * (static functions) because each tests/test_*.c is its own executable. */
#ifndef SLM_TEST_ENGINE_COMMON_H
#define SLM_TEST_ENGINE_COMMON_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "model/loader.h"
#include "slm.h"
#include "testutil.h"

#define ER_MAX_POS 64
#define ER_TOPK 20
#define ER_GREEDY 16

typedef struct eng_ref {
    int n_pos;
    int32_t ids[ER_MAX_POS];
    int32_t top_ids[ER_MAX_POS][ER_TOPK];
    float top_logits[ER_MAX_POS][ER_TOPK];
    float margin[ER_MAX_POS];
    int n_greedy;
    int32_t greedy_ids[ER_GREEDY];
    int32_t greedy_top[ER_GREEDY][5];
    float greedy_logits[ER_GREEDY][5];
    float greedy_margin[ER_GREEDY];
    int64_t n_vocab;
    float *last; /* n_vocab floats, or NULL when the reference has no last_logits file */
} eng_ref;

/* What a run measured against a reference (maxima over positions). */
typedef struct eng_stats {
    double max_top20;   /* |ours - ref| over the 20 reference ids, every position */
    double max_last;    /* |ours - ref| over the whole vocab, last position */
    int top1_agree, top1_total;
    int top1_required_fail; /* disagreements where the margin exceeds 2 x tol */
    int greedy_checked, greedy_fail;
} eng_stats;

static inline void er_free(eng_ref *r) {
    free(r->last);
    r->last = NULL;
}

static inline void er_ints(const cJSON *a, int32_t *out, int max, int *n) {
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (i < max) out[i] = (int32_t)x->valuedouble;
        i++;
    }
    if (n) *n = i < max ? i : max;
}

static inline void er_floats(const cJSON *a, float *out, int max) {
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (i < max) out[i] = (float)x->valuedouble;
        i++;
    }
}

/* Load dir/<kind>.json (and its last-logits file if present). Returns false (after a failed
 * CHECK) when the files are missing or malformed. */
static inline bool er_load(const char *dir, const char *kind, eng_ref *r) {
    memset(r, 0, sizeof *r);
    char *txt = NULL;
    size_t len = 0;
    slm_error err = {0};
    if (slm_file_read_all(tu_path("%s/%s.json", dir, kind), 1 << 24, &txt, &len, &err) != SLM_OK) {
        CHECK(0, "read %s/%s.json: %s", dir, kind, err.msg);
        return false;
    }
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!j) {
        CHECK(0, "parse %s/%s.json", dir, kind);
        return false;
    }
    er_ints(cJSON_GetObjectItem(j, "input_ids"), r->ids, ER_MAX_POS, &r->n_pos);
    const cJSON *nv = cJSON_GetObjectItem(j, "n_vocab");
    r->n_vocab = nv ? (int64_t)nv->valuedouble : 0;
    int p = 0;
    const cJSON *pos;
    cJSON_ArrayForEach(pos, cJSON_GetObjectItem(j, "positions")) {
        if (p >= ER_MAX_POS) break;
        er_ints(cJSON_GetObjectItem(pos, "top_ids"), r->top_ids[p], ER_TOPK, NULL);
        er_floats(cJSON_GetObjectItem(pos, "top_logits"), r->top_logits[p], ER_TOPK);
        const cJSON *mg = cJSON_GetObjectItem(pos, "top1_margin");
        r->margin[p] = mg ? (float)mg->valuedouble : 0.0f;
        p++;
    }
    CHECK(p == r->n_pos, "%s/%s: %d positions for %d ids", dir, kind, p, r->n_pos);
    const cJSON *g = cJSON_GetObjectItem(j, "greedy");
    if (g) {
        er_ints(cJSON_GetObjectItem(g, "new_ids"), r->greedy_ids, ER_GREEDY, &r->n_greedy);
        int s = 0;
        const cJSON *st;
        cJSON_ArrayForEach(st, cJSON_GetObjectItem(g, "steps")) {
            if (s >= ER_GREEDY) break;
            er_ints(cJSON_GetObjectItem(st, "top_ids"), r->greedy_top[s], 5, NULL);
            er_floats(cJSON_GetObjectItem(st, "top_logits"), r->greedy_logits[s], 5);
            const cJSON *mg = cJSON_GetObjectItem(st, "top1_margin");
            r->greedy_margin[s] = mg ? (float)mg->valuedouble : 0.0f;
            s++;
        }
    }
    const cJSON *lf = cJSON_GetObjectItem(j, "last_logits_file");
    if (cJSON_IsString(lf) && r->n_vocab > 0) {
        char *raw = NULL;
        size_t n = 0;
        if (slm_file_read_all(tu_path("%s/%s", dir, lf->valuestring), 1 << 26, &raw, &n, &err) == SLM_OK &&
            n == (size_t)r->n_vocab * 4) {
            r->last = malloc(n);
            memcpy(r->last, raw, n);
        } else {
            CHECK(0, "last logits %s/%s", dir, lf->valuestring);
        }
        free(raw);
    }
    cJSON_Delete(j);
    return true;
}

static inline int32_t er_argmax(const float *x, int64_t n) {
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = (int32_t)i;
    return best;
}

/* Run the prompt (logits at every position) and greedy continuation on a fresh context and
 * compare with r. tol: the logit bound; top-1 is required where the reference margin > 2 tol,
 * greedy tokens up to the first step whose margin is <= 2 tol. check_greedy = false skips the
 * continuation. Everything measured is accumulated into *st (maxima / counts). */
static inline void er_run(const slm_model *m, const slm_context_params *p, const eng_ref *r, double tol,
                   bool check_greedy, const char *label, eng_stats *st) {
    slm_error err = {0};
    slm_context *ctx = NULL;
    if (slm_context_new(m, p, &ctx, &err) != SLM_OK) {
        CHECK(0, "%s: context: %s", label, err.msg);
        return;
    }
    const int64_t V = slm_context_n_vocab(ctx);
    CHECK(V == r->n_vocab, "%s: n_vocab %lld vs reference %lld", label, (long long)V, (long long)r->n_vocab);
    slm_batch_entry b[ER_MAX_POS];
    for (int t = 0; t < r->n_pos; t++) b[t] = (slm_batch_entry){r->ids[t], t, 0, true};
    slm_status s = slm_decode(ctx, b, r->n_pos, &err);
    CHECK(s == SLM_OK, "%s: decode: %s", label, err.msg);
    if (s != SLM_OK || V != r->n_vocab) {
        slm_context_free(ctx);
        return;
    }
    for (int t = 0; t < r->n_pos; t++) {
        const float *lg = slm_context_logits(ctx, t);
        for (int k = 0; k < ER_TOPK; k++) {
            const double d = fabs((double)lg[r->top_ids[t][k]] - (double)r->top_logits[t][k]);
            if (d > st->max_top20 || isnan(d)) st->max_top20 = isnan(d) ? INFINITY : d;
        }
        const bool agree = er_argmax(lg, V) == r->top_ids[t][0];
        st->top1_agree += agree;
        st->top1_total++;
        if (!agree && r->margin[t] > 2 * tol) {
            st->top1_required_fail++;
            fprintf(stderr, "%s: position %d: top-1 %d, reference %d (margin %g)\n", label, t, er_argmax(lg, V),
                    r->top_ids[t][0], r->margin[t]);
        }
    }
    const float *last = slm_context_logits(ctx, r->n_pos - 1);
    if (r->last)
        for (int64_t i = 0; i < V; i++) {
            const double d = fabs((double)last[i] - (double)r->last[i]);
            if (d > st->max_last || isnan(d)) st->max_last = isnan(d) ? INFINITY : d;
        }
    if (check_greedy) {
        int32_t tok = er_argmax(last, V);
        for (int s2 = 0; s2 < r->n_greedy; s2++) {
            if (r->greedy_margin[s2] <= 2 * tol) break; /* near tie: the continuation may fork here */
            st->greedy_checked++;
            if (tok != r->greedy_ids[s2]) {
                st->greedy_fail++;
                fprintf(stderr, "%s: greedy step %d: %d, reference %d\n", label, s2, tok, r->greedy_ids[s2]);
                break;
            }
            slm_batch_entry e = {tok, r->n_pos + s2, 0, true};
            if (slm_decode(ctx, &e, 1, &err) != SLM_OK) {
                CHECK(0, "%s: greedy decode: %s", label, err.msg);
                break;
            }
            const float *lg = slm_context_logits(ctx, 0);
            if (s2 + 1 < r->n_greedy)
                for (int k = 0; k < 5; k++) {
                    const double d = fabs((double)lg[r->greedy_top[s2 + 1][k]] - (double)r->greedy_logits[s2 + 1][k]);
                    if (d > st->max_top20 || isnan(d)) st->max_top20 = isnan(d) ? INFINITY : d;
                }
            tok = er_argmax(lg, V);
        }
    }
    slm_context_free(ctx);
}

/* Load a model, failing the test (and returning NULL) if it does not load. */
static inline slm_model *er_model(const char *path) {
    slm_model *m = NULL;
    slm_error err = {0};
    if (slm_model_load(path, &m, &err) != SLM_OK) {
        CHECK(0, "load %s: %s", path, err.msg);
        return NULL;
    }
    return m;
}

/* Weights repacked in 16-row groups by slm_model_prepare. */
static inline int er_count_x16(const slm_model *m) {
    int n = m->output.x16;
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const slm_weight *w = (const slm_weight *)&m->layers[il];
        for (size_t k = 0; k < sizeof(slm_layer) / sizeof(slm_weight); k++) n += w[k].x16;
    }
    return n;
}

/* Default parameters of the engine tests: small context, 2 threads. */
static inline slm_context_params er_params(slm_kv_type kv, bool exact) {
    slm_context_params p = slm_context_default_params();
    p.n_ctx = 128;
    p.n_threads = 2;
    p.kv_type = kv;
    p.exact = exact;
    return p;
}

static inline bool er_sanitized(void) {
    const char *s = getenv("SLM_SANITIZED");
    return s && *s && strcmp(s, "0") != 0;
}

static const char *k_kinds[] __attribute__((unused)) = {"short", "medium", "long"};

static inline void er_check_stats(const char *label, const eng_stats *st, double tol) {
    CHECK(st->max_top20 <= tol, "%s: max |logit - ref| over top-20 = %g > %g", label, st->max_top20, tol);
    CHECK(st->max_last <= tol, "%s: max |logit - ref| over last-position vocab = %g > %g", label, st->max_last, tol);
    CHECK(st->top1_required_fail == 0, "%s: %d positions with a different top-1", label, st->top1_required_fail);
    CHECK(st->greedy_fail == 0, "%s: greedy continuation differs", label);
    printf("  %-48s top20 %.2e  last %.2e  top1 %d/%d  greedy steps %d\n", label, st->max_top20, st->max_last,
           st->top1_agree, st->top1_total, st->greedy_checked);
}

/* Every mode (production f32 KV / f16 KV, exact) on every prompt kind of ref_dir; under the
 * sanitizers only the long prompt. */
static inline void er_run_model(const char *path_in, const char *ref_in, const char *name_in) {
    char path[4096], ref_dir[4096], name[256]; /* tu_path buffers rotate: keep copies */
    snprintf(path, sizeof path, "%s", path_in);
    snprintf(ref_dir, sizeof ref_dir, "%s", ref_in);
    snprintf(name, sizeof name, "%s", name_in);
    slm_model *m = er_model(path);
    if (!m) return;
    /* micro-batch sizes differ between modes so that prompts are also split into chunks (the
     * 40-token prompt in 3 or 8 pieces, crossing Gemma's sliding window between chunks) */
    struct {
        const char *what;
        slm_kv_type kv;
        bool exact;
        double tol;
        int32_t n_ubatch;
    } modes[] = {
        {"kv f32", SLM_KV_F32, false, 1e-3, 256},
        {"kv f16", SLM_KV_F16, false, 3e-2, 16},
        {"exact", SLM_KV_F32, true, 1e-3, 256},
        /* q8_0 cache: no reference bound exists. 8-bit K/V with one scale per 32 values of a
         * cell row (spanning kv heads when head_dim < 32) measured 0.07..0.33 on these models;
         * the bound catches a broken cache (errors of whole logits), not precision. */
        {"kv q8_0", SLM_KV_Q8_0, false, 0.5, 5},
    };
    const int n_kinds = er_sanitized() ? 1 : 3;
    for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++) {
        eng_stats st = {0};
        for (int k = 0; k < n_kinds; k++) {
            eng_ref r;
            if (!er_load(ref_dir, k_kinds[k + (er_sanitized() ? 2 : 0)], &r)) continue;
            slm_context_params p = er_params(modes[mi].kv, modes[mi].exact);
            p.n_ubatch = modes[mi].n_ubatch;
            er_run(m, &p, &r, modes[mi].tol, true, name, &st);
            er_free(&r);
        }
        char label[320];
        snprintf(label, sizeof label, "%s %s", name, modes[mi].what);
        er_check_stats(label, &st, modes[mi].tol);
    }
    slm_model_free(m);
}

#endif
