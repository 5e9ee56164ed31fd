/* The local store: names -> manifests -> content-addressed blobs. See store.h for the layout. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "base/sha256.h"
#include "store/store_internal.h"

#define MANIFEST_MAX_BYTES (1u << 20) /* system prompts and templates fit easily */

slm_status slm_store_home(char *out, size_t cap, slm_error *err) {
    const char *h = getenv("SLM_HOME");
    int n;
    if (h && *h) {
        n = snprintf(out, cap, "%s", h);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) return slm_fail(err, SLM_E_INVALID_ARG, "neither SLM_HOME nor HOME is set");
        n = snprintf(out, cap, "%s/.slm", home);
    }
    if (n < 0 || (size_t)n >= cap) return slm_fail(err, SLM_E_RANGE, "store path too long");
    return SLM_OK;
}

slm_status slm_store_check_name(const char *name, slm_error *err) {
    if (!name || !*name) return slm_fail(err, SLM_E_INVALID_ARG, "empty model name");
    size_t n = strlen(name);
    if (n > SLM_STORE_NAME_MAX)
        return slm_fail(err, SLM_E_INVALID_ARG, "model name longer than %d characters", SLM_STORE_NAME_MAX);
    if (strstr(name, ".."))
        return slm_fail(err, SLM_E_INVALID_ARG, "model name '%s' may not contain '..'", name);
    const char *seg = name;
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        if (c == '/' || c == 0) {
            size_t len = (size_t)(name + i - seg);
            if (len == 0) return slm_fail(err, SLM_E_INVALID_ARG, "model name '%s' has an empty path segment", name);
            if (seg[0] == '.' || seg[0] == '-')
                return slm_fail(err, SLM_E_INVALID_ARG,
                                "model name '%s': a segment may not start with '.' or '-' (no '..', no hidden names)",
                                name);
            seg = name + i + 1;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == ':';
        if (!ok)
            return slm_fail(err, SLM_E_INVALID_ARG,
                            "model name '%s' has a character outside [A-Za-z0-9._:/-] at offset %zu", name, i);
    }
    return SLM_OK;
}

bool store_hex_ok(const char *hex) {
    if (!hex || strlen(hex) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) return false;
    return true;
}

static slm_status mkdir_p1(const char *path, slm_error *err) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return slm_fail(err, SLM_E_IO, "cannot create %s: %s", path, strerror(errno));
    return SLM_OK;
}

slm_status store_ensure_dirs(char *root, size_t cap, slm_error *err) {
    slm_status st = slm_store_home(root, cap, err);
    if (st) return st;
    char p[SLM_STORE_PATH_MAX];
    if ((st = mkdir_p1(root, err))) return st;
    snprintf(p, sizeof p, "%s/blobs", root);
    if ((st = mkdir_p1(p, err))) return st;
    snprintf(p, sizeof p, "%s/manifests", root);
    return mkdir_p1(p, err);
}

slm_status store_blob_path(const char *hex, const char *suffix, char *out, size_t cap, slm_error *err) {
    char root[SLM_STORE_PATH_MAX];
    slm_status st = slm_store_home(root, sizeof root, err);
    if (st) return st;
    if (!store_hex_ok(hex)) return slm_fail(err, SLM_E_FORMAT, "bad blob digest '%.80s'", hex);
    int n = snprintf(out, cap, "%s/blobs/sha256-%s%s", root, hex, suffix ? suffix : "");
    if (n < 0 || (size_t)n >= cap) return slm_fail(err, SLM_E_RANGE, "blob path too long");
    return SLM_OK;
}

/* manifests/<name with every byte outside [A-Za-z0-9._-] as %XX>.json: one flat file per name. */
static slm_status manifest_path(const char *name, char *out, size_t cap, slm_error *err) {
    slm_status st = slm_store_check_name(name, err);
    if (st) return st;
    char root[SLM_STORE_PATH_MAX];
    if ((st = slm_store_home(root, sizeof root, err))) return st;
    char esc[SLM_STORE_NAME_MAX * 3 + 1];
    size_t k = 0;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
            c == '-') {
            esc[k++] = (char)c;
        } else {
            snprintf(esc + k, 4, "%%%02X", c);
            k += 3;
        }
    }
    esc[k] = 0;
    int n = snprintf(out, cap, "%s/manifests/%s.json", root, esc);
    if (n < 0 || (size_t)n >= cap) return slm_fail(err, SLM_E_RANGE, "manifest path too long");
    return SLM_OK;
}

