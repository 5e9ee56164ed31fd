/* `slm convert --type f16` of the fixture HF folders against llama.cpp's own conversions.
 *
 * llama3-tiny, qwen2-tiny, llama2-quant (made by convert_hf_to_gguf.py, fixtures/models/X/gguf):
 * every tokenizer.* key of our file equals the fixture's (same type, same value, same order) and
 * every tensor equals the fixture's tensor of the same name byte for byte. Whole-file identity is
 * reported (metadata outside tokenizer.* is the converter's, see the printed differences).
 * qwen3-tiny, gemma3-tiny, phi3-tiny (llama.cpp's snapshot could not convert them): our GGUF loads
 * (`slm show`), its last-position logits equal the HF folder's within 1e-3 (--kv f32) on the three
 * reference prompts, and both equal the transformers reference.
 * All six: the GGUF's tokenizer gives the fixture's HF `tokenizers` ids for every case of
 * cases.jsonl, in both modes — except llama2-quant, whose GGUF holds llama.cpp's flat -1000 scores
 * (as the fixture GGUF): there, ids must equal those from the fixture GGUF instead. */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "gguf/gguf.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

static char *read_text(const char *path, size_t *len) {
    char *data = NULL;
    size_t n = 0;
    slm_error err = {0};
    if (slm_file_read_all(path, (size_t)1 << 30, &data, &n, &err)) {
        CHECK(0, "cannot read %s: %s", path, err.msg);
        return NULL;
    }
    if (len) *len = n;
    return data;
}

static bool run(const char *cmd) {
    int st = system(cmd);
    CHECK(st == 0, "command failed (status %d): %s", st, cmd);
    return st == 0;
}

/* Convert fixture model m to tmp/convtok-m.gguf with the CLI; returns the output path or NULL. */
static const char *convert(const char *m) {
    static char out[4096];
    char cmd[12288];
    snprintf(out, sizeof out, "%s/convtok-%s.gguf", tu_tmpdir(), m);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s/models/%s' '%s' --type f16 -q -t 2", tu_bin(), tu_fixtures(), m, out);
    return run(cmd) ? out : NULL;
}

/* ---- GGUF comparison ------------------------------------------------------------------------- */

static bool arr_equal(const gguf_file *a, const gguf_arr *x, const gguf_file *b, const gguf_arr *y, uint64_t *at) {
    if (x->type != y->type || x->n != y->n) {
        *at = 0;
        return false;
    }
    for (uint64_t i = 0; i < x->n; i++) {
        *at = i;
        if (x->type == GGUF_TYPE_STRING) {
            gguf_str s, t;
            if (!gguf_arr_str(a, x, i, &s) || !gguf_arr_str(b, y, i, &t) || s.len != t.len || memcmp(s.ptr, t.ptr, s.len))
                return false;
        } else if (x->type == GGUF_TYPE_ARRAY) {
            gguf_arr s, t;
            uint64_t sub;
            if (!gguf_arr_arr(a, x, i, &s) || !gguf_arr_arr(b, y, i, &t) || !arr_equal(a, &s, b, &t, &sub)) return false;
        }
    }
    if (x->type != GGUF_TYPE_STRING && x->type != GGUF_TYPE_ARRAY) {
        size_t es = gguf_type_size(x->type);
        const uint8_t *p = x->data, *q = y->data;
        for (uint64_t i = 0; i < x->n; i++)
            if (memcmp(p + i * es, q + i * es, es)) {
                *at = i;
                return false;
            }
    }
    return true;
}

