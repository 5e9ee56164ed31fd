/* slm show MODEL [--json] [--ctx N] [--kv f16|f32|q8_0] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "cli/cli.h"
#include "model/loader.h"
#include "model/model_info.h"
#include "store/store.h"

static const char k_help[] =
    "usage: slm show MODEL [--json] [--ctx N] [--kv f16|f32|q8_0]\n\n"
    "Describe a model (a .gguf file or a Hugging Face folder): architecture, parameter count,\n"
    "tensor types, context length, rope settings, tokenizer, chat template, file size, and an\n"
    "estimate of the RAM needed to run it at a given context.\n\n"
    "options:\n"
    "  --json      print one JSON object instead of text\n"
    "  --ctx N     context length for the RAM estimate (default: min(training context, 4096))\n"
    "  --kv TYPE   KV cache type for the RAM estimate (default f16)\n";

static void human_count(double v, char *buf, size_t cap) {
    const char *units[] = {"", "K", "M", "B", "T"};
    int u = 0;
    while (v >= 1000 && u < 4) { v /= 1000; u++; }
    snprintf(buf, cap, u ? "%.2f%s" : "%.0f%s", v, units[u]);
}

static void human_bytes(double v, char *buf, size_t cap) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) { v /= 1024; u++; }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void print_text(const slm_model *m, const slm_model_info *info, const slm_ram_estimate *ram, const char *kv) {
    const slm_hparams *hp = &m->hp;
    char a[32], b[32], c[32], d[32];
    printf("  Model\n");
    printf("    %-22s %s\n", "path", m->source_path);
    printf("    %-22s %s\n", "format", m->source_kind == SLM_SOURCE_GGUF ? "GGUF" : "Hugging Face folder");
    if (hp->name[0]) printf("    %-22s %s\n", "name", hp->name);
    printf("    %-22s %s\n", "architecture", hp->arch_name);
    human_count((double)info->n_params, a, sizeof a);
    printf("    %-22s %s\n", "parameters", a);
    printf("    %-22s %s\n", "quantization", info->file_type);
    human_bytes((double)info->file_bytes, a, sizeof a);
    printf("    %-22s %s (%llu bytes)\n", "file size", a, (unsigned long long)info->file_bytes);
    printf("    %-22s %lld\n", "context length", (long long)hp->n_ctx_train);
    printf("    %-22s %lld\n", "embedding length", (long long)hp->n_embd);
    printf("    %-22s %lld\n", "layers", (long long)hp->n_layer);
    printf("    %-22s %lld / %lld (head dim %lld)\n", "heads / kv heads", (long long)hp->n_head,
           (long long)hp->n_head_kv, (long long)hp->head_dim);
    printf("    %-22s %lld\n", "feed-forward length", (long long)hp->n_ff);
    printf("    %-22s %s\n", "tied embeddings", hp->tied_output ? "yes" : "no");
    if (hp->sliding_window > 0) printf("    %-22s %lld\n", "sliding window", (long long)hp->sliding_window);
    printf("\n  RoPE\n");
    printf("    %-22s %g\n", "base frequency", (double)hp->rope_theta);
    if (hp->rope_theta_local > 0) printf("    %-22s %g\n", "local base frequency", (double)hp->rope_theta_local);
    printf("    %-22s %lld of %lld\n", "rotated dimensions", (long long)hp->n_rot, (long long)hp->head_dim);
    printf("    %-22s %s\n", "pair layout", hp->rope_neox ? "neox (rotate half)" : "normal (adjacent)");
    const char *sc[] = {"none", "linear", "llama3", "longrope"};
    printf("    %-22s %s\n", "scaling", sc[hp->rope_scaling]);
    printf("\n  Tokenizer\n");
    printf("    %-22s %s%s%s%s\n", "type", info->tokenizer_model[0] ? info->tokenizer_model : "none",
           info->tokenizer_pre[0] ? " (pre: " : "", info->tokenizer_pre, info->tokenizer_pre[0] ? ")" : "");
    if (info->tokenizer_size >= 0) printf("    %-22s %lld\n", "tokens", (long long)info->tokenizer_size);
    printf("    %-22s %s\n", "chat template", info->has_chat_template ? "yes" : "no");
    printf("\n  Tensors (%d)\n", info->n_tensors);
    for (int i = 0; i < info->n_types; i++) {
        const char *n = slm_dtype_name(info->types[i].type);
        human_bytes((double)info->types[i].n_bytes, a, sizeof a);
        printf("    %-22s %u tensors, %s\n", n ? n : "?", info->types[i].n_tensors, a);
    }
    human_bytes((double)ram->weights, a, sizeof a);
    human_bytes((double)ram->kv_cache, b, sizeof b);
    human_bytes((double)ram->scratch, c, sizeof c);
    human_bytes((double)ram->total, d, sizeof d);
    printf("\n  RAM estimate at %lld context (%s KV cache)\n", (long long)ram->n_ctx, kv);
    printf("    %-22s %s\n    %-22s %s\n    %-22s %s\n    %-22s %s\n", "weights", a, "KV cache", b, "scratch", c,
           "total", d);
}

static void print_manifest(const cJSON *m) {
    if (!m) return;
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(m, "system");
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(m, "template");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(m, "params");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(m, "from");
    if (!sys && !tmpl && !params) return;
    printf("\n  Defaults (slm create)\n");
    if (cJSON_IsString(from)) printf("    %-22s %s\n", "from", from->valuestring);
    if (cJSON_IsString(sys)) printf("    %-22s %s\n", "system", sys->valuestring);
    if (cJSON_IsString(tmpl)) printf("    %-22s %zu bytes\n", "template", strlen(tmpl->valuestring));
    for (const cJSON *it = params ? params->child : NULL; it; it = it->next) {
        char *v = cJSON_PrintUnformatted(it);
        printf("    %-22s %s\n", it->string, v ? v : "?");
        free(v);
    }
}

int cmd_show(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    const char *path = NULL, *kv = "f16";
    bool json = false;
    long long n_ctx = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--ctx") && i + 1 < argc) {
            char *end;
            n_ctx = strtoll(argv[++i], &end, 10);
            if (*end || n_ctx <= 0 || n_ctx > (1ll << 24)) return cli_usage_error("show", "bad --ctx value '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--kv") && i + 1 < argc) {
            kv = argv[++i];
            if (strcmp(kv, "f16") && strcmp(kv, "f32") && strcmp(kv, "q8_0"))
                return cli_usage_error("show", "--kv must be f16, f32 or q8_0");
        } else if (argv[i][0] == '-') {
            return cli_usage_error("show", "unknown option '%s'", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_usage_error("show", "more than one model given");
        }
    }
    if (!path) return cli_usage_error("show", "no model given");

    /* A store name made with `slm create` has its own defaults: show them too. */
    cJSON *manifest = NULL;
    slm_store_manifest_read(path, &manifest, NULL);
    int rc;
    if (!(path = cli_model_path(path, false, &rc))) return rc;
    slm_error err = {0};
    slm_model *m = NULL;
    if (slm_model_load(path, &m, &err)) return cli_fail(path, &err);
    slm_model_info info;
    if (slm_model_describe(m, &info, &err)) {
        slm_model_free(m);
        return cli_fail(path, &err);
    }
    if (n_ctx == 0) n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    double kv_bytes = !strcmp(kv, "f32") ? 4.0 : !strcmp(kv, "q8_0") ? 34.0 / 32.0 : 2.0;
    slm_ram_estimate ram = slm_estimate_ram(m, n_ctx, kv_bytes, 512);
    if (json) {
        cJSON *o = slm_model_info_json(m, &info, &ram);
        if (o && manifest) cJSON_AddItemToObject(o, "store", cJSON_Duplicate(manifest, 1));
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        print_text(m, &info, &ram, kv);
        print_manifest(manifest);
    }
    cJSON_Delete(manifest);
    slm_model_free(m);
    return CLI_EXIT_OK;
}