static slm_status manifest_load_path(const char *path, cJSON **out, slm_error *err) {
    char *text = NULL;
    size_t len = 0;
    slm_status st = slm_file_read_all(path, MANIFEST_MAX_BYTES, &text, &len, err);
    if (st) return st;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return slm_fail(err, SLM_E_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *blob = cJSON_GetObjectItemCaseSensitive(j, "blob");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!cJSON_IsString(blob) || strncmp(blob->valuestring, "sha256-", 7) != 0 ||
        !store_hex_ok(blob->valuestring + 7) || !cJSON_IsString(name) ||
        slm_store_check_name(name->valuestring, NULL) != SLM_OK) {
        cJSON_Delete(j);
        return slm_fail(err, SLM_E_FORMAT, "%s: manifest without a valid \"name\" and \"blob\"", path);
    }
    *out = j;
    return SLM_OK;
}

slm_status slm_store_manifest_read(const char *name, cJSON **out, slm_error *err) {
    *out = NULL;
    char path[SLM_STORE_PATH_MAX];
    slm_status st = manifest_path(name, path, sizeof path, err);
    if (st) return st;
    if (!slm_path_exists(path)) return slm_fail(err, SLM_E_NOT_FOUND, "model '%s' is not in the store", name);
    return manifest_load_path(path, out, err);
}

slm_status slm_store_manifest_write(const char *name, cJSON *m, slm_error *err) {
    char root[SLM_STORE_PATH_MAX], path[SLM_STORE_PATH_MAX];
    slm_status st = manifest_path(name, path, sizeof path, err);
    if (st) return st;
    if ((st = store_ensure_dirs(root, sizeof root, err))) return st;
    cJSON_DeleteItemFromObjectCaseSensitive(m, "name");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "modified");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "schema");
    if (!cJSON_AddNumberToObject(m, "schema", 1) || !cJSON_AddStringToObject(m, "name", name) ||
        !cJSON_AddNumberToObject(m, "modified", (double)time(NULL)))
        return slm_fail(err, SLM_E_NOMEM, "out of memory building the manifest");
    char *text = cJSON_Print(m);
    if (!text) return slm_fail(err, SLM_E_NOMEM, "out of memory printing the manifest");
    st = slm_file_write_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}

slm_status store_write_pull_manifest(const char *name, const char *hex, uint64_t size, const char *source,
                                     const char *file, const char *quant, slm_error *err) {
    cJSON *m = cJSON_CreateObject();
    char blob[80];
    snprintf(blob, sizeof blob, "sha256-%s", hex);
    if (!m || !cJSON_AddStringToObject(m, "blob", blob) || !cJSON_AddNumberToObject(m, "size", (double)size) ||
        !cJSON_AddStringToObject(m, "source", source ? source : "") ||
        !cJSON_AddStringToObject(m, "file", file ? file : "") ||
        !cJSON_AddStringToObject(m, "quant", quant ? quant : "")) {
        cJSON_Delete(m);
        return slm_fail(err, SLM_E_NOMEM, "out of memory building the manifest");
    }
    slm_status st = slm_store_manifest_write(name, m, err);
    cJSON_Delete(m);
    return st;
}

static slm_status blob_of_manifest(const cJSON *m, char *out, size_t cap, slm_error *err) {
    const cJSON *blob = cJSON_GetObjectItemCaseSensitive(m, "blob");
    return store_blob_path(blob->valuestring + 7, NULL, out, cap, err);
}

slm_status slm_store_resolve(const char *name_or_path, char *out_path, size_t cap, slm_error *err) {
    if (!name_or_path || !*name_or_path) return slm_fail(err, SLM_E_INVALID_ARG, "empty model name");
    if (slm_store_check_name(name_or_path, NULL) == SLM_OK) {
        cJSON *m = NULL;
        slm_error e2;
        slm_status st = slm_store_manifest_read(name_or_path, &m, &e2);
        if (st == SLM_OK) {
            st = blob_of_manifest(m, out_path, cap, err);
            cJSON_Delete(m);
            if (st) return st;
            if (!slm_path_exists(out_path))
                return slm_fail(err, SLM_E_NOT_FOUND, "model '%s': its blob %s is missing (pull it again)",
                                name_or_path, out_path);
            return SLM_OK;
        }
        if (st != SLM_E_NOT_FOUND) {
            if (err) *err = e2;
            return st;
        }
    }
    if (slm_path_exists(name_or_path)) {
        int n = snprintf(out_path, cap, "%s", name_or_path);
        if (n < 0 || (size_t)n >= cap) return slm_fail(err, SLM_E_RANGE, "path too long");
        return SLM_OK;
    }
    return slm_fail(err, SLM_E_NOT_FOUND, "'%s' is neither a model in the store (try 'slm pull %s') nor a file",
                    name_or_path, name_or_path);
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const slm_store_entry *)a)->name, ((const slm_store_entry *)b)->name);
}

