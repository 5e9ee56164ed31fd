/* Kernel lab: matmul throughput in isolation (not a test).
 *
 *   bench_kernels [-t threads] [-k K] [-n N] [-p n_tok] [-i isa] [--act 16|8|8x2] [--x16] [--ring MiB]
 *                 [types...]
 *
 * Times slm_matmul_mode with the activation mode given by --act (default 16: the production
 * default; 8: llama.cpp's 8-bit activations; 8x2: 8-bit plus residual); --x16 repacks the weights
 * into 16-row groups first where the table has tiles for them (slm_matmul_x16); --ring M also
 * times token generation over distinct copies of the matrix totalling more than M MiB, in turn
 * (the median pass: weights streamed from memory as in a model, not the best call from cache).
 *
 * For each weight type: matvec (n_tok = 1, token generation) as GB/s of weight bytes streamed,
 * and prompt processing (n_tok = p, default 512) as GFLOP/s (2 N K p flops); see now_s for how
 * time is measured. Before timing, the output of the chosen ISA is checked against
 * the scalar reference on a slice of rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <math.h>

#include "base/dtype.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

/* The development machine is shared and oversubscribed, so time is the minimum over many calls
 * (see time_matmul), measured as process CPU time with one thread (immune to preemption) and as
 * wall time with several (CPU time would hide a thread that waits). */
static int g_threads = 1;
static slm_act_mode g_mode = SLM_ACT_A16;
static bool g_x16 = false, g_packed = false; /* --x16: weights repacked into 16-row groups */
static int64_t g_ring_mib = 0;              /* --ring: token generation over distinct copies */
static bool g_huge = false;                 /* --huge: ring copies on transparent huge pages */

