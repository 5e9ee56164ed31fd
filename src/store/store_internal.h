/* Helpers shared by store.c and pull.c. */
#ifndef SLM_STORE_INTERNAL_H
#define SLM_STORE_INTERNAL_H

#include "store/store.h"

/* Create (if needed) the store root, blobs/ and manifests/; fills root. */
slm_status store_ensure_dirs(char *root, size_t cap, slm_error *err);
/* root/blobs/sha256-<hex><suffix> */
slm_status store_blob_path(const char *hex, const char *suffix, char *out, size_t cap, slm_error *err);
bool store_hex_ok(const char *hex); /* 64 lowercase hex digits */
/* sha256 of a whole file as 64 hex chars. */
slm_status store_hash_file(const char *path, char hex[65], volatile int *cancel, slm_error *err);
/* Write a manifest pointing at blob hex with the given fields (source/file/quant may be ""). */
slm_status store_write_pull_manifest(const char *name, const char *hex, uint64_t size, const char *source,
                                     const char *file, const char *quant, slm_error *err);

/* One file of a Hub repo listing (GET /api/models/OWNER/REPO/tree/main?recursive=true). */
typedef struct hub_file {
    char path[512]; /* validated: [A-Za-z0-9._+/-], relative, no ".." */
    char sha[65];   /* lfs.oid (sha256, lowercase hex); "" if not an LFS file */
    uint64_t size;  /* lfs.size, else size */
} hub_file;

/* Parse a listing (untrusted JSON, len bytes). Entries that are not files or have unsafe paths
 * are skipped. *out is malloc'd (free()). */
slm_status store_parse_listing(const char *json, size_t len, hub_file **out, size_t *n_out, slm_error *err);
/* out = v as a sha256 hex digest ("sha256:" prefix allowed), or "" if it is not one. */
void store_copy_sha(char out[65], const char *v);

#endif