/* Values of key i of a and key j of b equal (type and content)? *where describes a mismatch. */
static bool kv_equal(const gguf_file *a, int64_t i, const gguf_file *b, int64_t j, char *where, size_t cap) {
    gguf_value x, y;
    gguf_kv_value(a, i, &x);
    gguf_kv_value(b, j, &y);
    if (x.type != y.type) {
        snprintf(where, cap, "type %s vs %s", gguf_type_name(x.type), gguf_type_name(y.type));
        return false;
    }
    bool eq;
    uint64_t at = 0;
    switch (x.type) {
    case GGUF_TYPE_STRING: eq = x.s.len == y.s.len && !memcmp(x.s.ptr, y.s.ptr, x.s.len); break;
    case GGUF_TYPE_ARRAY:
        eq = arr_equal(a, &x.arr, b, &y.arr, &at);
        if (!eq) snprintf(where, cap, "arrays of %llu and %llu elements differ at %llu", (unsigned long long)x.arr.n,
                          (unsigned long long)y.arr.n, (unsigned long long)at);
        return eq;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64: eq = x.f == y.f; break;
    case GGUF_TYPE_BOOL: eq = x.b == y.b; break;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64: eq = x.i == y.i; break;
    default: eq = x.u == y.u; break;
    }
    if (!eq) snprintf(where, cap, "values differ");
    return eq;
}

static bool is_tok_key(const char *k) { return !strncmp(k, "tokenizer.", 10); }

static void compare_with_llamacpp(const char *m, const char *ours) {
    const char *ref = tu_path("%s/models/%s/gguf/%s-f16.gguf", tu_fixtures(), m, m);
    gguf_file *a = NULL, *b = NULL;
    slm_error err = {0};
    CHECK(!gguf_open(ref, &a, &err), "%s: %s", ref, err.msg);
    CHECK(!gguf_open(ours, &b, &err), "%s: %s", ours, err.msg);
    if (!a || !b) goto done;

    /* tokenizer.*: same keys, same values, same relative order. */
    int64_t n_tok = 0, jb = 0;
    for (int64_t i = 0; i < gguf_n_kv(a); i++) {
        const char *k = gguf_key_name(a, i);
        if (!is_tok_key(k)) continue;
        n_tok++;
        int64_t j = gguf_find_key(b, k);
        CHECK(j >= 0, "%s: our GGUF lacks %s", m, k);
        if (j < 0) continue;
        char where[160] = "";
        CHECK(kv_equal(a, i, b, j, where, sizeof where), "%s: %s differs from llama.cpp's: %s", m, k, where);
        CHECK(j > jb || n_tok == 1, "%s: %s is out of llama.cpp's key order", m, k);
        jb = j;
    }
    for (int64_t j = 0; j < gguf_n_kv(b); j++) {
        const char *k = gguf_key_name(b, j);
        CHECK(!is_tok_key(k) || gguf_find_key(a, k) >= 0, "%s: our GGUF has %s, llama.cpp's has not", m, k);
    }
    CHECK(n_tok >= 5, "%s: only %lld tokenizer keys in the fixture", m, (long long)n_tok);

    /* Tensors by name, byte for byte. */
    CHECK(gguf_n_tensors(a) == gguf_n_tensors(b), "%s: %lld tensors, llama.cpp %lld", m, (long long)gguf_n_tensors(b),
          (long long)gguf_n_tensors(a));
    bool same_order = gguf_n_tensors(a) == gguf_n_tensors(b);
    for (int64_t i = 0; i < gguf_n_tensors(a); i++) {
        const gguf_tensor_info *x = gguf_tensor(a, i), *y = gguf_find_tensor(b, x->name);
        CHECK(y != NULL, "%s: our GGUF lacks tensor %s", m, x->name);
        if (!y) continue;
        same_order &= gguf_find_tensor_index(b, x->name) == i;
        bool shape = x->type == y->type && x->n_dims == y->n_dims && !memcmp(x->ne, y->ne, sizeof x->ne);
        CHECK(shape, "%s: tensor %s has another type or shape", m, x->name);
        CHECK(shape && x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes), "%s: tensor %s data differ", m,
              x->name);
    }

    /* Whole file: reported, not required (general.* and hyper-parameter keys are the converter's). */
    bool identical = gguf_file_size(a) == gguf_file_size(b) && !memcmp(gguf_file_data(a), gguf_file_data(b), gguf_file_size(a));
    printf("  %s: tokenizer keys %lld equal, tensors %lld equal (%s order); whole file %s\n", m, (long long)n_tok,
           (long long)gguf_n_tensors(a), same_order ? "same" : "different", identical ? "BYTE-IDENTICAL" : "differs:");
    for (int64_t i = 0; !identical && i < gguf_n_kv(a); i++) {
        const char *k = gguf_key_name(a, i);
        int64_t j = gguf_find_key(b, k);
        char where[160] = "";
        if (j < 0) printf("    key %s: only in llama.cpp's file\n", k);
        else if (!kv_equal(a, i, b, j, where, sizeof where)) printf("    key %s: %s\n", k, where);
        else if (i != j) printf("    key %s: position %lld, ours %lld\n", k, (long long)i, (long long)j);
    }
    for (int64_t j = 0; !identical && j < gguf_n_kv(b); j++)
        if (gguf_find_key(a, gguf_key_name(b, j)) < 0) printf("    key %s: only in ours\n", gguf_key_name(b, j));
