/* A persistent pool of worker threads for data-parallel kernels.
 *
 * slm_threadpool_run(pool, fn, arg) calls fn(arg, ith, nth) once for every ith in [0, nth) with
 * nth = the pool's thread count, the calling thread doing ith = 0, and returns when all calls have
 * returned. A forward pass issues one run per matmul / op, so dispatch is cheap (a few µs): idle
 * workers spin briefly on a generation counter, then sleep on a condition variable.
 *
 * One pool serves one caller at a time (runs from different threads on the same pool must be
 * serialized by the caller). A pool of 1 thread starts no threads and runs fn inline.
 */
#ifndef SLM_BASE_THREADPOOL_H
#define SLM_BASE_THREADPOOL_H

#include <stdint.h>

#include "slm.h"

typedef struct slm_threadpool slm_threadpool;

/* Work item: called once per thread; ith in [0, nth). */
typedef void (*slm_task_fn)(void *arg, int ith, int nth);

/* Largest thread count slm_threadpool_new accepts. */
#define SLM_THREADPOOL_MAX 256

/* Create a pool of n_threads (1..SLM_THREADPOOL_MAX, including the caller's thread; n - 1 workers
 * are started). *out is owned by the caller (slm_threadpool_free). Errors: SLM_E_INVALID_ARG for
 * a bad count, SLM_E_NOMEM / SLM_E_IO if memory or a thread cannot be had (nothing leaks). */
slm_status slm_threadpool_new(int n_threads, slm_threadpool **out, slm_error *err);

/* Stop and join the workers; NULL is a no-op. Must not be called while a run is in progress. */
void slm_threadpool_free(slm_threadpool *pool);

/* Threads of the pool (1 for a NULL pool). */
int slm_threadpool_n_threads(const slm_threadpool *pool);

/* Run fn on every thread of the pool and wait for all. pool NULL: fn(arg, 0, 1) inline. */
void slm_threadpool_run(slm_threadpool *pool, slm_task_fn fn, void *arg);

/* Barrier among the nth threads of the current run: call it from inside fn, from every thread
 * (all must reach it the same number of times). No-op for a NULL or 1-thread pool. Lets one run
 * hold two dependent phases (e.g. quantize activations, then matmul rows) without a second
 * dispatch. */
void slm_threadpool_barrier(slm_threadpool *pool);

/* Split [0, n) into nth near-equal contiguous parts; part ith is [*r0, *r1). When n is not a
 * multiple of nth the first parts get one more element. `align` > 1 rounds the cut points to a
 * multiple of align (except the end n), for tile-sized chunks. */
void slm_split_range(int64_t n, int ith, int nth, int64_t align, int64_t *r0, int64_t *r1);

/* Physical cores usable by this process (a default for n_threads), at least 1. SMT siblings are
 * not counted: matmul throughput does not grow with them and they add barrier latency. */
int slm_cpu_count_physical(void);

#endif
