#define _GNU_SOURCE
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

slm_status slm_file_map(const char *path, slm_mapped_file *out, slm_error *err) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return slm_fail(err, SLM_E_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return slm_fail(err, SLM_E_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return slm_fail(err, SLM_E_IO, "'%s' is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return SLM_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return slm_fail(err, SLM_E_IO, "cannot mmap '%s': %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    return SLM_OK;
}

void slm_file_unmap(slm_mapped_file *m) {
    if (!m) return;
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

slm_status slm_file_read_all(const char *path, size_t max_bytes, char **out, size_t *out_len, slm_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return slm_fail(err, SLM_E_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return slm_fail(err, SLM_E_NOMEM, "out of memory reading '%s'", path);
    }
    for (;;) {
        if (len == cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(f);
                return slm_fail(err, SLM_E_NOMEM, "'%s' is larger than the %zu-byte limit", path, max_bytes);
            }
            size_t ncap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return slm_fail(err, SLM_E_NOMEM, "out of memory reading '%s'", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return slm_fail(err, SLM_E_IO, "error reading '%s'", path);
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len) *out_len = len;
    return SLM_OK;
}

slm_status slm_file_write_atomic(const char *path, const void *data, size_t size, slm_error *err) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        slm_fail(err, SLM_E_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return SLM_E_IO;
    }
    int ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        slm_fail(err, SLM_E_IO, "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return SLM_E_IO;
    }
    free(tmp);
    return SLM_OK;
}

int slm_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int slm_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}