done:
    gguf_close(a);
    gguf_close(b);
}

/* ---- Tokenization ------------------------------------------------------------------------------- */

static bool ids_equal(const slm_tokens *t, const cJSON *ids) {
    if (!cJSON_IsArray(ids) || (size_t)cJSON_GetArraySize(ids) != t->n) return false;
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, ids) if (!cJSON_IsNumber(it) || it->valueint != t->ids[i++]) return false;
    return true;
}

static cJSON *ids_json(const slm_tokens *t) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < t->n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(t->ids[i]));
    return a;
}

/* Every case of tokenizers/<tok>/cases.jsonl through the tokenizer of gguf_path: ids equal the
 * expected ones (HF's, or those of the tokenizer `expect_from` when given). */
static void check_tokenize(const char *m, const char *tok_name, const char *gguf_path, const char *expect_from) {
    slm_tokenizer *ours = NULL, *ref = NULL;
    slm_error err = {0};
    CHECK(!slm_tokenizer_load_path(gguf_path, &ours, &err), "%s: tokenizer of our GGUF: %s", m, err.msg);
    if (expect_from) CHECK(!slm_tokenizer_load_path(expect_from, &ref, &err), "%s: %s", expect_from, err.msg);
    size_t len;
    char *text = read_text(tu_path("%s/tokenizers/%s/cases.jsonl", tu_fixtures(), tok_name), &len);
    if (!ours || !text || (expect_from && !ref)) goto done;
    int n_cases = 0, n_bad = 0;
    for (char *line = text, *nl; line < text + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(text + len - line));
        if (!nl) nl = text + len;
        cJSON *c = cJSON_ParseWithLength(line, (size_t)(nl - line));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
        if (!cJSON_IsString(t)) {
            cJSON_Delete(c);
            continue;
        }
        size_t tlen = strlen(t->valuestring);
        for (int mode = 0; mode < 2; mode++) {
            slm_tokenize_flags fl = {mode == 1, true};
            slm_tokens got = {0}, want = {0};
            slm_status st = slm_tokenize(ours, t->valuestring, tlen, fl, &got, &err);
            cJSON *expect = NULL;
            if (ref) {
                if (!slm_tokenize(ref, t->valuestring, tlen, fl, &want, &err)) expect = ids_json(&want);
            } else {
                expect = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(c, mode ? "ids_special" : "ids"), 1);
            }
            bool nul_inside = memmem(line, (size_t)(nl - line), "\\u0000", 6) != NULL; /* cJSON cuts there */
            bool ok = !st && (nul_inside || ids_equal(&got, expect));
            if (!ok && n_bad++ < 5) CHECK(0, "%s: tokenize (add_special=%d) differs on %.60s", m, mode, t->valuestring);
            n_cases++;
            cJSON_Delete(expect);
            slm_tokens_free(&got);
            slm_tokens_free(&want);
        }
        cJSON_Delete(c);
    }
    CHECK(n_bad == 0, "%s: %d of %d tokenizations differ", m, n_bad, n_cases);
    CHECK(n_cases >= 300, "%s: only %d cases read", m, n_cases);
    printf("  %s: %d tokenizations from our GGUF equal %s\n", m, n_cases - n_bad,
           expect_from ? "llama.cpp's GGUF" : "HF tokenizers");
