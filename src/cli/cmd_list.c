/* slm list [--json]: stored models with size, quant, parameter count and age. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/dtype.h"
#include "cli/cli.h"
#include "convert/recipe.h"
#include "gguf/gguf.h"
#include "store/store.h"

/* Parameters and dominant matrix type from the GGUF header (cheap: the data is only mapped). */
static void describe_blob(const char *path, uint64_t *params, char *type, size_t cap) {
    *params = 0;
    gguf_file *f = NULL;
    if (gguf_open(path, &f, NULL) != SLM_OK) return;
    uint64_t best = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        *params += t->n_elements;
        if (t->n_dims >= 2 && t->nbytes > best && slm_dtype_name(t->type)) {
            best = t->nbytes;
            snprintf(type, cap, "%s", slm_dtype_name(t->type));
        }
    }
    /* general.file_type names the mix users know ("Q4_K_M"); the biggest matrix (often the Q6_K
     * output) only when it is absent. */
    uint32_t ft;
    if (gguf_get_u32(f, "general.file_type", &ft) && strcmp(slm_ftype_name((slm_ftype)ft), "?"))
        snprintf(type, cap, "%s", slm_ftype_name((slm_ftype)ft));
    gguf_close(f);
}

static void human(double v, const char *const *units, double step, char *out, size_t cap) {
    int i = 0;
    while (v >= step && units[i + 1]) v /= step, i++;
    snprintf(out, cap, v < 10 && i ? "%.1f%s" : "%.0f%s", v, units[i]);
}

static void age(int64_t t, char *out, size_t cap) {
    int64_t d = (int64_t)time(NULL) - t;
    if (d < 60) snprintf(out, cap, "just now");
    else if (d < 3600) snprintf(out, cap, "%lld minutes ago", (long long)(d / 60));
    else if (d < 86400) snprintf(out, cap, "%lld hours ago", (long long)(d / 3600));
    else snprintf(out, cap, "%lld days ago", (long long)(d / 86400));
}

int cmd_list(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: slm list [--json]\nLists the models in the store ($SLM_HOME, default ~/.slm).\n");
        return CLI_EXIT_OK;
    }
    bool json = argc > 1 && !strcmp(argv[1], "--json");
    if (argc > 2 || (argc == 2 && !json)) return cli_usage_error("list", "unexpected argument");
    slm_store_entry *v = NULL;
    size_t n = 0;
    slm_error err = {0};
    if (slm_store_list(&v, &n, &err) != SLM_OK) return cli_fail("list", &err);
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (!json) printf("%-40s %10s %-8s %8s  %s\n", "NAME", "SIZE", "QUANT", "PARAMS", "MODIFIED");
    for (size_t i = 0; i < n; i++) {
        uint64_t params = 0;
        char type[32] = "";
        describe_blob(v[i].blob_path, &params, type, sizeof type);
        const char *quant = v[i].quant[0] ? v[i].quant : type;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", v[i].name);
            cJSON_AddNumberToObject(o, "size", (double)v[i].size);
            cJSON_AddStringToObject(o, "quant", quant);
            cJSON_AddNumberToObject(o, "params", (double)params);
            cJSON_AddNumberToObject(o, "modified", (double)v[i].modified);
            cJSON_AddStringToObject(o, "path", v[i].blob_path);
            cJSON_AddItemToArray(arr, o);
        } else {
            static const char *const bu[] = {" B", " KB", " MB", " GB", " TB", NULL};
            static const char *const pu[] = {"", "K", "M", "B", "T", NULL};
            char sz[32], pr[32], when[32];
            human((double)v[i].size, bu, 1000, sz, sizeof sz);
            human((double)params, pu, 1000, pr, sizeof pr);
            age(v[i].modified, when, sizeof when);
            printf("%-40s %10s %-8s %8s  %s\n", v[i].name, sz, quant[0] ? quant : "-", params ? pr : "-", when);
        }
    }
    if (json) {
        char *s = cJSON_Print(arr);
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(arr);
    }
    free(v);
    return CLI_EXIT_OK;
}
