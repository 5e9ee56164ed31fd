/* slm_model_prepare (loader.h): repack weights into the kernels' 16-row interleaved layout. */
#include <errno.h>
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

typedef struct pack_job {
    slm_weight *w;
    size_t row_bytes;
    uint8_t **scratch; /* one 16-row buffer per thread */
} pack_job;

static void pack_task(void *arg, int ith, int nth) {
    const pack_job *j = arg;
    int64_t g0, g1;
    slm_split_range(j->w->ne[1] / 16, ith, nth, 1, &g0, &g1);
    if (g1 > g0) slm_x16_pack(j->w->type, (void *)j->w->data, j->row_bytes, g0, g1, j->scratch[ith]);
}

/* The tensor's pages become writable (private copy-on-write pages of the mapping). */
static slm_status make_writable(const slm_weight *w, slm_error *err) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (uintptr_t)w->data & ~(page - 1), b = ((uintptr_t)w->data + w->nbytes + page - 1) & ~(page - 1);
    if (mprotect((void *)a, b - a, PROT_READ | PROT_WRITE) != 0)
        return slm_fail(err, SLM_E_IO, "cannot make tensor '%s' writable for repacking: %s", w->name ? w->name : "?",
                        strerror(errno));
#ifdef MADV_POPULATE_WRITE
    /* Make the private copies in one call, before anything reads the pages: a write to a page
     * already mapped read-only is a copy-on-write fault that flushes the TLB of every CPU running
     * this process (measured: half of a 6 s repack of a 1 GB model). Older kernels: EINVAL, and
     * the faults happen as the pages are written. */
    (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#endif
    return SLM_OK;
}

static slm_status pack_weight(slm_weight *w, const slm_kernels *kt, slm_threadpool *pool, uint8_t **scratch,
                              size_t scratch_bytes, slm_error *err) {
    if (!w->data || w->x16 || w->n_dims > 2 || !slm_x16_usable(kt, w->type, w->ne[1], w->ne[0])) return SLM_OK;
    uint64_t rb = 0;
    if (!slm_dtype_row_size(w->type, (uint64_t)w->ne[0], &rb) || 16 * rb > scratch_bytes ||
        rb * (uint64_t)w->ne[1] > w->nbytes)
        return SLM_OK; /* shapes were validated by the loader; stay unpacked if anything is odd */
    slm_status st = make_writable(w, err);
    if (st) return st;
    pack_job j = {w, (size_t)rb, scratch};
    slm_threadpool_run(pool, pack_task, &j);
    w->x16 = true;
    return SLM_OK;
}

slm_status slm_model_prepare(slm_model *m, int n_threads, slm_error *err) {
    const slm_kernels *kt = slm_kernels_get();
    /* the widest packable row decides the scratch */
    uint64_t max_rb = 0;
    slm_weight *ws[10];
    for (int64_t il = -1; il < m->hp.n_layer; il++) {
        int n = 0;
        if (il < 0) {
            ws[n++] = &m->output;
        } else {
            slm_layer *L = &m->layers[il];
            slm_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_gate_up, &L->w_down};
            for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++) ws[n++] = lw[i];
        }
        for (int i = 0; i < n; i++) {
            uint64_t rb;
            if (ws[i]->data && slm_x16_usable(kt, ws[i]->type, ws[i]->ne[1], ws[i]->ne[0]) &&
                slm_dtype_row_size(ws[i]->type, (uint64_t)ws[i]->ne[0], &rb) && rb > max_rb)
                max_rb = rb;
        }
    }
    if (max_rb == 0) return SLM_OK;
    if (n_threads <= 0) n_threads = slm_cpu_count_physical();
    slm_threadpool *pool = NULL;
    slm_status st = slm_threadpool_new(n_threads, &pool, err);
    if (st) return st;
    uint8_t **scratch = calloc((size_t)n_threads, sizeof *scratch);
    const size_t sb = (size_t)(16 * max_rb);
    for (int i = 0; scratch && i < n_threads; i++)
        if (!(scratch[i] = malloc(sb))) st = slm_fail(err, SLM_E_NOMEM, "out of memory repacking weights");
    if (!scratch) st = slm_fail(err, SLM_E_NOMEM, "out of memory repacking weights");
    /* the tied output is tok_embd's data: pack it once, flag both views */
    const bool tied = m->output.data && m->output.data == m->tok_embd.data;
    if (!st) st = pack_weight(&m->output, kt, pool, scratch, sb, err);
    if (!st && tied) m->tok_embd.x16 = m->output.x16;
    for (int64_t il = 0; !st && il < m->hp.n_layer; il++) {
        slm_layer *L = &m->layers[il];
        slm_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_gate_up, &L->w_down};
        for (size_t i = 0; !st && i < sizeof lw / sizeof lw[0]; i++) st = pack_weight(lw[i], kt, pool, scratch, sb, err);
    }
    for (int i = 0; scratch && i < n_threads; i++) free(scratch[i]);
    free(scratch);
    slm_threadpool_free(pool);
    return st;
}
