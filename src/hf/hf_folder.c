/* Hugging Face folder: JSON side files, single or sharded safetensors, GGUF-named tensor views.
 * Sharded folders are cross-checked against model.safetensors.index.json: every listed shard
 * exists, every tensor sits in the shard the index names, nothing is missing or duplicated. */
#include "hf/hf_folder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "hf/hf_config.h"
#include "hf/safetensors.h"

#define HF_MAX_JSON_BYTES ((size_t)64 << 20) /* tokenizer_config.json of big vocabularies is a few MB */
#define HF_MAX_SHARDS 4096
#define HF_NAME_MAX 160

struct hf_folder {
    char *dir;
    char *tokenizer_json;  /* NULL if absent */
    cJSON *config, *gen, *tok_config;
    const cJSON *text_config;
    slm_hparams hp;
    int64_t *eos;
    size_t n_eos;
    st_file **shards;
    size_t n_shards;
    hf_tensor *tensors;
    size_t n_tensors;
    const hf_tensor **by_gguf; /* tensors with a GGUF name, sorted by it */
    size_t n_by_gguf;
    const hf_tensor **by_hf;   /* all tensors sorted by HF name */
    uint64_t total_bytes;
};

/* ---- small helpers ---- */

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* Read and parse dir/name. Absent and !required: *out = NULL, SLM_OK. */
static slm_status read_json(const char *dir, const char *name, int required, cJSON **out, slm_error *err) {
    *out = NULL;
    char *path = path_join(dir, name);
    if (!path) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    if (!slm_path_exists(path)) {
        free(path);
        return required ? slm_fail(err, SLM_E_NOT_FOUND, "%s: no %s", dir, name) : SLM_OK;
    }
    char *text = NULL;
    size_t len = 0;
    slm_status s = slm_file_read_all(path, HF_MAX_JSON_BYTES, &text, &len, err);
    if (s == SLM_OK) s = hf_json_parse(text, len, name, out, err);
    free(text);
    free(path);
    return s;
}

static int cmp_hf_name(const void *a, const void *b) {
    const hf_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->hf_name, (*y)->hf_name);
}

static int cmp_gguf_name(const void *a, const void *b) {
    const hf_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->gguf_name, (*y)->gguf_name);
}

/* One weight_map entry: tensor name -> index of its shard in the sorted shard list. */
typedef struct wm_entry {
    const char *name;
    const char *file;
    size_t shard;
} wm_entry;

