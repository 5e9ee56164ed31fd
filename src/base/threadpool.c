/* Persistent thread pool: see threadpool.h.
 *
 * Dispatch protocol. The caller publishes (fn, arg), then bumps `gen`. Workers remember the last
 * generation they ran; an idle worker spins on `gen` for a short while (a forward pass issues the
 * next run within microseconds) and then sleeps on `cv_work`. A worker that goes to sleep first
 * increments `n_sleeping` under the mutex and re-checks `gen`; the caller bumps `gen` before it
 * reads `n_sleeping` (both sequentially consistent), so either the worker sees the new gen or the
 * caller sees the sleeper and broadcasts under the mutex: no lost wake-up, and no syscall at all
 * when every worker is still spinning. Completion mirrors this with `n_done` / `cv_done`.
 */
#define _GNU_SOURCE
#include "base/threadpool.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Spin iterations before sleeping: about 50-100 µs on current x86 (pause is 10-140 cycles). */
#define SPIN_WAIT 20000
/* Spins between sched_yield calls: when the machine is oversubscribed (more runnable threads
 * than cores) the thread we wait for may need our core, so spinning must give it up often. */
#define SPIN_YIELD 1000

struct slm_threadpool {
    int n;
    pthread_t *threads; /* n - 1 workers */
    int n_started;

    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    pthread_cond_t cv_done;

    slm_task_fn fn;
    void *arg;

    _Atomic uint64_t gen;
    _Atomic int stop;
    _Atomic int n_sleeping; /* workers asleep (or about to be) on cv_work */
    _Atomic int n_done;     /* workers finished with the current generation */
    _Atomic int caller_sleeping;

    /* Barrier (inside a run). */
    _Atomic int bar_count;
    _Atomic unsigned bar_gen;
};

typedef struct worker_arg {
    slm_threadpool *pool;
    int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Wait until gen != last (or stop). Returns the new generation. */
static uint64_t worker_wait(slm_threadpool *p, uint64_t last) {
    for (int i = 1; i <= SPIN_WAIT; i++) {
        uint64_t g = atomic_load(&p->gen);
        if (g != last || atomic_load(&p->stop)) return g;
        cpu_relax();
        if (i % SPIN_YIELD == 0) sched_yield();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->n_sleeping, 1);
    uint64_t g;
    while ((g = atomic_load(&p->gen)) == last && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv_work, &p->mu);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *varg) {
    worker_arg *wa = varg;
    slm_threadpool *p = wa->pool;
    int ith = wa->ith;
    free(wa);
    uint64_t last = 0;
    for (;;) {
        last = worker_wait(p, last);
        if (atomic_load(&p->stop)) break;
        p->fn(p->arg, ith, p->n);
        if (atomic_fetch_add(&p->n_done, 1) == p->n - 2 && atomic_load(&p->caller_sleeping)) {
            /* Last worker: wake the caller if it went to sleep. */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

slm_status slm_threadpool_new(int n_threads, slm_threadpool **out, slm_error *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > SLM_THREADPOOL_MAX)
        return slm_fail(err, SLM_E_INVALID_ARG, "thread pool: thread count %d out of range 1..%d", n_threads,
                        SLM_THREADPOOL_MAX);
    slm_threadpool *p = calloc(1, sizeof *p);
    if (!p) return slm_fail(err, SLM_E_NOMEM, "thread pool: out of memory");
    p->n = n_threads;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return slm_fail(err, SLM_E_NOMEM, "thread pool: cannot create mutex");
    }
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) {
            slm_threadpool_free(p);
            return slm_fail(err, SLM_E_NOMEM, "thread pool: out of memory");
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa) {
                slm_threadpool_free(p);
                return slm_fail(err, SLM_E_NOMEM, "thread pool: out of memory");
            }
            wa->pool = p;
            wa->ith = i;
            int rc = pthread_create(&p->threads[i - 1], NULL, worker_main, wa);
            if (rc != 0) {
                free(wa);
                slm_threadpool_free(p);
                return slm_fail(err, SLM_E_IO, "thread pool: cannot start thread %d of %d: %s", i, n_threads,
                                strerror(rc));
            }
            p->n_started++;
        }
    }
    *out = p;
    return SLM_OK;
}

void slm_threadpool_free(slm_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int slm_threadpool_n_threads(const slm_threadpool *p) { return p ? p->n : 1; }

void slm_threadpool_run(slm_threadpool *p, slm_task_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->n_done, 0);
    atomic_store(&p->bar_count, 0);
    atomic_fetch_add(&p->gen, 1); /* publishes fn/arg (seq_cst) */
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    int need = p->n - 1;
    for (int i = 1; i <= SPIN_WAIT; i++) {
        if (atomic_load(&p->n_done) == need) return;
        cpu_relax();
        if (i % SPIN_YIELD == 0) sched_yield();
    }
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_sleeping, 1);
    while (atomic_load(&p->n_done) != need)
        pthread_cond_wait(&p->cv_done, &p->mu);
    atomic_store(&p->caller_sleeping, 0);
    pthread_mutex_unlock(&p->mu);
}

void slm_threadpool_barrier(slm_threadpool *p) {
    if (!p || p->n == 1) return;
    unsigned g = atomic_load(&p->bar_gen);
    if (atomic_fetch_add(&p->bar_count, 1) == p->n - 1) {
        atomic_store(&p->bar_count, 0);
        atomic_fetch_add(&p->bar_gen, 1);
        return;
    }
    /* All n threads are inside the same run, so the wait is short unless the machine is
     * oversubscribed: then yield so the late thread gets the core. */
    for (;;) {
        for (int i = 0; i < SPIN_YIELD; i++) {
            if (atomic_load(&p->bar_gen) != g) return;
            cpu_relax();
        }
        sched_yield();
    }
}

void slm_split_range(int64_t n, int ith, int nth, int64_t align, int64_t *r0, int64_t *r1) {
    if (nth < 1) nth = 1;
    if (align < 1) align = 1;
    int64_t units = (n + align - 1) / align; /* whole chunks of align elements */
    int64_t base = units / nth, extra = units % nth;
    int64_t u0 = ith * base + (ith < extra ? ith : extra);
    int64_t u1 = u0 + base + (ith < extra ? 1 : 0);
    int64_t a = u0 * align, b = u1 * align;
    *r0 = a < n ? a : n;
    *r1 = b < n ? b : n;
}

/* First number of a sysfs cpu list file ("0-1", "3,7"), or -1. */
static int read_first_cpu(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1) v = -1;
    fclose(f);
    return v;
}

int slm_cpu_count_physical(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int n_logical = CPU_COUNT(&set);
    if (n_logical < 1) return 1;
    /* A core is identified by the first cpu of its sibling list; count distinct ones. */
    char seen[CPU_SETSIZE];
    memset(seen, 0, sizeof seen);
    int n_cores = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set)) continue;
        char path[128];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", c);
        int first = read_first_cpu(path);
        if (first < 0 || first >= CPU_SETSIZE) return n_logical; /* no topology info: trust affinity */
        if (!seen[first]) {
            seen[first] = 1;
            n_cores++;
        }
    }
    return n_cores > 0 ? n_cores : 1;
}
