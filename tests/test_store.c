/* Store library: name validation, catalog lookup and file choice, manifests, resolve, list, cp,
 * rm and create, in a scratch $SLM_HOME (the network side is tests/test_store.sh). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "store/store.h"
#include "testutil.h"

static void test_names(void) {
    const char *good[] = {"qwen2.5:0.5b", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "mine/copy:v1", "a",
                          "phi4-mini"};
    const char *bad[] = {"", "../x", "a/../b", "/etc/passwd", "a//b", ".hidden", "-x", "a/", "x;rm", "a b",
                         "a\nb", "hf.co/a/b:../x", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(slm_store_check_name(good[i], NULL) == SLM_OK, "good name '%s' refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        slm_error err = {0};
        CHECK(slm_store_check_name(bad[i], &err) == SLM_E_INVALID_ARG && err.msg[0], "bad name '%s' accepted", bad[i]);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK(slm_store_check_name(longname, NULL) != SLM_OK, "overlong name accepted");
}

static void test_catalog(void) {
    const slm_catalog_entry *e = NULL;
    char q[32];
    CHECK(slm_catalog_lookup("qwen2.5:0.5b", &e, q, sizeof q) && !strcmp(e->repo, "Qwen/Qwen2.5-0.5B-Instruct-GGUF") &&
              !strcmp(q, "Q4_K_M"),
          "qwen2.5:0.5b");
    CHECK(slm_catalog_lookup("qwen2.5:0.5b-q8_0", &e, q, sizeof q) && !strcmp(q, "Q8_0"), "dash quant: %s", q);
    CHECK(slm_catalog_lookup("phi4-mini:q5_k_m", &e, q, sizeof q) && !strcmp(e->name, "phi4-mini") &&
              !strcmp(q, "Q5_K_M"),
          "phi4-mini:q5_k_m -> %s", e ? e->name : "?");
    CHECK(slm_catalog_lookup("phi4", &e, q, sizeof q) && !strcmp(e->name, "phi4"), "phi4");
    CHECK(!slm_catalog_lookup("qwen2.5:0.5", &e, q, sizeof q), "prefix of a catalog name accepted");
    CHECK(!slm_catalog_lookup("qwen2.5:0.5b:../x", &e, q, sizeof q), "bad quant tag accepted");
    size_t n = 0;
    const slm_catalog_entry *all = slm_catalog_entries(&n);
    CHECK(n >= 19, "catalog has %zu entries", n);
    for (size_t i = 0; i < n; i++)
        CHECK(strchr(all[i].repo, '/') && slm_store_check_name(all[i].name, NULL) == SLM_OK, "entry %s", all[i].name);

    const char *files[] = {"README.md", "mmproj-model-Q4_K_M.gguf", "Model-Q4_K_M-00001-of-00002.gguf",
                           "Model-Q4_K.gguf", "Model-Q4_K_M.gguf", "sub/model-q8_0.gguf", "Model-IQ4_XS.gguf"};
    size_t nf = sizeof files / sizeof *files;
    CHECK(slm_catalog_pick_file(files, nf, "Q4_K_M") == 4, "Q4_K_M picks the single file, not mmproj or parts");
    CHECK(slm_catalog_pick_file(files, nf, "Q4_K") == 3, "Q4_K must not match Q4_K_M");
    CHECK(slm_catalog_pick_file(files, nf, "Q8_0") == 5, "case-insensitive, in a folder");
    CHECK(slm_catalog_pick_file(files, nf, "Q4_XS") == -1, "Q4_XS must not match IQ4_XS");
    CHECK(slm_catalog_pick_file(files, nf, "iq4_xs") == 6, "IQ4_XS");
    CHECK(slm_catalog_pick_file(files, 3, "Q4_K_M") == -2, "only split parts -> -2");
    CHECK(slm_catalog_pick_file(files, nf, "Q2_K") == -1, "absent quant");
}

static void test_store_ops(void) {
    const char *home = tu_path("%s/store-unit-%d", tu_tmpdir(), (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    CHECK(system(cmd) == 0, "rm");
    setenv("SLM_HOME", home, 1);
    const char *gguf = tu_path("%s/models/llama2-quant/gguf/llama2-quant-Q2_K.gguf", tu_fixtures());
    char path[SLM_STORE_PATH_MAX];
    slm_error err = {0};

    /* Paths pass through; unknown names are NOT_FOUND with a hint. */
    CHECK(slm_store_resolve(gguf, path, sizeof path, &err) == SLM_OK && !strcmp(path, gguf), "path pass-through");
    CHECK(slm_store_resolve("nosuch:1b", path, sizeof path, &err) == SLM_E_NOT_FOUND && strstr(err.msg, "slm pull"),
          "unknown: %s", err.msg);

    /* create from a file copies it into blobs/ named by its sha256. */
    cJSON *params = cJSON_Parse("{\"temperature\":0.5,\"num_ctx\":2048}");
    CHECK(slm_store_create("base", gguf, NULL, NULL, NULL, &err) == SLM_OK, "create base: %s", err.msg);
    CHECK(slm_store_create("tuned:v2", "base", "You are terse.", "{{x}}", params, &err) == SLM_OK, "create: %s",
          err.msg);
    cJSON_Delete(params);
    CHECK(slm_store_resolve("tuned:v2", path, sizeof path, &err) == SLM_OK &&
              strstr(path, "/blobs/sha256-") != NULL,
          "resolve: %s", err.msg);
    /* The blob must be byte-identical to the source file. */
    slm_mapped_file a = {0}, b = {0};
    CHECK(slm_file_map(path, &a, &err) == SLM_OK && slm_file_map(gguf, &b, &err) == SLM_OK && a.size == b.size &&
              !memcmp(a.data, b.data, a.size),
          "blob differs from source");
    slm_file_unmap(&a);
    slm_file_unmap(&b);
    cJSON *m = NULL;
    CHECK(slm_store_manifest_read("tuned:v2", &m, &err) == SLM_OK, "manifest: %s", err.msg);
    if (m) {
        const cJSON *sys = cJSON_GetObjectItemCaseSensitive(m, "system");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "params");
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(m, "from");
        CHECK(cJSON_IsString(sys) && !strcmp(sys->valuestring, "You are terse."), "system");
        CHECK(cJSON_GetObjectItemCaseSensitive(p, "num_ctx") &&
                  cJSON_GetObjectItemCaseSensitive(p, "num_ctx")->valuedouble == 2048,
              "params");
        CHECK(cJSON_IsString(from) && !strcmp(from->valuestring, "base"), "from");
        cJSON_Delete(m);
    }
    /* The manifest file name is escaped: no ':' or '/' reaches the file system. */
    CHECK(slm_path_exists(tu_path("%s/manifests/tuned%%3Av2.json", home)), "escaped manifest file");

    CHECK(slm_store_copy("tuned:v2", "other/name", &err) == SLM_OK, "cp: %s", err.msg);
    CHECK(slm_store_copy("tuned:v2", "other/name", &err) != SLM_OK, "cp overwrote");
    CHECK(slm_store_copy("tuned:v2", "../../x", &err) == SLM_E_INVALID_ARG, "cp to traversal");
    slm_store_entry *v = NULL;
    size_t n = 0;
    CHECK(slm_store_list(&v, &n, &err) == SLM_OK && n == 3, "list: %zu", n);
    if (n == 3)
        CHECK(!strcmp(v[0].name, "base") && !strcmp(v[1].name, "other/name") && v[2].has_defaults &&
                  v[0].size == 8020096,
              "list content");
    free(v);

    /* A malformed manifest is skipped by list and reported by resolve. */
    CHECK(slm_file_write_atomic(tu_path("%s/manifests/broken.json", home), "{\"blob\":\"../../etc\"}", 20, &err) ==
              SLM_OK,
          "write");
    CHECK(slm_store_list(&v, &n, &err) == SLM_OK && n == 3, "broken manifest listed");
    free(v);
    CHECK(slm_store_resolve("broken", path, sizeof path, &err) == SLM_E_FORMAT, "broken resolve: %s", err.msg);

    CHECK(slm_store_remove("base", &err) == SLM_OK, "rm base");
    CHECK(slm_store_resolve("tuned:v2", path, sizeof path, &err) == SLM_OK, "blob kept for other names");
    CHECK(slm_store_remove("tuned:v2", &err) == SLM_OK && slm_store_remove("other/name", &err) == SLM_OK, "rm");
    CHECK(!slm_path_exists(path), "last rm deletes the blob");
    CHECK(slm_store_remove("other/name", &err) == SLM_E_NOT_FOUND, "rm twice");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
    test_names();
    test_catalog();
    test_store_ops();
    return tu_finish("test_store");
}
