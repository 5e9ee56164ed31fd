/* SHA-256 (FIPS 180-4), for checksums of downloads and test references. */
#ifndef SLM_BASE_SHA256_H
#define SLM_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct slm_sha256 {
    uint32_t h[8];
    uint64_t total;
    uint8_t buf[64];
    size_t used;
} slm_sha256;

void slm_sha256_init(slm_sha256 *s);
void slm_sha256_update(slm_sha256 *s, const void *data, size_t n);
void slm_sha256_final(slm_sha256 *s, uint8_t out[32]);
/* One-shot digest as 64 lowercase hex chars + NUL. */
void slm_sha256_hex(const void *data, size_t n, char out[65]);
void slm_sha256_to_hex(const uint8_t digest[32], char out[65]);

#endif