static int cmp_wm_name(const void *a, const void *b) {
    return strcmp(((const wm_entry *)a)->name, ((const wm_entry *)b)->name);
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A shard name from the index is a plain file name inside the folder: no paths, no "..". */
static int valid_shard_name(const char *s) {
    size_t n = strlen(s);
    return n > 0 && n < 256 && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

static const wm_entry *wm_find(const wm_entry *wm, size_t n, const char *name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(wm[mid].name, name);
        if (c == 0) return &wm[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- shards ---- */

static slm_status open_shard(hf_folder *f, const char *name, slm_error *err) {
    char *path = path_join(f->dir, name);
    if (!path) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    if (!slm_path_exists(path)) {
        slm_status s = slm_fail(err, SLM_E_NOT_FOUND, "%s: shard '%.200s' listed in the index does not exist",
                                f->dir, name);
        free(path);
        return s;
    }
    slm_status s = st_open(path, &f->shards[f->n_shards], err);
    free(path);
    if (s != SLM_OK) return s;
    f->total_bytes += st_file_size(f->shards[f->n_shards]);
    f->n_shards++;
    return SLM_OK;
}

/* Sharded: open every shard of index.json's weight_map and check the map against the files. */
static slm_status open_sharded(hf_folder *f, slm_error *err) {
    cJSON *idx = NULL;
    slm_status s = read_json(f->dir, "model.safetensors.index.json", 1, &idx, err);
    if (s != SLM_OK) return s;
    wm_entry *wm = NULL;
    const char **files = NULL;
    size_t n_wm = 0, n_files = 0;
    const cJSON *map = cJSON_IsObject(idx) ? cJSON_GetObjectItemCaseSensitive(idx, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) {
        s = slm_fail(err, SLM_E_FORMAT, "model.safetensors.index.json: missing 'weight_map' object");
        goto done;
    }
    int n = cJSON_GetArraySize(map);
    wm = calloc(n ? (size_t)n : 1, sizeof *wm);
    files = calloc(n ? (size_t)n : 1, sizeof *files);
    if (!wm || !files) {
        s = slm_fail(err, SLM_E_NOMEM, "out of memory");
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsString(e) || !valid_shard_name(e->valuestring)) {
            s = slm_fail(err, SLM_E_FORMAT, "model.safetensors.index.json: weight_map['%.80s'] is not a shard file name",
                         e->string);
            goto done;
        }
        wm[n_wm].name = e->string;
        wm[n_wm++].file = e->valuestring;
        files[n_files++] = e->valuestring;
    }
    if (n_wm == 0) {
        s = slm_fail(err, SLM_E_FORMAT, "model.safetensors.index.json: weight_map is empty");
        goto done;
    }
    qsort(wm, n_wm, sizeof *wm, cmp_wm_name);
    for (size_t i = 1; i < n_wm; i++)
        if (!strcmp(wm[i - 1].name, wm[i].name)) {
            s = slm_fail(err, SLM_E_FORMAT, "model.safetensors.index.json: tensor '%.80s' listed twice", wm[i].name);
            goto done;
        }
    /* Unique shard names, sorted (model-00001-of-0000N order). */
    qsort(files, n_files, sizeof *files, cmp_str_ptr);
    size_t u = 0;
    for (size_t i = 0; i < n_files; i++)
        if (u == 0 || strcmp(files[u - 1], files[i])) files[u++] = files[i];
    n_files = u;
    if (n_files > HF_MAX_SHARDS) {
        s = slm_fail(err, SLM_E_RANGE, "model.safetensors.index.json: %zu shards (limit %d)", n_files, HF_MAX_SHARDS);
        goto done;
    }
    for (size_t i = 0; i < n_wm; i++) {
        const char **hit = bsearch(&wm[i].file, files, n_files, sizeof *files, cmp_str_ptr);
        wm[i].shard = (size_t)(hit - files);
    }
    f->shards = calloc(n_files, sizeof *f->shards);
    if (!f->shards) {
        s = slm_fail(err, SLM_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_files; i++)
        if ((s = open_shard(f, files[i], err)) != SLM_OK) goto done;

    /* Each tensor of each shard must be listed there; a count match then proves none is missing. */
    size_t total = 0;
    for (size_t si = 0; si < f->n_shards; si++) {
        const st_file *sh = f->shards[si];
        for (size_t ti = 0; ti < st_n_tensors(sh); ti++) {
            const char *nm = st_tensor_at(sh, ti)->name;
            const wm_entry *w = wm_find(wm, n_wm, nm);
            if (!w) {
                s = slm_fail(err, SLM_E_FORMAT, "tensor '%.80s' in shard '%.100s' is not listed in the index", nm,
                             files[si]);
                goto done;
            }
            if (w->shard != si) {
                s = slm_fail(err, SLM_E_FORMAT, "tensor '%.80s' is in shard '%.100s' but the index says '%.100s'%s",
                             nm, files[si], w->file,
                             st_find(f->shards[w->shard], nm) ? " (duplicated across shards)" : "");
                goto done;
            }
            total++;
        }
    }
    if (total != n_wm) {
        for (size_t i = 0; i < n_wm; i++)
            if (!st_find(f->shards[wm[i].shard], wm[i].name)) {
                s = slm_fail(err, SLM_E_FORMAT, "index lists tensor '%.80s' in shard '%.100s', which does not contain it",
                             wm[i].name, wm[i].file);
                goto done;
            }
    }
done:
    free(wm);
    free(files);
    cJSON_Delete(idx);
    return s;
}

static slm_status open_weights(hf_folder *f, slm_error *err) {
    char *single = path_join(f->dir, "model.safetensors");
    char *index = path_join(f->dir, "model.safetensors.index.json");
    slm_status s;
    if (!single || !index) {
        s = slm_fail(err, SLM_E_NOMEM, "out of memory");
    } else if (slm_path_exists(single)) {
        f->shards = calloc(1, sizeof *f->shards);
        s = f->shards ? st_open(single, &f->shards[0], err) : slm_fail(err, SLM_E_NOMEM, "out of memory");
        if (s == SLM_OK) {
            f->n_shards = 1;
            f->total_bytes = st_file_size(f->shards[0]);
        }
    } else if (slm_path_exists(index)) {
        s = open_sharded(f, err);
    } else {
        s = slm_fail(err, SLM_E_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", f->dir);
    }
    free(single);
    free(index);
    return s;
}

/* ---- tensor table ---- */

static slm_status build_tensors(hf_folder *f, slm_error *err) {
    size_t n = 0;
    for (size_t i = 0; i < f->n_shards; i++) n += st_n_tensors(f->shards[i]);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->by_gguf = calloc(n ? n : 1, sizeof *f->by_gguf);
    f->by_hf = calloc(n ? n : 1, sizeof *f->by_hf);
    if (!f->tensors || !f->by_gguf || !f->by_hf) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    char buf[HF_NAME_MAX];
    for (size_t si = 0; si < f->n_shards; si++) {
        for (size_t ti = 0; ti < st_n_tensors(f->shards[si]); ti++) {
            const st_tensor *st = st_tensor_at(f->shards[si], ti);
            /* Kernels load weights as float/uint16: a view off its element alignment would be
             * undefined behaviour there. Real writers never produce one (the mapping is page
             * aligned, headers padded to 8, tensors packed by size), so refuse it. */
            size_t es = st_dtype_size(st->st_type);
            if (st->slm_type >= 0 && st->nbytes && (uintptr_t)st->data % es)
                return slm_fail(err, SLM_E_FORMAT, "tensor '%.80s': data is not aligned to its %zu-byte elements",
                                st->name, es);
            hf_tensor *t = &f->tensors[f->n_tensors++];
            t->hf_name = st->name;
            t->type = st->slm_type;
            t->n_dims = st->n_dims;
            for (int d = 0; d < 4; d++) t->ne[d] = d < st->n_dims ? st->shape[st->n_dims - 1 - d] : 1;
            t->data = st->data;
            t->nbytes = st->nbytes;
            t->shard = (int)si;
            if (hf_map_tensor_name(f->hp.arch, st->name, buf, sizeof buf)) {
                t->gguf_name = strdup(buf);
                if (!t->gguf_name) return slm_fail(err, SLM_E_NOMEM, "out of memory");
                f->by_gguf[f->n_by_gguf++] = t;
            }
            f->by_hf[f->n_tensors - 1] = t;
        }
    }
    qsort(f->by_hf, f->n_tensors, sizeof *f->by_hf, cmp_hf_name);
    for (size_t i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->by_hf[i - 1]->hf_name, f->by_hf[i]->hf_name))
            return slm_fail(err, SLM_E_FORMAT, "tensor '%.80s' appears in more than one shard", f->by_hf[i]->hf_name);
    qsort(f->by_gguf, f->n_by_gguf, sizeof *f->by_gguf, cmp_gguf_name);
    for (size_t i = 1; i < f->n_by_gguf; i++)
        if (!strcmp(f->by_gguf[i - 1]->gguf_name, f->by_gguf[i]->gguf_name))
            return slm_fail(err, SLM_E_FORMAT, "tensors '%.80s' and '%.80s' both map to '%s'", f->by_gguf[i - 1]->hf_name,
                            f->by_gguf[i]->hf_name, f->by_gguf[i]->gguf_name);
    return SLM_OK;
}

/* ---- open / close ---- */

static slm_status open_all(hf_folder *f, slm_error *err) {
    if (!slm_path_is_dir(f->dir)) return slm_fail(err, SLM_E_NOT_FOUND, "'%s' is not a folder", f->dir);
    slm_status s;
    if ((s = read_json(f->dir, "config.json", 1, &f->config, err)) != SLM_OK) return s;
    if ((s = read_json(f->dir, "generation_config.json", 0, &f->gen, err)) != SLM_OK) return s;
    if ((s = read_json(f->dir, "tokenizer_config.json", 0, &f->tok_config, err)) != SLM_OK) return s;
    char *tj = path_join(f->dir, "tokenizer.json");
    if (!tj) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    if (slm_path_exists(tj)) f->tokenizer_json = tj;
    else free(tj);

    if ((s = hf_config_parse(f->config, f->gen, &f->hp, &f->text_config, &f->eos, &f->n_eos, err)) != SLM_OK)
        return s;
    /* Folder name as the model name: strip trailing slashes, keep the last component. */
    size_t len = strlen(f->dir);
    while (len > 1 && f->dir[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && f->dir[start - 1] != '/') start--;
    snprintf(f->hp.name, sizeof f->hp.name, "%.*s", (int)(len - start), f->dir + start);

    if ((s = open_weights(f, err)) != SLM_OK) return s;
    if ((s = build_tensors(f, err)) != SLM_OK) return s;
    if (!hf_find(f, "output.weight")) f->hp.tied_output = true; /* no lm_head: tied whatever the config says */
    return SLM_OK;
}

slm_status hf_open(const char *dir, hf_folder **out, slm_error *err) {
    *out = NULL;
    if (!dir || !*dir) return slm_fail(err, SLM_E_INVALID_ARG, "empty folder path");
    hf_folder *f = calloc(1, sizeof *f);
    if (!f) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    f->dir = strdup(dir);
    if (!f->dir) {
        free(f);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    slm_status s = open_all(f, err);
    if (s != SLM_OK) {
        hf_close(f);
        return s;
    }
    *out = f;
    return SLM_OK;
}

void hf_close(hf_folder *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].gguf_name);
    free(f->tensors);
    free(f->by_gguf);
    free(f->by_hf);
    for (size_t i = 0; i < f->n_shards; i++) st_close(f->shards[i]);
    free(f->shards);
    hf_hparams_free(&f->hp);
    free(f->eos);
    cJSON_Delete(f->config);
    cJSON_Delete(f->gen);
    cJSON_Delete(f->tok_config);
    free(f->tokenizer_json);
    free(f->dir);
    free(f);
}

/* ---- accessors ---- */

const slm_hparams *hf_hparams(const hf_folder *f) { return &f->hp; }
size_t hf_n_tensors(const hf_folder *f) { return f->n_tensors; }
const hf_tensor *hf_tensor_at(const hf_folder *f, size_t i) { return i < f->n_tensors ? &f->tensors[i] : NULL; }

const hf_tensor *hf_find(const hf_folder *f, const char *gguf_name) {
    size_t lo = 0, hi = f->n_by_gguf;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_gguf[mid]->gguf_name, gguf_name);
        if (c == 0) return f->by_gguf[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const hf_tensor *hf_find_hf(const hf_folder *f, const char *hf_name) {
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_hf[mid]->hf_name, hf_name);
        if (c == 0) return f->by_hf[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const cJSON *hf_config(const hf_folder *f) { return f->config; }
const cJSON *hf_text_config(const hf_folder *f) { return f->text_config; }
const cJSON *hf_generation_config(const hf_folder *f) { return f->gen; }
const cJSON *hf_tokenizer_config(const hf_folder *f) { return f->tok_config; }
const char *hf_tokenizer_json_path(const hf_folder *f) { return f->tokenizer_json; }
const char *hf_dir(const hf_folder *f) { return f->dir; }

const char *hf_architecture(const hf_folder *f) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(f->config, "architectures");
    const cJSON *a0 = cJSON_GetArrayItem(a, 0);
    if (cJSON_IsString(a0)) return a0->valuestring;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(f->config, "model_type"); /* class-less config */
    return cJSON_IsString(mt) ? mt->valuestring : "";
}

const int64_t *hf_eos_ids(const hf_folder *f, size_t *n) {
    *n = f->n_eos;
    return f->eos;
}

uint64_t hf_total_bytes(const hf_folder *f) { return f->total_bytes; }
size_t hf_n_shards(const hf_folder *f) { return f->n_shards; }
