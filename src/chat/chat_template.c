/* Chat template sources (GGUF, HF folder, .jinja file) and request -> variables -> prompt. */
#include "chat/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "gguf/gguf.h"

#define TEMPLATE_FILE_MAX (8u << 20)
#define TOKENIZER_CONFIG_MAX (64u << 20)

void chat_template_source_free(chat_template_source *s) {
    if (!s) return;
    free(s->source);
    free(s->bos_token);
    free(s->eos_token);
    memset(s, 0, sizeof *s);
}

static char *dup_n(const char *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* tokenizer_config.json token entries are "text" or {"content": "text", ...}. */
static char *token_text(const cJSON *v) {
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) && v->valuestring ? dup_n(v->valuestring, strlen(v->valuestring)) : NULL;
}

static slm_status load_hf(const char *dir, chat_template_source *out, slm_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char *text = NULL;
    size_t len = 0;
    cJSON *cfg = NULL;
    if (slm_path_exists(path)) {
        slm_status st = slm_file_read_all(path, TOKENIZER_CONFIG_MAX, &text, &len, err);
        if (st) return st;
        cfg = cJSON_ParseWithLength(text, len);
        free(text);
        if (!cfg) return slm_fail(err, SLM_E_FORMAT, "%s: not valid JSON", path);
        out->bos_token = token_text(cJSON_GetObjectItemCaseSensitive(cfg, "bos_token"));
        out->eos_token = token_text(cJSON_GetObjectItemCaseSensitive(cfg, "eos_token"));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        if (cJSON_IsArray(t)) { /* named templates: take "default" */
            const cJSON *e, *pick = NULL;
            cJSON_ArrayForEach(e, t) {
                const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
                if (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default")) pick = e;
            }
            t = pick ? cJSON_GetObjectItemCaseSensitive(pick, "template") : NULL;
        }
        if (cJSON_IsString(t) && t->valuestring) {
            out->len = strlen(t->valuestring);
            out->source = dup_n(t->valuestring, out->len);
        }
        cJSON_Delete(cfg);
        if (cJSON_IsString(t) && !out->source) return slm_fail(err, SLM_E_NOMEM, "out of memory");
        if (out->source) return SLM_OK;
    }
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (slm_path_exists(path)) return slm_file_read_all(path, TEMPLATE_FILE_MAX, &out->source, &out->len, err);
    return slm_fail(err, SLM_E_NOT_FOUND, "%s: the model has no chat template", dir);
}

static char *gguf_token(const gguf_file *f, const char *id_key) {
    uint32_t id;
    gguf_arr toks;
    gguf_str s;
    if (!gguf_get_u32(f, id_key, &id) || !gguf_get_arr(f, "tokenizer.ggml.tokens", &toks) ||
        !gguf_arr_str(f, &toks, id, &s))
        return NULL;
    return dup_n(s.ptr, (size_t)s.len);
}

static slm_status load_gguf(const char *path, chat_template_source *out, slm_error *err) {
    gguf_file *f = NULL;
    slm_status st = gguf_open(path, &f, err);
    if (st) return st;
    gguf_str s;
    if (!gguf_get_str(f, "tokenizer.chat_template", &s)) {
        gguf_close(f);
        return slm_fail(err, SLM_E_NOT_FOUND, "%s: the model has no chat template (tokenizer.chat_template)", path);
    }
    if (s.len > TEMPLATE_FILE_MAX) {
        gguf_close(f);
        return slm_fail(err, SLM_E_RANGE, "%s: chat template too large", path);
    }
    out->source = dup_n(s.ptr, (size_t)s.len);
    out->len = (size_t)s.len;
    out->bos_token = gguf_token(f, "tokenizer.ggml.bos_token_id");
    out->eos_token = gguf_token(f, "tokenizer.ggml.eos_token_id");
    gguf_close(f);
    if (!out->source) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    return SLM_OK;
}

slm_status chat_template_load(const char *path, chat_template_source *out, slm_error *err) {
    memset(out, 0, sizeof *out);
    slm_status st;
    if (slm_path_is_dir(path)) {
        st = load_hf(path, out, err);
    } else {
        FILE *fp = fopen(path, "rb");
        if (!fp) return slm_fail(err, SLM_E_IO, "%s: cannot open", path);
        char magic[4] = {0};
        size_t n = fread(magic, 1, 4, fp);
        fclose(fp);
        if (n == 4 && !memcmp(magic, "GGUF", 4)) st = load_gguf(path, out, err);
        else st = slm_file_read_all(path, TEMPLATE_FILE_MAX, &out->source, &out->len, err);
    }
    if (st) chat_template_source_free(out);
    return st;
}

slm_status chat_template_vars(const cJSON *request, const chat_template_source *src, cJSON **out, slm_error *err) {
    *out = NULL;
    if (!cJSON_IsObject(request)) return slm_fail(err, SLM_E_INVALID_ARG, "request must be a JSON object");
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(request, "messages")))
        return slm_fail(err, SLM_E_INVALID_ARG, "request needs a \"messages\" array");
    cJSON *v = cJSON_Duplicate(request, 1);
    if (!v) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    bool ok = true;
    if (!cJSON_HasObjectItem(v, "tools")) ok = ok && cJSON_AddNullToObject(v, "tools");
    if (!cJSON_HasObjectItem(v, "documents")) ok = ok && cJSON_AddNullToObject(v, "documents");
    if (!cJSON_HasObjectItem(v, "add_generation_prompt")) ok = ok && cJSON_AddTrueToObject(v, "add_generation_prompt");
    if (src && src->bos_token && !cJSON_HasObjectItem(v, "bos_token"))
        ok = ok && cJSON_AddStringToObject(v, "bos_token", src->bos_token);
    if (src && src->eos_token && !cJSON_HasObjectItem(v, "eos_token"))
        ok = ok && cJSON_AddStringToObject(v, "eos_token", src->eos_token);
    if (!ok) {
        cJSON_Delete(v);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    *out = v;
    return SLM_OK;
}

slm_status chat_template_apply(const chat_template_source *src, const cJSON *request, int64_t now, char **out,
                               size_t *out_len, jinja_fail *fail, slm_error *err) {
    *out = NULL;
    cJSON *vars = NULL;
    slm_status st = chat_template_vars(request, src, &vars, err);
    if (st) return st;
    jinja_template *t = NULL;
    st = jinja_parse(src->source, src->len, &t, err);
    if (!st) {
        jinja_render_opts o = {.now = now};
        st = jinja_render(t, vars, &o, out, out_len, fail, err);
    }
    jinja_free(t);
    cJSON_Delete(vars);
    return st;
}
