/* Dequantization is bit-exact: every tensor of llama2-quant-f16.gguf and the 12 llama.cpp-made
 * quantized files, dequantized with slm_dequantize, must hash (sha256 of the float32 LE bytes) to
 * the f32_sha256 of reference-<Q>/dequant.json (gguf-py 0.15.0 == ggml's to_float), and match its
 * first8 values and spot values ("at") exactly. Covers F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS.
 *
 * A tensor whose bytes equal one already hashed (token_embd as Q6_K in ten files) reuses that
 * hash instead of dequantizing again. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "base/sha256.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "testutil.h"

static const char *const k_quants[] = {"f16",    "Q8_0",   "Q4_0",   "Q4_1", "Q5_0",   "Q5_1",  "Q2_K",
                                       "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
#define N_QUANTS (sizeof k_quants / sizeof k_quants[0])

typedef struct hashed {
    uint32_t type;
    const void *data; /* into a file kept open until the end */
    uint64_t nbytes;
    char hex[65];
} hashed;

static hashed g_seen[64];
static int g_n_seen = 0;
static int g_types_seen[SLM_DT_COUNT];

static char *read_text(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(fp);
    return buf;
}

/* Same bits: -0.0 vs 0.0 and NaN payloads matter for a bit-exact claim. */
static bool same_float(float a, double want) {
    float w = (float)want;
    return !memcmp(&a, &w, sizeof a);
}

static void check_tensor(const char *file, const gguf_tensor_info *t, const cJSON *ref) {
    const char *name = t->name;
    const cJSON *jtype = cJSON_GetObjectItem(ref, "type");
    const cJSON *jsha = cJSON_GetObjectItem(ref, "f32_sha256");
    const cJSON *jn = cJSON_GetObjectItem(ref, "n_elements");
    CHECK(cJSON_IsString(jtype) && cJSON_IsString(jsha) && cJSON_IsNumber(jn), "%s %s: bad reference entry", file,
          name);
    if (!cJSON_IsString(jtype) || !cJSON_IsString(jsha) || !cJSON_IsNumber(jn)) return;
    CHECK(!strcmp(slm_dtype_name(t->type), jtype->valuestring), "%s %s: type %s, reference says %s", file, name,
          slm_dtype_name(t->type), jtype->valuestring);
    CHECK((double)t->n_elements == jn->valuedouble, "%s %s: element count", file, name);
    g_types_seen[t->type] = 1;

    const hashed *hit = NULL;
    for (int s = 0; s < g_n_seen; s++) {
        if (g_seen[s].type == t->type && g_seen[s].nbytes == t->nbytes && !memcmp(g_seen[s].data, t->data, t->nbytes))
            hit = &g_seen[s];
    }
    float *y = malloc((size_t)t->n_elements * sizeof(float));
    CHECK(y != NULL, "out of memory");
    if (!y) return;
    slm_error err = {0};
    slm_status st = slm_dequantize(t->type, t->data, t->nbytes, y, (int64_t)t->n_elements, &err);
    CHECK(st == SLM_OK, "%s %s: %s", file, name, err.msg);
    if (st != SLM_OK) {
        free(y);
        return;
    }
    char hex[65];
    if (hit) {
        memcpy(hex, hit->hex, sizeof hex);
    } else {
        slm_sha256_hex(y, (size_t)t->n_elements * sizeof(float), hex);
        if (g_n_seen < 64) {
            hashed *h = &g_seen[g_n_seen++];
            h->type = t->type;
            h->data = t->data;
            h->nbytes = t->nbytes;
            memcpy(h->hex, hex, sizeof hex);
        }
    }
    CHECK(!strcmp(hex, jsha->valuestring), "%s %s (%s): f32_sha256 %s, want %s", file, name, jtype->valuestring, hex,
          jsha->valuestring);

    const cJSON *first8 = cJSON_GetObjectItem(ref, "first8");
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, first8) {
        if (i >= 8 || (uint64_t)i >= t->n_elements) break;
        CHECK(same_float(y[i], v->valuedouble), "%s %s: [%d] = %.9g, want %.9g", file, name, i, y[i], v->valuedouble);
        i++;
    }
    CHECK(i == 8 || (uint64_t)i == t->n_elements, "%s %s: first8 has %d values", file, name, i);
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(ref, "at")) {
        unsigned long long idx = strtoull(v->string, NULL, 10);
        CHECK(idx < t->n_elements, "%s %s: at index %llu out of range", file, name, idx);
        if (idx < t->n_elements) {
            CHECK(same_float(y[idx], v->valuedouble), "%s %s: [%llu] = %.9g, want %.9g", file, name, idx, y[idx],
                  v->valuedouble);
        }
    }
    free(y);
}

static void check_file(const char *quant, gguf_file **keep) {
    const char *dir = tu_path("%s/models/llama2-quant/gguf", tu_fixtures());
    char gguf_path[4096], json_path[4096];
    snprintf(gguf_path, sizeof gguf_path, "%s/llama2-quant-%s.gguf", dir, quant);
    snprintf(json_path, sizeof json_path, "%s/reference-%s/dequant.json", dir, quant);
    char *text = read_text(json_path);
    CHECK(text != NULL, "cannot read %s", json_path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(root != NULL, "cannot parse %s", json_path);
    slm_error err = {0};
    gguf_file *f = NULL;
    CHECK(gguf_open(gguf_path, &f, &err) == SLM_OK, "%s", err.msg);
    if (root && f) {
        const cJSON *tensors = cJSON_GetObjectItem(root, "tensors");
        CHECK(cJSON_GetArraySize(tensors) == gguf_n_tensors(f), "%s: %d reference tensors, file has %lld", quant,
              cJSON_GetArraySize(tensors), (long long)gguf_n_tensors(f));
        const cJSON *ref;
        cJSON_ArrayForEach(ref, tensors) {
            const cJSON *jname = cJSON_GetObjectItem(ref, "name");
            const gguf_tensor_info *t = cJSON_IsString(jname) ? gguf_find_tensor(f, jname->valuestring) : NULL;
            CHECK(t != NULL, "%s: tensor %s missing", quant, cJSON_IsString(jname) ? jname->valuestring : "?");
            if (t) check_tensor(quant, t, ref);
        }
    }
    cJSON_Delete(root);
    *keep = f; /* hashed tensors point into it */
}

int main(void) {
    gguf_file *files[N_QUANTS] = {0};
    for (size_t i = 0; i < N_QUANTS; i++)
        check_file(k_quants[i], &files[i]);
    const uint32_t want[] = {SLM_DT_F32,  SLM_DT_F16,  SLM_DT_Q8_0,   SLM_DT_Q4_0,  SLM_DT_Q4_1,
                             SLM_DT_Q5_0, SLM_DT_Q5_1, SLM_DT_Q2_K,   SLM_DT_Q3_K,  SLM_DT_Q4_K,
                             SLM_DT_Q5_K, SLM_DT_Q6_K, SLM_DT_IQ4_NL, SLM_DT_IQ4_XS};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK(g_types_seen[want[i]], "no fixture tensor of type %s was checked", slm_dtype_name(want[i]));
    }
    for (size_t i = 0; i < N_QUANTS; i++)
        gguf_close(files[i]);
    return tu_finish("test_quant_dequant");
}