slm_status slm_store_list(slm_store_entry **out, size_t *n_out, slm_error *err) {
    *out = NULL;
    *n_out = 0;
    char root[SLM_STORE_PATH_MAX], dir[SLM_STORE_PATH_MAX];
    slm_status st = slm_store_home(root, sizeof root, err);
    if (st) return st;
    snprintf(dir, sizeof dir, "%s/manifests", root);
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? SLM_OK : slm_fail(err, SLM_E_IO, "cannot read %s: %s", dir, strerror(errno));
    slm_store_entry *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json") != 0) continue;
        char path[SLM_STORE_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        cJSON *m = NULL;
        if (manifest_load_path(path, &m, NULL) != SLM_OK) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            slm_store_entry *nv = realloc(v, nc * sizeof *v);
            if (!nv) {
                cJSON_Delete(m);
                closedir(d);
                free(v);
                return slm_fail(err, SLM_E_NOMEM, "out of memory listing the store");
            }
            v = nv;
            cap = nc;
        }
        slm_store_entry *e = &v[n];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring);
        blob_of_manifest(m, e->blob_path, sizeof e->blob_path, NULL);
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(m, "quant");
        if (cJSON_IsString(q)) snprintf(e->quant, sizeof e->quant, "%s", q->valuestring);
        const cJSON *mod = cJSON_GetObjectItemCaseSensitive(m, "modified");
        if (cJSON_IsNumber(mod)) e->modified = (int64_t)mod->valuedouble;
        e->has_defaults = cJSON_HasObjectItem(m, "system") || cJSON_HasObjectItem(m, "template") ||
                          cJSON_HasObjectItem(m, "params");
        struct stat sb;
        if (stat(e->blob_path, &sb) == 0) e->size = (uint64_t)sb.st_size;
        cJSON_Delete(m);
        n++;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, entry_cmp);
    *out = v;
    *n_out = n;
    return SLM_OK;
}

slm_status slm_store_remove(const char *name, slm_error *err) {
    char path[SLM_STORE_PATH_MAX], blob[SLM_STORE_PATH_MAX];
    cJSON *m = NULL;
    slm_status st = slm_store_manifest_read(name, &m, err);
    if (st) return st;
    st = blob_of_manifest(m, blob, sizeof blob, err);
    cJSON_Delete(m);
    if (st) return st;
    if ((st = manifest_path(name, path, sizeof path, err))) return st;
    if (unlink(path) != 0) return slm_fail(err, SLM_E_IO, "cannot remove %s: %s", path, strerror(errno));
    /* Delete the blob only when no remaining name refers to it. */
    slm_store_entry *v = NULL;
    size_t n = 0;
    if (slm_store_list(&v, &n, NULL) != SLM_OK) return SLM_OK;
    bool used = false;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].blob_path, blob)) used = true;
    free(v);
    if (!used) unlink(blob);
    return SLM_OK;
}

slm_status slm_store_copy(const char *src, const char *dst, slm_error *err) {
    slm_status st = slm_store_check_name(dst, err);
    if (st) return st;
    cJSON *m = NULL, *m2 = NULL;
    if ((st = slm_store_manifest_read(src, &m, err))) return st;
    if (slm_store_manifest_read(dst, &m2, NULL) == SLM_OK) {
        cJSON_Delete(m);
        cJSON_Delete(m2);
        return slm_fail(err, SLM_E_INVALID_ARG, "model '%s' already exists (slm rm it first)", dst);
    }
    st = slm_store_manifest_write(dst, m, err);
    cJSON_Delete(m);
    return st;
}