done:
    free(text);
    slm_tokenizer_free(ours);
    slm_tokenizer_free(ref);
}

/* ---- Logits ------------------------------------------------------------------------------------- */

static float *read_f32(const char *path, size_t *n) {
    size_t len = 0;
    char *d = read_text(path, &len);
    *n = len / 4;
    return (float *)d;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

/* Last-position logits of our GGUF vs the HF folder (both through `slm logits --kv f32`) and
 * vs the transformers reference, for the short/medium/long prompts. */
static void check_logits(const char *m, const char *gguf_path) {
    static const char *const kinds[] = {"short", "medium", "long"};
    for (int k = 0; k < 3; k++) {
        const char *dir = tu_path("%s/models/%s", tu_fixtures(), m);
        char *js = read_text(tu_path("%s/reference/%s.json", dir, kinds[k]), NULL);
        cJSON *ref = js ? cJSON_Parse(js) : NULL;
        free(js);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(ref, "input_ids"), *it;
        char list[4096] = "";
        size_t o = 0;
        cJSON_ArrayForEach(it, ids) o += (size_t)snprintf(list + o, sizeof list - o, "%s%d", o ? "," : "", it->valueint);
        cJSON_Delete(ref);
        CHECK(o > 0 && o < sizeof list, "%s: no input ids in the %s reference", m, kinds[k]);
        const char *src[2] = {dir, gguf_path};
        float *lg[2] = {NULL, NULL};
        size_t n[2] = {0, 0};
        for (int s = 0; s < 2; s++) {
            const char *out = tu_path("%s/convtok-%s-%d.f32", tu_tmpdir(), m, s);
            char cmd[16384];
            snprintf(cmd, sizeof cmd, "'%s' logits '%s' --ids %s --kv f32 -t 2 --top 1 --last-f32 '%s' >/dev/null",
                     tu_bin(), src[s], list, out);
            if (run(cmd)) lg[s] = read_f32(out, &n[s]);
            remove(out);
        }
        size_t nr = 0;
        float *gold = read_f32(tu_path("%s/reference/%s.last_logits.f32", dir, kinds[k]), &nr);
        if (lg[0] && lg[1] && gold && n[0] == n[1] && n[0] == nr && nr > 0) {
            double d = max_abs_diff(lg[0], lg[1], nr), g = max_abs_diff(lg[1], gold, nr);
            CHECK(d <= 1e-3, "%s %s: GGUF vs HF folder logits differ by %g", m, kinds[k], d);
            CHECK(g <= 1e-3, "%s %s: GGUF vs transformers reference logits differ by %g", m, kinds[k], g);
            printf("  %s %s: |GGUF - HF folder| %.3g, |GGUF - reference| %.3g over %zu logits\n", m, kinds[k], d, g, nr);
        } else {
            CHECK(0, "%s %s: logits missing or of different sizes (%zu, %zu, reference %zu)", m, kinds[k], n[0], n[1], nr);
        }
        free(lg[0]);
        free(lg[1]);
        free(gold);
    }
}

int main(void) {
    static const struct {
        const char *model, *tok;
        bool llamacpp; /* the fixtures hold llama.cpp's conversion */
    } models[] = {
        {"llama3-tiny", "llama3", true}, {"qwen2-tiny", "qwen3", true},  {"llama2-quant", "llama2", true},
        {"qwen3-tiny", "qwen3", false},  {"gemma3-tiny", "gemma3", false}, {"phi3-tiny", "llama2", false},
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        const char *m = models[i].model, *out = convert(m);
        if (!out) continue;
        if (models[i].llamacpp) {
            compare_with_llamacpp(m, out);
        } else {
            char cmd[12288];
            snprintf(cmd, sizeof cmd, "'%s' show '%s' >/dev/null", tu_bin(), out);
            run(cmd);
            check_logits(m, out);
        }
        /* llama2-quant: llama.cpp's flat scores; the same ids as llama.cpp's GGUF is the target. */
        check_tokenize(m, models[i].tok, out, NULL);
        remove(out);
    }
    return tu_finish("test_convert_tokenizer");
}
