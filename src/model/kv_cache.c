#include "model/kv_cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/checked.h"
#include "base/error.h"
#include "base/fp16.h"

/* q8_0 as ggml stores it: 32 values per block, 34 bytes = f16 scale d + 32 int8 q, value = q * d
 * (8.5 bits per value). Kept local: the cache only needs store/load of its own rows. */
#define KV_QK8_0 32
#define KV_Q8_0_BYTES 34

static void q8_0_store_row(const float *x, int64_t n, uint8_t *dst) {
    for (int64_t b = 0; b * KV_QK8_0 < n; b++) {
        const int64_t n_here = n - b * KV_QK8_0 < KV_QK8_0 ? n - b * KV_QK8_0 : KV_QK8_0;
        float amax = 0.0f;
        for (int64_t j = 0; j < n_here; j++) amax = fmaxf(amax, fabsf(x[b * KV_QK8_0 + j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t *blk = dst + b * KV_Q8_0_BYTES;
        const slm_f16 dh = slm_f32_to_f16(d);
        memcpy(blk, &dh, 2);
        int8_t *q = (int8_t *)(blk + 2);
        for (int64_t j = 0; j < KV_QK8_0; j++) q[j] = j < n_here ? (int8_t)lrintf(x[b * KV_QK8_0 + j] * id) : 0;
    }
}

static void q8_0_load(const uint8_t *row, int64_t off, int64_t n, float *out) {
    for (int64_t i = 0; i < n;) {
        const int64_t e = off + i;
        const uint8_t *blk = row + (e / KV_QK8_0) * KV_Q8_0_BYTES;
        slm_f16 dh;
        memcpy(&dh, blk, 2);
        const float d = slm_f16_to_f32(dh);
        const int8_t *q = (const int8_t *)(blk + 2);
        for (int64_t j = e % KV_QK8_0; j < KV_QK8_0 && i < n; j++, i++) out[i] = (float)q[j] * d;
    }
}

/* K and V storage: anonymous mappings (zero-filled and committed page by page as cells are written,
 * as calloc's were) aligned to 2 MiB and advised for transparent huge pages. Generation reads one
 * kv head's row piece per cell, a cache line or two every row_bytes: on 4 KiB pages that is a TLB
 * miss every few cells once the cache outgrows the TLB (Llama-3.2-1B at 2048 cells: 64 MiB); on
 * 2 MiB pages none. Returns the aligned start; *map gets the mapping to unmap. */
#define KV_ALIGN ((size_t)2 << 20)
static uint8_t *kv_alloc(size_t bytes, size_t map_bytes, void **map) {
    void *m = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        *map = NULL;
        return NULL;
    }
    *map = m;
    uint8_t *p = (uint8_t *)(((uintptr_t)m + KV_ALIGN - 1) & ~(uintptr_t)(KV_ALIGN - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

slm_status kv_cache_init(kv_cache *kv, slm_kv_type type, int32_t n_layer, int32_t n_cells, int64_t row_elems,
                         slm_error *err) {
    memset(kv, 0, sizeof *kv);
    if (n_layer <= 0 || n_cells <= 0 || row_elems <= 0)
        return slm_fail(err, SLM_E_INVALID_ARG, "kv cache: bad sizes (layers %d, cells %d, row %lld)", n_layer,
                        n_cells, (long long)row_elems);
    size_t row_bytes;
    switch (type) {
    case SLM_KV_F32: row_bytes = (size_t)row_elems * 4; break;
    case SLM_KV_F16: row_bytes = (size_t)row_elems * 2; break;
    case SLM_KV_Q8_0: row_bytes = (size_t)((row_elems + KV_QK8_0 - 1) / KV_QK8_0) * KV_Q8_0_BYTES; break;
    default: return slm_fail(err, SLM_E_INVALID_ARG, "kv cache: unknown type %d", (int)type);
    }
    size_t per_layer, total;
    if (!ck_mul_size(row_bytes, (size_t)n_cells, &per_layer) || !ck_mul_size(per_layer, (size_t)n_layer, &total) ||
        total > ((size_t)1 << 40))
        return slm_fail(err, SLM_E_NOMEM, "kv cache: %d cells x %d layers is too large", n_cells, n_layer);
    kv->type = type;
    kv->n_layer = n_layer;
    kv->n_cells = n_cells;
    kv->row_elems = row_elems;
    kv->row_bytes = row_bytes;
    kv->map_bytes = total + KV_ALIGN;
    kv->k = kv_alloc(total, kv->map_bytes, &kv->k_map);
    kv->v = kv_alloc(total, kv->map_bytes, &kv->v_map);
    kv->cell_pos = calloc((size_t)n_cells, sizeof *kv->cell_pos);
    kv->cell_seq = malloc((size_t)n_cells * sizeof *kv->cell_seq);
    if (!kv->k || !kv->v || !kv->cell_pos || !kv->cell_seq) {
        kv_cache_free(kv);
        return slm_fail(err, SLM_E_NOMEM, "kv cache: cannot allocate %zu bytes", 2 * total);
    }
    for (int32_t i = 0; i < n_cells; i++) kv->cell_seq[i] = -1;
    return SLM_OK;
}

void kv_cache_free(kv_cache *kv) {
    if (!kv) return;
    if (kv->k_map) munmap(kv->k_map, kv->map_bytes);
    if (kv->v_map) munmap(kv->v_map, kv->map_bytes);
    free(kv->cell_pos);
    free(kv->cell_seq);
    memset(kv, 0, sizeof *kv);
}

size_t kv_cache_bytes(const kv_cache *kv) { return 2 * kv->row_bytes * (size_t)kv->n_cells * (size_t)kv->n_layer; }

static uint8_t *row_ptr(uint8_t *base, const kv_cache *kv, int32_t layer, int32_t cell) {
    return base + ((size_t)layer * (size_t)kv->n_cells + (size_t)cell) * kv->row_bytes;
}

static void store_row(const kv_cache *kv, uint8_t *dst, const float *x) {
    switch (kv->type) {
    case SLM_KV_F32: memcpy(dst, x, (size_t)kv->row_elems * 4); break;
    case SLM_KV_F16: {
        slm_f16 *h = (slm_f16 *)dst;
        for (int64_t i = 0; i < kv->row_elems; i++) h[i] = slm_f32_to_f16(x[i]);
        break;
    }
    case SLM_KV_Q8_0: q8_0_store_row(x, kv->row_elems, dst); break;
    }
}

static void load_row(const kv_cache *kv, const uint8_t *src, int64_t off, int64_t n, float *out) {
    switch (kv->type) {
    case SLM_KV_F32: memcpy(out, src + off * 4, (size_t)n * 4); break;
    case SLM_KV_F16: {
        const slm_f16 *h = (const slm_f16 *)src + off;
        for (int64_t i = 0; i < n; i++) out[i] = slm_f16_to_f32(h[i]);
        break;
    }
    case SLM_KV_Q8_0: q8_0_load(src, off, n, out); break;
    }
}

void kv_cache_store(kv_cache *kv, int32_t layer, int32_t cell, const float *k, const float *v) {
    store_row(kv, row_ptr(kv->k, kv, layer, cell), k);
    store_row(kv, row_ptr(kv->v, kv, layer, cell), v);
}

void kv_cache_load_k(const kv_cache *kv, int32_t layer, int32_t cell, int64_t off, int64_t n, float *out) {
    load_row(kv, row_ptr(kv->k, kv, layer, cell), off, n, out);
}

void kv_cache_load_v(const kv_cache *kv, int32_t layer, int32_t cell, int64_t off, int64_t n, float *out) {
    load_row(kv, row_ptr(kv->v, kv, layer, cell), off, n, out);
}

const void *kv_cache_row_k(const kv_cache *kv, int32_t layer, int32_t cell) {
    return row_ptr(kv->k, kv, layer, cell);
}

const void *kv_cache_row_v(const kv_cache *kv, int32_t layer, int32_t cell) {
    return row_ptr(kv->v, kv, layer, cell);
}

static void recompute_used_end(kv_cache *kv) {
    int32_t e = kv->used_end;
    while (e > 0 && kv->cell_seq[e - 1] < 0) e--;
    kv->used_end = e;
}

int32_t kv_cache_claim(kv_cache *kv, int32_t seq, int32_t pos) {
    int32_t free_cell = -1;
    for (int32_t i = 0; i < kv->used_end; i++) {
        if (kv->cell_seq[i] == seq && kv->cell_pos[i] == pos) return i; /* overwrite in place */
        if (free_cell < 0 && kv->cell_seq[i] < 0) free_cell = i;
    }
    if (free_cell < 0) {
        if (kv->used_end >= kv->n_cells) return -1;
        free_cell = kv->used_end;
    }
    kv->cell_seq[free_cell] = seq;
    kv->cell_pos[free_cell] = pos;
    kv->n_used++;
    if (free_cell >= kv->used_end) kv->used_end = free_cell + 1;
    return free_cell;
}

void kv_cache_release(kv_cache *kv, int32_t cell) {
    if (cell < 0 || cell >= kv->n_cells || kv->cell_seq[cell] < 0) return;
    kv->cell_seq[cell] = -1;
    kv->n_used--;
    recompute_used_end(kv);
}

void kv_cache_seq_remove(kv_cache *kv, int32_t seq, int32_t p0, int32_t p1) {
    for (int32_t i = 0; i < kv->used_end; i++) {
        if (kv->cell_seq[i] < 0 || (seq >= 0 && kv->cell_seq[i] != seq)) continue;
        if (kv->cell_pos[i] < p0 || (p1 >= 0 && kv->cell_pos[i] >= p1)) continue;
        kv->cell_seq[i] = -1;
        kv->n_used--;
    }
    recompute_used_end(kv);
}

int32_t kv_cache_seq_pos_max(const kv_cache *kv, int32_t seq) {
    int32_t m = -1;
    for (int32_t i = 0; i < kv->used_end; i++)
        if (kv->cell_seq[i] == seq && kv->cell_pos[i] > m) m = kv->cell_pos[i];
    return m;
}
