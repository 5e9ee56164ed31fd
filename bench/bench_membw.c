/* bench_membw: the machine's read memory bandwidth, the ceiling for token generation (which
 * streams every weight once per token).
 *
 *   bench_membw [-t 1,2] [-m MiB] [-n passes] [--json]
 *
 * A buffer much larger than the last-level cache (default 1024 MiB; L3 here is 32 MiB) is
 * written once (so every page is really backed), then read end to end `passes` times by T
 * threads, each streaming its contiguous 1/T slice with 32-byte loads (AVX2 where the CPU has
 * it, else 16-byte SSE2) into independent accumulators, as a matvec kernel streams weight rows.
 * Time per pass is wall time from the dispatch to the last thread's return (slm's persistent
 * thread pool, the same one the model uses); the best pass is reported (the machine is shared:
 * the best pass is the one least disturbed by others), in GB/s = 1e9 bytes/s. Also printed:
 * the median pass.
 * Output: one line per thread count, or with --json one JSON object per line:
 *   {"threads":T,"buffer_mib":M,"passes":N,"best_gbps":...,"median_gbps":...,"isa":"avx2",
 *    "slm_kernels":"avx512"}   (isa: the loads used here; slm_kernels: the path slm's model picks)
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"

typedef struct read_job {
    const unsigned char *buf;
    size_t bytes;       /* multiple of 256 */
    unsigned long long sink[SLM_THREADPOOL_MAX]; /* per-thread checksum, keeps the loads alive */
    int use_avx2;
} read_job;

__attribute__((target("avx2"))) static unsigned long long read_avx2(const unsigned char *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < n; i += 256) {
        a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
        a4 = _mm256_xor_si256(a4, _mm256_load_si256((const __m256i *)(p + i + 128)));
        a5 = _mm256_xor_si256(a5, _mm256_load_si256((const __m256i *)(p + i + 160)));
        a6 = _mm256_xor_si256(a6, _mm256_load_si256((const __m256i *)(p + i + 192)));
        a7 = _mm256_xor_si256(a7, _mm256_load_si256((const __m256i *)(p + i + 224)));
    }
    a0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)),
                          _mm256_xor_si256(_mm256_xor_si256(a4, a5), _mm256_xor_si256(a6, a7)));
    unsigned long long out[4];
    _mm256_storeu_si256((__m256i *)out, a0);
    return out[0] ^ out[1] ^ out[2] ^ out[3];
}

static unsigned long long read_sse2(const unsigned char *p, size_t n) {
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 64) {
        a0 = _mm_xor_si128(a0, _mm_load_si128((const __m128i *)(p + i)));
        a1 = _mm_xor_si128(a1, _mm_load_si128((const __m128i *)(p + i + 16)));
        a2 = _mm_xor_si128(a2, _mm_load_si128((const __m128i *)(p + i + 32)));
        a3 = _mm_xor_si128(a3, _mm_load_si128((const __m128i *)(p + i + 48)));
    }
    a0 = _mm_xor_si128(_mm_xor_si128(a0, a1), _mm_xor_si128(a2, a3));
    unsigned long long out[2];
    _mm_storeu_si128((__m128i *)out, a0);
    return out[0] ^ out[1];
}

static void read_task(void *arg, int ith, int nth) {
    read_job *j = arg;
    int64_t r0, r1;
    slm_split_range((int64_t)(j->bytes / 256), ith, nth, 1, &r0, &r1);
    const unsigned char *p = j->buf + (size_t)r0 * 256;
    const size_t n = (size_t)(r1 - r0) * 256;
    j->sink[ith] ^= j->use_avx2 ? read_avx2(p, n) : read_sse2(p, n);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int usage(void) {
    fprintf(stderr, "usage: bench_membw [-t 1,2] [-m MiB] [-n passes] [--json]\n");
    return 2;
}

int main(int argc, char **argv) {
    char tlist[256] = "1,2";
    long mib = 1024, passes = 10;
    int json = 0, huge = 0;
    for (int i = 1; i < argc; i++) {
        const int v = i + 1 < argc;
        if (!strcmp(argv[i], "-t") && v) snprintf(tlist, sizeof tlist, "%s", argv[++i]);
        else if (!strcmp(argv[i], "-m") && v) mib = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-n") && v) passes = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--huge")) huge = 1;
        else return usage();
    }
    if (mib < 1 || mib > (1L << 20) || passes < 1 || passes > 10000) return usage();
    const size_t bytes = (size_t)mib << 20;
    unsigned char *buf = aligned_alloc(huge ? (size_t)2 << 20 : 4096, bytes);
    if (buf && huge) (void)madvise(buf, bytes, MADV_HUGEPAGE);
    double *gbps = malloc((size_t)passes * sizeof *gbps);
    read_job *job = calloc(1, sizeof *job);
    if (!buf || !gbps || !job) {
        fprintf(stderr, "bench_membw: out of memory (%ld MiB)\n", mib);
        return 1;
    }
    /* Non-zero contents: untouched pages would all map the shared zero page (and stay in cache). */
    for (size_t i = 0; i < bytes; i += 64) memset(buf + i, (int)(i >> 6) & 0xff, 64);
    __builtin_cpu_init();
    job->buf = buf;
    job->bytes = bytes;
    job->use_avx2 = __builtin_cpu_supports("avx2");

    int rc = 0;
    for (char *tok = strtok(tlist, ","); tok; tok = strtok(NULL, ",")) {
        const long nt = strtol(tok, NULL, 10);
        slm_threadpool *pool = NULL;
        slm_error err = {0};
        if (nt < 1 || nt > SLM_THREADPOOL_MAX || slm_threadpool_new((int)nt, &pool, &err) != SLM_OK) {
            fprintf(stderr, "bench_membw: cannot start %s threads %s\n", tok, err.msg);
            rc = 1;
            break;
        }
        slm_threadpool_run(pool, read_task, job); /* warm-up: TLBs, thread wake-up */
        for (long p = 0; p < passes; p++) {
            const double t0 = now_s();
            slm_threadpool_run(pool, read_task, job);
            gbps[p] = (double)bytes / (now_s() - t0) / 1e9;
        }
        slm_threadpool_free(pool);
        qsort(gbps, (size_t)passes, sizeof *gbps, cmp_double);
        const double best = gbps[passes - 1], median = gbps[passes / 2];
        if (json)
            printf("{\"threads\": %ld, \"buffer_mib\": %ld, \"passes\": %ld, \"best_gbps\": %.3f, \"median_gbps\": %.3f, "
                   "\"isa\": \"%s\", \"slm_kernels\": \"%s\"}\n",
                   nt, mib, passes, best, median, job->use_avx2 ? "avx2" : "sse2", slm_kernels_get()->name);
        else
            printf("threads %ld: best %.2f GB/s, median %.2f GB/s (%ld passes over %ld MiB, %s loads)\n", nt, best,
                   median, passes, mib, job->use_avx2 ? "avx2" : "sse2");
        fflush(stdout);
    }
    unsigned long long s = 0;
    for (int i = 0; i < SLM_THREADPOOL_MAX; i++) s ^= job->sink[i];
    if (s == 0x5a5a5a5a5a5a5a5aull) fprintf(stderr, " "); /* uses the checksum so the reads stay */
    free(job);
    free(gbps);
    free(buf);
    return rc;
}