static void run_matmul(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t rb, int64_t n,
                       const float *x, int64_t n_tok, int64_t k, void *act, float *y) {
    if (g_packed && g_mode == SLM_ACT_Q8 && n_tok == 1) {
        const slm_x16_item item = {type, w, rb, n, y, n, act};
        slm_matmul_x16_multi_a8(kt, pool, &item, 1, x, k);
    } else if (g_packed)
        slm_matmul_x16(kt, pool, type, w, rb, n, x, k, n_tok, k, act, y, n);
    else
        slm_matmul_mode(kt, pool, g_mode, type, w, rb, n, x, k, n_tok, k, act, y, n);
}
static double now_s(void) {
    struct timespec ts;
    clock_gettime(g_threads == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t g_rng = 12345;
static float frand(void) {
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float)((g_rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static void *xalloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* Seconds per slm_matmul call: the fastest of repeated calls over about min_s seconds (the
 * minimum filters out the other processes' interference). */
static double time_matmul(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t rb,
                          int64_t n, const float *x, int64_t n_tok, int64_t k, void *act, float *y, double min_s) {
    run_matmul(kt, pool, type, w, rb, n, x, n_tok, k, act, y); /* warm-up */
    double best = 1e30, start = now_s(), t1;
    do {
        double t0 = now_s();
        run_matmul(kt, pool, type, w, rb, n, x, n_tok, k, act, y);
        t1 = now_s();
        if (t1 - t0 < best) best = t1 - t0;
    } while (t1 - start < min_s);
    return best;
}

/* 2 MiB aligned and madvise'd for transparent huge pages, as slm_model_prepare's arena. */
static void *huge_alloc(size_t n) {
    const size_t align = (size_t)2 << 20;
    void *p = aligned_alloc(align, (n + align - 1) / align * align);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    (void)madvise(p, (n + align - 1) / align * align, MADV_HUGEPAGE);
    return p;
}

/* --ring: n_tok = 1 over `copies` distinct copies of the matrix in turn (their total larger than
 * the caches, as a model's layers are); seconds per call, the median pass of `passes` (the best
 * pass in *best: the one to hold against bench_membw's best pass). */
static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double time_ring(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, uint8_t *const *ws, int copies,
                        size_t rb, int64_t n, const float *x, int64_t k, void *act, float *y, double *best) {
    enum { PASSES = 15 };
    double t[PASSES];
    for (int p = 0; p < PASSES; p++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int c = 0; c < copies; c++)
            run_matmul(kt, pool, type, ws[c], rb, n, x, 1, k, act, y);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[p] = ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9) / copies;
    }
    qsort(t, PASSES, sizeof t[0], cmp_double);
    *best = t[0];
    return t[PASSES / 2];
}

static void empty_task(void *arg, int ith, int nth) {
    (void)arg;
    (void)ith;
    (void)nth;
}

/* Wall-clock cost of one slm_threadpool_run of an empty task (dispatch + join). */
static double dispatch_us(slm_threadpool *pool, int reps) {
    struct timespec a, b;
    slm_threadpool_run(pool, empty_task, NULL);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < reps; i++)
        slm_threadpool_run(pool, empty_task, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / reps / 1e3;
}

int main(int argc, char **argv) {
    int n_threads = 1;
    int64_t K = 2048, N = 8192, P = 512;
    const char *isa_name = NULL;
    const char *types[32];
    int n_types = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            n_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-k") && i + 1 < argc)
            K = atoll(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            N = atoll(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            P = atoll(argv[++i]);
        else if (!strcmp(argv[i], "-i") && i + 1 < argc)
            isa_name = argv[++i];
        else if (!strcmp(argv[i], "--x16"))
            g_x16 = true;
        else if (!strcmp(argv[i], "--huge"))
            g_huge = true;
        else if (!strcmp(argv[i], "--ring") && i + 1 < argc)
            g_ring_mib = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--act") && i + 1 < argc) {
            const char *m = argv[++i];
            g_mode = !strcmp(m, "8") ? SLM_ACT_Q8 : !strcmp(m, "8x2") ? SLM_ACT_Q8X2 : SLM_ACT_A16;
        }
        else if (n_types < 32)
            types[n_types++] = argv[i];
    }
    if (n_types == 0) {
        static const char *def[] = {"Q4_0", "Q8_0", "Q4_K", "Q6_K", "F16", "Q5_K", "Q3_K", "Q2_K", "IQ4_XS"};
        for (size_t i = 0; i < sizeof def / sizeof def[0]; i++)
            types[n_types++] = def[i];
    }
    const slm_kernels *kt = slm_kernels_get();
    if (isa_name) {
        slm_isa isa;
        if (!slm_isa_from_name(isa_name, &isa) || !(kt = slm_kernels_for_isa(isa))) {
            fprintf(stderr, "ISA %s not available\n", isa_name);
            return 1;
        }
    }
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    g_threads = n_threads;
    slm_threadpool *pool = NULL;
    slm_error err;
    if (slm_threadpool_new(n_threads, &pool, &err) != SLM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("isa %s, %d threads, K=%lld N=%lld, pp n_tok=%lld, %s matmul\n", kt->name, n_threads, (long long)K,
           (long long)N, (long long)P, g_mode == SLM_ACT_Q8 ? "8-bit activations" : g_mode == SLM_ACT_Q8X2 ? "8x2 activations" : "16-bit activations");
    printf("thread pool dispatch: %.2f us per run (wall clock)\n", dispatch_us(pool, 20000));
    printf("%-7s %10s %10s %12s %10s\n", "type", "tg ms", "tg GB/s", "pp ms", "pp GFLOP/s");

    const int64_t P3 = P > 3 ? P : 3; /* the sanity check uses 3 tokens */
    float *x = xalloc(sizeof(float) * K * P3);
    for (int64_t i = 0; i < K * P3; i++)
        x[i] = frand();
    float *y = xalloc(sizeof(float) * N * P3);
    float *row = xalloc(sizeof(float) * K);
    for (int ti = 0; ti < n_types; ti++) {
        slm_dtype type;
        if (!slm_dtype_from_name(types[ti], &type) || slm_matmul_check(type, K, 0, &err) == SLM_E_UNSUPPORTED) {
            printf("%-7s unsupported\n", types[ti]);
            continue;
        }
        uint64_t rb64;
        if (!slm_dtype_row_size(type, (uint64_t)K, &rb64) || !slm_matmul_supported(type, K)) {
            printf("%-7s K=%lld not supported\n", types[ti], (long long)K);
            continue;
        }
        size_t rb = (size_t)rb64;
        uint8_t *w = xalloc(rb * (size_t)N);
        /* 64 distinct quantized rows, repeated: quantizing 16M values would dominate the run. */
        for (int r = 0; r < 64 && r < N; r++) {
            for (int64_t i = 0; i < K; i++)
                row[i] = frand() * (1.0f + (float)(r % 7));
            slm_quant_from_float(type)(row, w + (size_t)r * rb, K);
        }
        for (int64_t r = 64; r < N; r++)
            memcpy(w + (size_t)r * rb, w + (size_t)(r % 64) * rb, rb);
        void *act = xalloc(slm_matmul_act_size_mode(type, K, P3, SLM_ACT_A16));

        /* Sanity: 3 tokens x 64 rows against the scalar reference. */
        float ys[3 * 64], yr[3 * 64];
        int64_t nr = N < 64 ? N : 64;
        slm_matmul_mode(kt, NULL, g_mode, type, w, rb, nr, x, K, 3, K, act, ys, 64);
        slm_matmul_mode(ref, NULL, g_mode, type, w, rb, nr, x, K, 3, K, act, yr, 64);
        double maxrel = 0;
        for (int i = 0; i < 3; i++)
            for (int64_t r = 0; r < nr; r++)
                maxrel = fmax(maxrel, fabs(ys[i * 64 + r] - yr[i * 64 + r]) / (fabs(yr[i * 64 + r]) + 1e-3));
        if (maxrel > 1e-3)
            printf("%-7s WARNING: differs from the scalar reference (max rel %.3g)\n", types[ti], maxrel);
        g_packed = g_x16 && slm_x16_usable(kt, type, N, K) &&
                   (g_mode == SLM_ACT_A16 || (g_mode == SLM_ACT_Q8 && slm_x16_a8_usable(kt, type, N, K)));
        if (g_packed) {
            uint8_t *packed = xalloc(rb * (size_t)N);
            slm_x16_pack(type, w, packed, rb, 0, N / 16);
            memcpy(w, packed, rb * (size_t)N);
            free(packed);
            if (g_mode == SLM_ACT_Q8) /* one token: the 8-bit tile; prompts keep the 16-bit tiles */
                run_matmul(kt, NULL, type, w, rb, nr, x, 1, K, act, ys);
            else
                slm_matmul_x16(kt, NULL, type, w, rb, nr, x, K, 3, K, act, ys, 64);
            maxrel = 0;
            for (int i = 0; i < (g_mode == SLM_ACT_Q8 ? 1 : 3); i++)
                for (int64_t r = 0; r < nr; r++)
                    maxrel = fmax(maxrel, fabs(ys[i * 64 + r] - yr[i * 64 + r]) / (fabs(yr[i * 64 + r]) + 1e-3));
            printf("%-7s x16 (16-row interleaved weights), max rel vs reference %.3g\n", types[ti], maxrel);
        }

        if (g_ring_mib > 0) {
            const size_t bytes = rb * (size_t)N;
            int copies = (int)(((size_t)g_ring_mib << 20) / bytes) + 1;
            if (copies < 2) copies = 2;
            uint8_t **ws = xalloc(sizeof(uint8_t *) * (size_t)copies);
            for (int c = 0; c < copies; c++) {
                ws[c] = g_huge ? huge_alloc(bytes) : xalloc(bytes);
                memcpy(ws[c], w, bytes);
            }
            double tb = 0;
            const double tr = time_ring(kt, pool, type, ws, copies, rb, N, x, K, act, y, &tb);
            printf("%-7s ring of %d copies (%.0f MiB): tg %.3f ms, %.2f GB/s median pass, %.2f GB/s best\n",
                   types[ti], copies, (double)bytes * copies / 1048576.0, tr * 1e3, (double)bytes / tr / 1e9,
                   (double)bytes / tb / 1e9);
            for (int c = 0; c < copies; c++) free(ws[c]);
            free(ws);
        }
        double tg = time_matmul(kt, pool, type, w, rb, N, x, 1, K, act, y, 0.5);
        double pp = P > 0 ? time_matmul(kt, pool, type, w, rb, N, x, P, K, act, y, 0.5) : 0;
        printf("%-7s %10.3f %10.2f %12.2f %10.2f\n", types[ti], tg * 1e3, (double)rb * N / tg / 1e9, pp * 1e3,
               pp > 0 ? 2.0 * N * K * P / pp / 1e9 : 0.0);
        fflush(stdout);
        free(w);
        free(act);
    }
    free(x);
    free(y);
    free(row);
    slm_threadpool_free(pool);
    return 0;
}
