/* Files: read-only memory maps (weights are used in place) and small whole-file reads. */
#ifndef SLM_BASE_FILE_H
#define SLM_BASE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef struct slm_mapped_file {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
} slm_mapped_file;

/* Map path read-only. On success *out owns the mapping; release with slm_file_unmap. */
slm_status slm_file_map(const char *path, slm_mapped_file *out, slm_error *err);
void slm_file_unmap(slm_mapped_file *m);

/* Read a whole file into a malloc'd NUL-terminated buffer (*out, caller frees), refusing files
 * larger than max_bytes. *out_len excludes the terminator. */
slm_status slm_file_read_all(const char *path, size_t max_bytes, char **out, size_t *out_len, slm_error *err);

/* Write all bytes to path via a temp file + rename (atomic replace). */
slm_status slm_file_write_atomic(const char *path, const void *data, size_t size, slm_error *err);

int slm_path_is_dir(const char *path);
int slm_path_exists(const char *path);

#endif
