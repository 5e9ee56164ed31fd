/* Chat templates against the transformers references in ../shared/fixtures:
 *   chat-templates/<id>/cases.json   every case renders byte-for-byte, or fails where the reference
 *                                    failed (with exactly the message for raise_exception);
 *   models/<m>/reference/chat.json   the model folder's own template (tokenizer_config.json) with
 *                                    its own bos/eos renders the recorded text. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "chat/chat_template.h"
#include "gguf/gguf.h"
#include "testutil.h"

static cJSON *read_json(const char *path) {
    char *text = NULL;
    size_t len = 0;
    slm_error err = {0};
    if (slm_file_read_all(path, 64u << 20, &text, &len, &err)) {
        CHECK(0, "%s: %s", path, err.msg);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    CHECK(j != NULL, "%s: bad JSON", path);
    return j;
}

static int n_cases_ok, n_cases;

static void test_template_dir(const char *id) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/chat-templates/%s", tu_fixtures(), id);
    char path[1200];
    snprintf(path, sizeof path, "%s/cases.json", dir);
    cJSON *doc = read_json(path);
    if (!doc) return;
    snprintf(path, sizeof path, "%s/template.jinja", dir);
    chat_template_source src;
    slm_error err = {0};
    if (chat_template_load(path, &src, &err)) {
        CHECK(0, "%s: %s", path, err.msg);
        cJSON_Delete(doc);
        return;
    }
    int64_t now = -1;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(doc, "frozen_now");
    CHECK(cJSON_IsString(fn) && jinja_parse_iso8601(fn->valuestring, &now), "%s: frozen_now", id);
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(doc, "context");
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(doc, "cases")) {
        const char *conv = cJSON_GetObjectItemCaseSensitive(cs, "conversation_id")->valuestring;
        bool agp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "add_generation_prompt"));
        cJSON *req = cJSON_Duplicate(ctx, 1);
        cJSON_AddItemToObject(req, "messages", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(cs, "messages"), 1));
        cJSON_AddBoolToObject(req, "add_generation_prompt", agp);
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(cs, "tools");
        if (tools) cJSON_AddItemToObject(req, "tools", cJSON_Duplicate(tools, 1));
        char *out = NULL;
        size_t out_len = 0;
        jinja_fail fail = {0};
        slm_error rerr = {0};
        slm_status st = chat_template_apply(&src, req, now, &out, &out_len, &fail, &rerr);
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(cs, "expected");
        const cJSON *experr = cJSON_GetObjectItemCaseSensitive(cs, "expected_error");
        n_cases++;
        if (cJSON_IsString(exp)) {
            bool ok = st == SLM_OK && out_len == strlen(exp->valuestring) && !memcmp(out, exp->valuestring, out_len);
            CHECK(ok, "%s/%s agp=%d: %s", id, conv, agp, st ? rerr.msg : "output differs from the reference");
            if (!ok && st == SLM_OK) {
                size_t i = 0;
                while (i < out_len && out[i] == exp->valuestring[i]) i++;
                fprintf(stderr, "  first difference at byte %zu: got \"%.60s\" want \"%.60s\"\n", i, out + i,
                        exp->valuestring + (i < strlen(exp->valuestring) ? i : 0));
            }
            n_cases_ok += ok;
        } else {
            const char *kind = cJSON_GetObjectItemCaseSensitive(experr, "kind")->valuestring;
            const char *msg = cJSON_GetObjectItemCaseSensitive(experr, "message")->valuestring;
            bool ok = st != SLM_OK;
            if (!strcmp(kind, "raise_exception")) ok = ok && fail.raised && !strcmp(fail.message, msg);
            else ok = ok && !fail.raised;
            CHECK(ok, "%s/%s agp=%d: expected %s error '%s', got %s", id, conv, agp, kind, msg,
                  st ? rerr.msg : "success");
            CHECK(!st || fail.line > 0, "%s/%s: error names no template line", id, conv);
            n_cases_ok += ok;
        }
        free(out);
        cJSON_Delete(req);
    }
    chat_template_source_free(&src);
    cJSON_Delete(doc);
}

static void test_all_templates(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/chat-templates", tu_fixtures());
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    if (!d) return;
    int n_dirs = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[1300];
        snprintf(p, sizeof p, "%s/%s/cases.json", dir, e->d_name);
        if (!slm_path_exists(p)) continue;
        n_dirs++;
        test_template_dir(e->d_name);
    }
    closedir(d);
    CHECK(n_dirs == 13, "expected 13 template folders, found %d", n_dirs);
    CHECK(n_cases == 260, "expected 260 cases, ran %d", n_cases);
    fprintf(stderr, "chat templates: %d/%d cases match the references\n", n_cases_ok, n_cases);
}

/* The model folders' own templates, bos/eos taken from tokenizer_config.json. */
static void test_model_folders(void) {
    static const char *const models[] = {"gemma3-tiny", "llama3-tiny", "qwen2-tiny", "qwen3-tiny", "phi3-tiny", "llama2-quant"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        cJSON *ref = read_json(tu_path("%s/models/%s/reference/chat.json", tu_fixtures(), models[i]));
        if (!ref) continue;
        chat_template_source src;
        slm_error err = {0};
        slm_status st = chat_template_load(tu_path("%s/models/%s", tu_fixtures(), models[i]), &src, &err);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(ref, "text");
        if (!cJSON_IsString(text)) { /* no template in that tokenizer: loading must say so */
            CHECK(st == SLM_E_NOT_FOUND, "%s: expected 'no chat template', got %s", models[i], st ? err.msg : "a template");
            if (!st) chat_template_source_free(&src);
            cJSON_Delete(ref);
            continue;
        }
        CHECK(st == SLM_OK, "%s: %s", models[i], err.msg);
        if (st) {
            cJSON_Delete(ref);
            continue;
        }
        cJSON *req = cJSON_CreateObject();
        cJSON_AddItemToObject(req, "messages", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ref, "messages"), 1));
        char *out = NULL;
        size_t out_len = 0;
        st = chat_template_apply(&src, req, -1, &out, &out_len, NULL, &err);
        CHECK(st == SLM_OK && !strcmp(out, text->valuestring), "%s: %s\n got: %s\nwant: %s", models[i],
              st ? err.msg : "differs", out ? out : "", text->valuestring);
        free(out);
        cJSON_Delete(req);
        chat_template_source_free(&src);
        cJSON_Delete(ref);
    }
}