slm_status store_hash_file(const char *path, char hex[65], volatile int *cancel, slm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return slm_fail(err, SLM_E_IO, "cannot open %s: %s", path, strerror(errno));
    slm_sha256 s;
    slm_sha256_init(&s);
    static const size_t kbuf = 1 << 20;
    unsigned char *buf = malloc(kbuf);
    if (!buf) {
        fclose(f);
        return slm_fail(err, SLM_E_NOMEM, "out of memory hashing %s", path);
    }
    size_t got;
    while ((got = fread(buf, 1, kbuf, f)) > 0) {
        slm_sha256_update(&s, buf, got);
        if (cancel && *cancel) break;
    }
    bool bad = ferror(f);
    free(buf);
    fclose(f);
    if (cancel && *cancel) return slm_fail(err, SLM_E_CANCELLED, "cancelled while hashing %s", path);
    if (bad) return slm_fail(err, SLM_E_IO, "read error on %s", path);
    uint8_t d[32];
    slm_sha256_final(&s, d);
    slm_sha256_to_hex(d, hex);
    return SLM_OK;
}

/* Copy a local file into blobs/ (via a temp file + rename); fills hex and size. */
static slm_status import_file(const char *src, char hex[65], uint64_t *size, slm_error *err) {
    char root[SLM_STORE_PATH_MAX], tmp[SLM_STORE_PATH_MAX], dst[SLM_STORE_PATH_MAX];
    slm_status st = store_ensure_dirs(root, sizeof root, err);
    if (st) return st;
    if ((st = store_hash_file(src, hex, NULL, err))) return st;
    if ((st = store_blob_path(hex, NULL, dst, sizeof dst, err))) return st;
    struct stat sb;
    if (stat(src, &sb) != 0) return slm_fail(err, SLM_E_IO, "cannot stat %s: %s", src, strerror(errno));
    *size = (uint64_t)sb.st_size;
    if (slm_path_exists(dst)) return SLM_OK;
    snprintf(tmp, sizeof tmp, "%s.import-%ld", dst, (long)getpid());
    FILE *in = fopen(src, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
    if (!in || !out) {
        if (in) fclose(in);
        return slm_fail(err, SLM_E_IO, "cannot copy %s into the store: %s", src, strerror(errno));
    }
    char buf[1 << 16];
    size_t got;
    bool bad = false;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, got, out) != got) bad = true;
    bad |= ferror(in) != 0;
    fclose(in);
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, dst) != 0) {
        unlink(tmp);
        return slm_fail(err, SLM_E_IO, "cannot copy %s into the store (disk full?)", src);
    }
    return SLM_OK;
}

slm_status slm_store_create(const char *name, const char *from, const char *system, const char *template_text,
                            const cJSON *params, slm_error *err) {
    slm_status st = slm_store_check_name(name, err);
    if (st) return st;
    if (params && !cJSON_IsObject(params)) return slm_fail(err, SLM_E_INVALID_ARG, "params must be a JSON object");
    cJSON *m = NULL;
    if (slm_store_check_name(from, NULL) == SLM_OK && slm_store_manifest_read(from, &m, NULL) == SLM_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, "from");
        cJSON_AddStringToObject(m, "from", from);
    } else if (slm_path_exists(from) && !slm_path_is_dir(from)) {
        char hex[65];
        uint64_t size = 0;
        if ((st = import_file(from, hex, &size, err))) return st;
        char blob[80];
        snprintf(blob, sizeof blob, "sha256-%s", hex);
        m = cJSON_CreateObject();
        if (!m || !cJSON_AddStringToObject(m, "blob", blob) || !cJSON_AddNumberToObject(m, "size", (double)size) ||
            !cJSON_AddStringToObject(m, "source", from) || !cJSON_AddStringToObject(m, "from", from)) {
            cJSON_Delete(m);
            return slm_fail(err, SLM_E_NOMEM, "out of memory building the manifest");
        }
    } else {
        return slm_fail(err, SLM_E_NOT_FOUND, "--from '%s' is neither a stored model nor a file", from);
    }
    /* Defaults given now replace the ones inherited from a stored model; others are kept. */
    if (system) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, "system");
        cJSON_AddStringToObject(m, "system", system);
    }
    if (template_text) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, "template");
        cJSON_AddStringToObject(m, "template", template_text);
    }
    if (params) {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "params");
        if (!cJSON_IsObject(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(m, "params");
            p = cJSON_AddObjectToObject(m, "params");
        }
        for (const cJSON *it = params->child; p && it; it = it->next) {
            cJSON_DeleteItemFromObjectCaseSensitive(p, it->string);
            cJSON_AddItemToObject(p, it->string, cJSON_Duplicate(it, 1));
        }
    }
    st = slm_store_manifest_write(name, m, err);
    cJSON_Delete(m);
    return st;
}
