/* Short model names (`slm pull qwen2.5:0.5b`) -> public Hugging Face GGUF repos. The exact file is
 * chosen at pull time by matching the quant tag against the repo's file list, so a repo renaming
 * its files does not break the catalog. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

static const slm_catalog_entry k_catalog[] = {
    {"llama3.2:1b", "bartowski/Llama-3.2-1B-Instruct-GGUF", "Q4_K_M"},
    {"llama3.2:3b", "bartowski/Llama-3.2-3B-Instruct-GGUF", "Q4_K_M"},
    {"qwen2.5:0.5b", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "Q4_K_M"},
    {"qwen2.5:1.5b", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "Q4_K_M"},
    {"qwen2.5:3b", "Qwen/Qwen2.5-3B-Instruct-GGUF", "Q4_K_M"},
    /* Qwen's own 7B repo splits every quant in parts; bartowski's has single files. */
    {"qwen2.5:7b", "bartowski/Qwen2.5-7B-Instruct-GGUF", "Q4_K_M"},
    {"qwen3:0.6b", "unsloth/Qwen3-0.6B-GGUF", "Q4_K_M"},
    {"qwen3:1.7b", "unsloth/Qwen3-1.7B-GGUF", "Q4_K_M"},
    {"qwen3:4b", "unsloth/Qwen3-4B-GGUF", "Q4_K_M"},
    {"qwen3:8b", "unsloth/Qwen3-8B-GGUF", "Q4_K_M"},
    {"gemma3:1b", "ggml-org/gemma-3-1b-it-GGUF", "Q4_K_M"},
    {"gemma3:4b", "unsloth/gemma-3-4b-it-GGUF", "Q4_K_M"},
    {"gemma3:12b", "unsloth/gemma-3-12b-it-GGUF", "Q4_K_M"},
    {"phi4-mini", "unsloth/Phi-4-mini-instruct-GGUF", "Q4_K_M"},
    {"phi4", "unsloth/phi-4-GGUF", "Q4_K_M"},
    {"smollm2:135m", "bartowski/SmolLM2-135M-Instruct-GGUF", "Q4_K_M"},
    {"smollm2:360m", "bartowski/SmolLM2-360M-Instruct-GGUF", "Q4_K_M"},
    {"smollm2:1.7b", "bartowski/SmolLM2-1.7B-Instruct-GGUF", "Q4_K_M"},
    {"mistral:7b", "bartowski/Mistral-7B-Instruct-v0.3-GGUF", "Q4_K_M"},
};
#define N_CATALOG (sizeof k_catalog / sizeof k_catalog[0])

const slm_catalog_entry *slm_catalog_entries(size_t *n_out) {
    if (n_out) *n_out = N_CATALOG;
    return k_catalog;
}

/* A quant tag: 2..23 chars of [A-Za-z0-9_]. */
static bool quant_tag_ok(const char *q) {
    size_t n = strlen(q);
    if (n < 2 || n > 23) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)q[i]) && q[i] != '_') return false;
    return true;
}

static void copy_upper(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = (char)toupper((unsigned char)src[i]);
    if (cap) dst[i] = 0;
}

bool slm_catalog_lookup(const char *name, const slm_catalog_entry **entry, char *quant, size_t cap) {
    if (!name) return false;
    for (size_t i = 0; i < N_CATALOG; i++) {
        const char *k = k_catalog[i].name;
        size_t kl = strlen(k);
        if (strncasecmp(name, k, kl) != 0) continue;
        const char *rest = name + kl;
        if (*rest == 0) {
            *entry = &k_catalog[i];
            copy_upper(quant, cap, k_catalog[i].quant);
            return true;
        }
        if ((*rest == ':' || *rest == '-') && quant_tag_ok(rest + 1)) {
            *entry = &k_catalog[i];
            copy_upper(quant, cap, rest + 1);
            return true;
        }
    }
    return false;
}

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* Does s contain tag, case-insensitive, with non-alphanumerics (or the ends) on both sides?
 * ("Q4_K" must not match "Q4_K_M": '_' counts as part of the tag on the right.) */
static bool has_tag(const char *s, const char *tag) {
    size_t n = strlen(s), t = strlen(tag);
    for (size_t i = 0; i + t <= n; i++) {
        if (strncasecmp(s + i, tag, t) != 0) continue;
        bool left = i == 0 || !isalnum((unsigned char)s[i - 1]);
        char r = s[i + t];
        bool right = r == 0 || (!isalnum((unsigned char)r) && r != '_');
        if (left && right) return true;
    }
    return false;
}

static bool is_split_part(const char *s) {
    /* "-00001-of-00003.gguf" */
    const char *p = strstr(s, "-of-");
    return p && p - s >= 6 && isdigit((unsigned char)p[-1]) && isdigit((unsigned char)p[4]);
}

int slm_catalog_pick_file(const char *const *files, size_t n, const char *quant) {
    int split = -1;
    for (size_t i = 0; i < n; i++) {
        const char *f = files[i];
        const char *base = strrchr(f, '/');
        base = base ? base + 1 : f;
        if (!ends_with_ci(base, ".gguf") || strncasecmp(base, "mmproj", 6) == 0) continue;
        if (!has_tag(base, quant)) continue;
        if (is_split_part(base)) {
            split = (int)i;
            continue;
        }
        return (int)i;
    }
    return split >= 0 ? -2 : -1;
}
