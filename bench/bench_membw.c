/* bench_membw: the machine's read memory bandwidth, the ceiling for token generation (which
 * streams every weight once per token).
 *
 *   bench_membw [-t 1,2] [-m MiB] [-n passes] [-s PATTERNS] [--huge] [--json] [-v]
 *
 * A buffer much larger than the last-level cache (default 1024 MiB; L3 here is 32 MiB) is
 * written once (so every page is really backed), then read end to end `passes` times by T
 * threads, each reading its contiguous 1/T slice with 32-byte loads (AVX2 where the CPU has it,
 * else 16-byte SSE2) into independent accumulators, in each of several access patterns (-s):
 * "1", one sequential stream per thread, and "SxK", spans of S x K KiB read as S streams K KiB
 * apart in lockstep, 256 bytes of each in turn. One core keeps more reads in flight over several
 * streams (its prefetchers run ahead in each): on a Zen 3 EPYC one thread reads 13-14 GB/s in
 * one stream and 16-18 in four, so a one-stream loop understates what the memory gives a core.
 * The ceiling is the best pass of the best pattern: the most this machine was seen to read.
 * Time per pass is wall time from the dispatch to the last thread's return (slm's persistent
 * thread pool, the same one the model uses); the patterns take turns pass by pass (the machine
 * is shared: the best pass is the one least disturbed by others), in GB/s = 1e9 bytes/s. Also
 * printed: that pattern's median pass, and the best one-stream pass. -v: every pattern's.
 * --huge: the buffer on transparent huge pages (as slm's repacked weights are).
 * Output: one line per thread count, or with --json one JSON object per line:
 *   {"threads":T,"buffer_mib":M,"passes":N,"best_gbps":...,"median_gbps":...,"pattern":"4x64",
 *    "one_stream_best_gbps":...,"isa":"avx2","slm_kernels":"avx512"}
 *   (isa: the loads used here; slm_kernels: the path slm's model picks)
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
    int streams;        /* interleaved streams per thread (1: one sequential pass) */
    size_t stride;      /* bytes between the streams (multiple of 256) */
} read_job;

/* 256 bytes at each of `streams` places `stride` apart, in turn, for len bytes per stream: the
 * access pattern of a one-token kernel that works on several row groups in lockstep. */
__attribute__((target("avx2"))) static unsigned long long read_avx2(const unsigned char *p, size_t len, int streams,
                                                                   size_t stride) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < len; i += 256)
        for (int s = 0; s < streams; s++) {
            const unsigned char *q = p + (size_t)s * stride + i;
            a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)q));
            a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(q + 32)));
            a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(q + 64)));
            a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(q + 96)));
            a4 = _mm256_xor_si256(a4, _mm256_load_si256((const __m256i *)(q + 128)));
            a5 = _mm256_xor_si256(a5, _mm256_load_si256((const __m256i *)(q + 160)));
            a6 = _mm256_xor_si256(a6, _mm256_load_si256((const __m256i *)(q + 192)));
            a7 = _mm256_xor_si256(a7, _mm256_load_si256((const __m256i *)(q + 224)));
        }
    a0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)),
                          _mm256_xor_si256(_mm256_xor_si256(a4, a5), _mm256_xor_si256(a6, a7)));
    unsigned long long out[4];
    _mm256_storeu_si256((__m256i *)out, a0);
    return out[0] ^ out[1] ^ out[2] ^ out[3];
}

static unsigned long long read_sse2(const unsigned char *p, size_t len, int streams, size_t stride) {
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < len; i += 64)
        for (int s = 0; s < streams; s++) {
            const unsigned char *q = p + (size_t)s * stride + i;
            a0 = _mm_xor_si128(a0, _mm_load_si128((const __m128i *)q));
            a1 = _mm_xor_si128(a1, _mm_load_si128((const __m128i *)(q + 16)));
            a2 = _mm_xor_si128(a2, _mm_load_si128((const __m128i *)(q + 32)));
            a3 = _mm_xor_si128(a3, _mm_load_si128((const __m128i *)(q + 48)));
        }
    a0 = _mm_xor_si128(_mm_xor_si128(a0, a1), _mm_xor_si128(a2, a3));
    unsigned long long out[2];
    _mm_storeu_si128((__m128i *)out, a0);
    return out[0] ^ out[1];
}

/* This thread's contiguous slice, in spans of streams x stride bytes (one sequential pass when
 * streams = 1), each span read as its streams in lockstep; the slice's tail sequentially. */
static void read_task(void *arg, int ith, int nth) {
    read_job *j = arg;
    int64_t r0, r1;
    slm_split_range((int64_t)(j->bytes / 256), ith, nth, 1, &r0, &r1);
    const unsigned char *p = j->buf + (size_t)r0 * 256;
    size_t n = (size_t)(r1 - r0) * 256;
    unsigned long long s = 0;
    if (j->streams > 1) {
        const size_t span = (size_t)j->streams * j->stride;
        for (; n >= span; p += span, n -= span)
            s ^= j->use_avx2 ? read_avx2(p, j->stride, j->streams, j->stride) : read_sse2(p, j->stride, j->streams, j->stride);
    }
    s ^= j->use_avx2 ? read_avx2(p, n, 1, 0) : read_sse2(p, n, 1, 0);
    j->sink[ith] ^= s;
}

