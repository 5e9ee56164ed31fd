/* slm create NAME --from MODEL [--system TEXT] [--template FILE] [--param k=v ...]: a named model
 * with its own defaults, kept in its manifest (the blob is shared with MODEL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "store/store.h"

#define TEMPLATE_MAX_BYTES (256u << 10)

/* k=v -> params[k]; v as a JSON number/bool when it parses as one, else a string. "stop" may
 * repeat and becomes an array. */
static int add_param(cJSON *params, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || eq - kv > 63) return cli_usage_error("create", "--param wants KEY=VALUE, got '%s'", kv);
    char key[64];
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = 0;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return cli_usage_error("create", "--param key '%s' must be [a-z0-9_]", key);
    const char *v = eq + 1;
    if (!strcmp(key, "stop")) {
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(params, "stop");
        if (!arr) arr = cJSON_AddArrayToObject(params, "stop");
        cJSON_AddItemToArray(arr, cJSON_CreateString(v));
        return 0;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(params, key);
    char *end = NULL;
    double d = strtod(v, &end);
    if (*v && end && !*end) cJSON_AddNumberToObject(params, key, d);
    else if (!strcmp(v, "true") || !strcmp(v, "false")) cJSON_AddBoolToObject(params, key, v[0] == 't');
    else cJSON_AddStringToObject(params, key, v);
    return 0;
}

int cmd_create(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: slm create NAME --from MODEL [--system TEXT] [--template FILE] [--param KEY=VALUE ...]\n"
               "MODEL is a stored name or a GGUF file (copied into the store). Parameters (temperature, top_k,\n"
               "top_p, min_p, repeat_penalty, seed, num_ctx, num_predict, stop=...) become the model's defaults.\n");
        return CLI_EXIT_OK;
    }
    const char *name = NULL, *from = NULL, *system = NULL, *tmpl_file = NULL;
    cJSON *params = cJSON_CreateObject();
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc && rc == CLI_EXIT_OK; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--from") && has_val) from = argv[++i];
        else if (!strcmp(a, "--system") && has_val) system = argv[++i];
        else if (!strcmp(a, "--template") && has_val) tmpl_file = argv[++i];
        else if (!strcmp(a, "--param") && has_val) rc = add_param(params, argv[++i]);
        else if (a[0] == '-') rc = cli_usage_error("create", "unknown option or missing value: %s", a);
        else if (name) rc = cli_usage_error("create", "unexpected argument '%s'", a);
        else name = a;
    }
    if (rc == CLI_EXIT_OK && (!name || !from)) rc = cli_usage_error("create", "NAME and --from MODEL are required");
    char *tmpl = NULL;
    slm_error err = {0};
    if (rc == CLI_EXIT_OK && tmpl_file) {
        size_t len = 0;
        if (slm_file_read_all(tmpl_file, TEMPLATE_MAX_BYTES, &tmpl, &len, &err) != SLM_OK)
            rc = cli_fail(tmpl_file, &err);
    }
    if (rc == CLI_EXIT_OK) {
        if (slm_store_create(name, from, system, tmpl, params->child ? params : NULL, &err) != SLM_OK)
            rc = cli_fail("create", &err);
        else
            fprintf(stderr, "created %s\n", name);
    }
    free(tmpl);
    cJSON_Delete(params);
    return rc;
}