/* A GGUF carrying tokenizer.chat_template: the template and bos/eos come from the file. Uses the
 * Llama 3.1 fixture (its context's bos/eos are the tokens written here) and its first case. */
static void test_gguf_source(void) {
    const char *id = "meta-llama-Llama-3.1-8B-Instruct";
    char *tmpl = NULL;
    size_t tlen = 0;
    slm_error err = {0};
    CHECK(slm_file_read_all(tu_path("%s/chat-templates/%s/template.jinja", tu_fixtures(), id), 1u << 20, &tmpl, &tlen, &err) == SLM_OK,
          "%s", err.msg);
    cJSON *doc = read_json(tu_path("%s/chat-templates/%s/cases.json", tu_fixtures(), id));
    if (!tmpl || !doc) {
        free(tmpl);
        cJSON_Delete(doc);
        return;
    }
    const char *tokens[] = {"<|begin_of_text|>", "hello", "<|eot_id|>"};
    gguf_writer *w = NULL;
    const char *path = tu_path("%s/test_chat_template.gguf", tu_tmpdir());
    bool ok = gguf_writer_new(&w, &err) == SLM_OK && gguf_writer_add_str(w, "general.architecture", "llama", &err) == SLM_OK &&
              gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, 3, &err) == SLM_OK &&
              gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 0, &err) == SLM_OK &&
              gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2, &err) == SLM_OK &&
              gguf_writer_add_strn(w, "tokenizer.chat_template", tmpl, tlen, &err) == SLM_OK &&
              gguf_writer_write(w, path, &err) == SLM_OK;
    gguf_writer_free(w);
    CHECK(ok, "writing %s: %s", path, err.msg);
    chat_template_source src;
    if (ok && chat_template_load(path, &src, &err) == SLM_OK) {
        CHECK(src.bos_token && !strcmp(src.bos_token, tokens[0]), "bos from GGUF");
        CHECK(src.eos_token && !strcmp(src.eos_token, tokens[2]), "eos from GGUF");
        CHECK(src.len == tlen && !memcmp(src.source, tmpl, tlen), "template bytes from GGUF");
        const cJSON *cs = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "cases"), 0);
        cJSON *req = cJSON_CreateObject(); /* no bos_token/eos_token: the GGUF's are used */
        cJSON_AddItemToObject(req, "messages", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(cs, "messages"), 1));
        cJSON_AddBoolToObject(req, "add_generation_prompt", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "add_generation_prompt")));
        char *out = NULL;
        size_t out_len = 0;
        int64_t now = 0;
        jinja_parse_iso8601(cJSON_GetObjectItemCaseSensitive(doc, "frozen_now")->valuestring, &now);
        slm_status st = chat_template_apply(&src, req, now, &out, &out_len, NULL, &err);
        const char *want = cJSON_GetObjectItemCaseSensitive(cs, "expected")->valuestring;
        CHECK(st == SLM_OK && !strcmp(out, want), "GGUF template render: %s", st ? err.msg : "differs");
        free(out);
        cJSON_Delete(req);
        chat_template_source_free(&src);
    } else {
        CHECK(0, "loading %s: %s", path, err.msg);
    }
    free(tmpl);
    cJSON_Delete(doc);
}

int main(void) {
    test_gguf_source();
    test_all_templates();
    test_model_folders();
    return tu_finish("test_chat_templates");
}