#define MAX_PATTERNS 16
#define DEFAULT_PATTERNS "1,2x64,4x16,4x64,4x256,4x4096"

typedef struct pattern {
    int streams;
    size_t stride;
} pattern;

static const char *pattern_name(const pattern *p) {
    static char buf[32];
    if (p->streams == 1) return "1";
    snprintf(buf, sizeof buf, "%dx%zu", p->streams, p->stride >> 10);
    return buf;
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
    fprintf(stderr, "usage: bench_membw [-t 1,2] [-m MiB] [-n passes] [-s PATTERNS] [--huge] [--json] [-v]\n"
                    "  PATTERNS: comma-separated read patterns, 1 (one sequential stream per thread) or SxK\n"
                    "  (S streams K KiB apart in lockstep), default %s\n", DEFAULT_PATTERNS);
    return 2;
}

int main(int argc, char **argv) {
    char tlist[256] = "1,2", plist[256] = DEFAULT_PATTERNS;
    long mib = 1024, passes = 10;
    int json = 0, huge = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const int v = i + 1 < argc;
        if (!strcmp(argv[i], "-t") && v) snprintf(tlist, sizeof tlist, "%s", argv[++i]);
        else if (!strcmp(argv[i], "-m") && v) mib = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-n") && v) passes = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-s") && v) snprintf(plist, sizeof plist, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--huge")) huge = 1;
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else return usage();
    }
    if (mib < 1 || mib > (1L << 20) || passes < 1 || passes > 10000) return usage();
    pattern pats[MAX_PATTERNS];
    int n_pat = 0;
    for (char *tok = strtok(plist, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        const long st = strtol(tok, &end, 10);
        long kib = 0;
        if (*end == 'x') kib = strtol(end + 1, &end, 10);
        if (*end || st < 1 || st > 64 || (st > 1 && (kib < 1 || kib > 65536)) || n_pat == MAX_PATTERNS) return usage();
        pats[n_pat++] = (pattern){(int)st, (size_t)kib << 10};
    }
    if (n_pat == 0) return usage();
    const size_t bytes = (size_t)mib << 20;
    unsigned char *buf = aligned_alloc(huge ? (size_t)2 << 20 : 4096, bytes);
    if (buf && huge) (void)madvise(buf, bytes, MADV_HUGEPAGE);
    double *gbps = malloc((size_t)passes * MAX_PATTERNS * sizeof *gbps);
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
        job->streams = 1;
        slm_threadpool_run(pool, read_task, job); /* warm-up: TLBs, thread wake-up */
        /* the patterns take turns pass by pass, so that a disturbed moment hits them alike */
        for (long p = 0; p < passes; p++)
            for (int k = 0; k < n_pat; k++) {
                job->streams = pats[k].streams;
                job->stride = pats[k].stride;
                const double t0 = now_s();
                slm_threadpool_run(pool, read_task, job);
                gbps[k * passes + p] = (double)bytes / (now_s() - t0) / 1e9;
            }
        slm_threadpool_free(pool);
        int kb = 0; /* the pattern with the best pass: the ceiling */
        double best1 = 0;
        for (int k = 0; k < n_pat; k++) {
            double *g = gbps + k * passes;
            qsort(g, (size_t)passes, sizeof *g, cmp_double);
            if (g[passes - 1] > gbps[kb * passes + passes - 1]) kb = k;
            if (pats[k].streams == 1 && g[passes - 1] > best1) best1 = g[passes - 1];
            if (verbose)
                fprintf(stderr, "threads %ld pattern %s: best %.2f GB/s, median %.2f GB/s\n", nt,
                        pattern_name(&pats[k]), g[passes - 1], g[passes / 2]);
        }
        const double best = gbps[kb * passes + passes - 1], median = gbps[kb * passes + passes / 2];
        if (json)
            printf("{\"threads\": %ld, \"buffer_mib\": %ld, \"passes\": %ld, \"best_gbps\": %.3f, \"median_gbps\": %.3f, "
                   "\"pattern\": \"%s\", \"one_stream_best_gbps\": %.3f, \"isa\": \"%s\", \"slm_kernels\": \"%s\"}\n",
                   nt, mib, passes, best, median, pattern_name(&pats[kb]), best1, job->use_avx2 ? "avx2" : "sse2",
                   slm_kernels_get()->name);
        else
            printf("threads %ld: best %.2f GB/s, median %.2f GB/s (pattern %s; one stream per thread: best %.2f; "
                   "%ld passes over %ld MiB, %s loads)\n",
                   nt, best, median, pattern_name(&pats[kb]), best1, passes, mib, job->use_avx2 ? "avx2" : "sse2");
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
