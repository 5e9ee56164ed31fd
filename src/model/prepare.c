/* slm_model_prepare (loader.h): copy weights into the kernels' 16-row interleaved layout.
 *
 * The packed copies live in one anonymous arena owned by the model, not in the file mapping:
 *  - the mapping is never written, so tensor bytes read through the GGUF file stay the file's (a
 *    prepared model can still be converted or hashed), and no copy-on-write fault happens (each
 *    flushes the TLB of every CPU running the process: that made an in-place repack of a 1 GB
 *    model take 6 s);
 *  - the arena asks for transparent huge pages: generation streams every weight once per token,
 *    and 2 MiB pages take ~500x fewer TLB misses than the mapping's 4 KiB ones;
 *  - the source pages of each packed tensor are dropped from the mapping once copied
 *    (MADV_DONTNEED: a private mapping that was never written simply reads the file again if
 *    anything touches them later), so resident memory stays about one model. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/dtype.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "model/loader.h"

#define ARENA_ALIGN ((size_t)2 << 20) /* a huge page */

typedef struct pack_job {
    const slm_weight *w;
    size_t row_bytes;
    void *dst;
} pack_job;

static void pack_task(void *arg, int ith, int nth) {
    const pack_job *j = arg;
    int64_t g0, g1;
    slm_split_range(j->w->ne[1] / 16, ith, nth, 1, &g0, &g1);
    if (g1 > g0) slm_x16_pack(j->w->type, j->w->data, j->dst, j->row_bytes, g0, g1);
}

/* Bytes of the packed copy of w (0: w stays as it is). */
static size_t packed_bytes(const slm_kernels *kt, const slm_weight *w) {
    uint64_t rb = 0;
    if (!w->data || w->x16 || w->n_dims > 2 || !slm_x16_usable(kt, w->type, w->ne[1], w->ne[0]) ||
        !slm_dtype_row_size(w->type, (uint64_t)w->ne[0], &rb) || rb * (uint64_t)w->ne[1] > w->nbytes ||
        rb * (uint64_t)w->ne[1] > SIZE_MAX / 2)
        return 0;
    return (size_t)(rb * (uint64_t)w->ne[1]);
}

/* Every weight the forward pass multiplies (the tied output is tok_embd's data: listed once). */
static int matmul_weights(slm_model *m, int64_t il, slm_weight **out) {
    int n = 0;
    if (il < 0) {
        out[n++] = &m->output;
        return n;
    }
    slm_layer *L = &m->layers[il];
    slm_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_gate_up, &L->w_down};
    for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++) out[n++] = lw[i];
    return n;
}

/* Drop the mapping's pages that lie wholly inside [p, p + n) (never written: they read the file
 * again if touched). */
static void drop_source_pages(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + n) & ~(page - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

slm_status slm_model_prepare(slm_model *m, int n_threads, slm_error *err) {
    if (m->x16_arena) return SLM_OK;
    const slm_kernels *kt = slm_kernels_get();
    size_t total = 0;
    slm_weight *ws[16];
    for (int64_t il = -1; il < m->hp.n_layer; il++) {
        const int n = matmul_weights(m, il, ws);
        for (int i = 0; i < n; i++) total += (packed_bytes(kt, ws[i]) + 63) & ~(size_t)63;
    }
    if (total == 0) return SLM_OK;
    const size_t arena_bytes = (total + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    uint8_t *arena = aligned_alloc(ARENA_ALIGN, arena_bytes);
    if (!arena) return slm_fail(err, SLM_E_NOMEM, "cannot allocate %zu bytes for the repacked weights", arena_bytes);
#ifdef MADV_HUGEPAGE
    (void)madvise(arena, arena_bytes, MADV_HUGEPAGE);
#endif
    if (n_threads <= 0) n_threads = slm_cpu_count_physical();
    slm_threadpool *pool = NULL;
    slm_status st = slm_threadpool_new(n_threads, &pool, err);
    if (st) {
        free(arena);
        return st;
    }
    const void *tied = m->output.data == m->tok_embd.data ? m->tok_embd.data : NULL;
    size_t off = 0;
    for (int64_t il = -1; il < m->hp.n_layer; il++) {
        const int n = matmul_weights(m, il, ws);
        for (int i = 0; i < n; i++) {
            slm_weight *w = ws[i];
            const size_t bytes = packed_bytes(kt, w);
            if (!bytes) continue;
            pack_job j = {w, bytes / (size_t)w->ne[1], arena + off};
            slm_threadpool_run(pool, pack_task, &j);
            drop_source_pages(w->data, bytes);
            w->data = arena + off;
            w->x16 = true;
            if (w == &m->output && tied) { /* the embedding lookup reads the same rows */
                m->tok_embd.data = w->data;
                m->tok_embd.x16 = true;
            }
            off += (bytes + 63) & ~(size_t)63;
        }
    }
    slm_threadpool_free(pool);
    m->x16_arena = arena;
    return SLM_OK;
}
