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

#endif
