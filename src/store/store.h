/* The local model store (~/.slm, or $SLM_HOME) and `slm pull`.
 *
 * Layout:
 *   blobs/sha256-<64 hex>            model files, named by their content hash (shared by names)
 *   blobs/sha256-<hex>.partial       an interrupted download (resumed by the next pull)
 *   blobs/sha256-<hex>.lock          flock()ed while one pull downloads that blob
 *   manifests/<escaped name>.json    one small JSON object per model name:
 *       {"schema":1,"name":"qwen2.5:0.5b","blob":"sha256-<hex>","size":N,"source":"hf.co/O/R",
 *        "file":"x-Q4_K_M.gguf","quant":"Q4_K_M","modified":unix_seconds,
 *        optional "from","system","template","params":{k:v}}
 * Names: 1..200 chars of [A-Za-z0-9._:/-], '/'-separated segments that are non-empty, not "." or
 * "..", not starting with '.' or '-'. A name is never used as a path: the manifest file name
 * escapes every character outside [A-Za-z0-9._-], so nothing is ever written outside the store.
 */
#ifndef SLM_STORE_H
#define SLM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "slm.h"

#define SLM_STORE_NAME_MAX 200
#define SLM_STORE_PATH_MAX 4096

/* Store root: $SLM_HOME, else $HOME/.slm. Does not create it. */
slm_status slm_store_home(char *out, size_t cap, slm_error *err);

/* SLM_OK if name is a valid store name (see above), else SLM_E_INVALID_ARG naming the problem. */
slm_status slm_store_check_name(const char *name, slm_error *err);

/* Store name -> absolute blob path. Anything that is not a stored name passes through unchanged
 * if it names an existing file or folder (so `slm run ./x.gguf` keeps working). SLM_E_NOT_FOUND
 * if it is neither. */
slm_status slm_store_resolve(const char *name_or_path, char *out_path, size_t cap, slm_error *err);

/* The manifest of a stored name (caller frees with cJSON_Delete). SLM_E_NOT_FOUND if absent. */
slm_status slm_store_manifest_read(const char *name, cJSON **out, slm_error *err);
/* Write (atomically replace) the manifest of name; sets "name" and "modified". */
slm_status slm_store_manifest_write(const char *name, cJSON *manifest, slm_error *err);

typedef struct slm_store_entry {
    char name[SLM_STORE_NAME_MAX + 1];
    char blob_path[SLM_STORE_PATH_MAX];
    char quant[32];  /* from the manifest ("" if unknown) */
    uint64_t size;   /* bytes of the blob */
    int64_t modified; /* unix seconds */
    bool has_defaults; /* made by `slm create` */
} slm_store_entry;

/* Every valid manifest, sorted by name (malformed manifests are skipped). Free with free(). */
slm_status slm_store_list(slm_store_entry **out, size_t *n_out, slm_error *err);

/* Remove a name; its blob is deleted too when no other manifest refers to it. */
slm_status slm_store_remove(const char *name, slm_error *err);
/* dst becomes another name for src's blob (with src's defaults). Refuses to overwrite dst. */
slm_status slm_store_copy(const char *src, const char *dst, slm_error *err);

/* `slm create`: name gets from's blob plus its own defaults. from may be a store name or a GGUF
 * path (the file is then copied into the store). system/template_text may be NULL; params is a
 * JSON object (may be NULL) of sampling/context defaults; it is copied. */
slm_status slm_store_create(const char *name, const char *from, const char *system, const char *template_text,
                            const cJSON *params, slm_error *err);

/* --- pull ------------------------------------------------------------------------------------ */

typedef enum slm_pull_phase {
    SLM_PULL_RESOLVING = 0, /* asking the Hub which file to fetch */
    SLM_PULL_WAITING = 1,   /* another pull holds the lock of the same blob */
    SLM_PULL_DOWNLOADING = 2,
    SLM_PULL_RETRYING = 3,  /* a transfer failed; waiting before the next attempt */
    SLM_PULL_VERIFYING = 4, /* hashing the finished file */
    SLM_PULL_DONE = 5,
} slm_pull_phase;

typedef struct slm_pull_progress {
    slm_pull_phase phase;
    const char *file;  /* remote file name */
    uint64_t done;     /* bytes on disk (incl. a resumed prefix) */
    uint64_t total;    /* expected bytes (0 unknown) */
    uint64_t resumed;  /* bytes that were already there when this pull started */
    double bytes_per_s; /* average speed of this transfer */
    const char *message; /* for RETRYING: why */
    const char *digest;  /* sha256 hex the Hub lists for file; NULL when not known (direct URLs) */
} slm_pull_progress;

typedef void (*slm_pull_progress_fn)(void *user, const slm_pull_progress *p);

typedef struct slm_pull_options {
    slm_pull_progress_fn progress; /* may be NULL; called from the pulling thread */
    void *user;
    volatile int *cancel;  /* nonzero -> stop soon with SLM_E_CANCELLED, keeping the .partial */
    const char *endpoint;  /* NULL: $HF_ENDPOINT or https://huggingface.co */
    const char *token;     /* NULL: $HF_TOKEN (sent only to the endpoint's host) */
    int max_attempts;      /* 0: 5 */
    int backoff_ms;        /* first retry delay, doubled each time; 0: 1000 (-1: none) */
} slm_pull_options;

/* Download name (catalog name, hf.co/OWNER/REPO[:QUANT] or https URL) into the store. On success
 * the stored name is copied to out_name (may be NULL). */
slm_status slm_store_pull(const char *name, const slm_pull_options *opt, char *out_name, size_t cap,
                          slm_error *err);

/* --- catalog (catalog.c) --------------------------------------------------------------------- */

typedef struct slm_catalog_entry {
    const char *name;  /* "qwen2.5:0.5b" */
    const char *repo;  /* "Qwen/Qwen2.5-0.5B-Instruct-GGUF" */
    const char *quant; /* default quant, "Q4_K_M" */
} slm_catalog_entry;

/* Catalog lookup of "base[:size]" optionally followed by ":QUANT" or "-QUANT" (case-insensitive).
 * Fills *entry and quant (the requested or default quant, uppercase). False if not a catalog name. */
bool slm_catalog_lookup(const char *name, const slm_catalog_entry **entry, char *quant, size_t cap);
/* All entries (n_out filled). */
const slm_catalog_entry *slm_catalog_entries(size_t *n_out);

/* Pick the GGUF whose name carries quant (case-insensitive, delimited by non-alphanumerics) among
 * n file names; skips mmproj files. Returns the index, -1 if none, -2 if the match is split into
 * several parts (not supported). */
int slm_catalog_pick_file(const char *const *files, size_t n, const char *quant);

#endif
