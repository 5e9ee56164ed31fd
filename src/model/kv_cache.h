/* KV cache: per layer, one K row and one V row of n_head_kv * head_dim values per cell, in f32,
 * f16 or q8_0. Cells are a pool shared by all sequences (like llama.cpp's unified cache): each
 * used cell records the (sequence, position) it holds, and attention finds the cells a query
 * may see by those labels, so sequences can be removed or truncated without moving data. */
#ifndef SLM_MODEL_KV_CACHE_H
#define SLM_MODEL_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef struct kv_cache {
    slm_kv_type type;
    int32_t n_layer;
    int32_t n_cells;
    int64_t row_elems;   /* n_head_kv * head_dim */
    size_t row_bytes;    /* bytes of one stored row (q8_0: padded to whole 32-value blocks) */
    uint8_t *k, *v;      /* [n_layer][n_cells][row_bytes] */
    void *k_map, *v_map; /* the anonymous mappings k and v lie in (kv_cache.c: kv_alloc), map_bytes each */
    size_t map_bytes;
    int32_t *cell_pos;   /* position held by each cell */
    int32_t *cell_seq;   /* sequence id of each cell, -1 = free */
    int32_t n_used;
    int32_t used_end;    /* 1 + highest used cell index: attention scans [0, used_end) */
} kv_cache;

/* Allocate an empty cache. Sizes are overflow-checked; SLM_E_NOMEM if it does not fit. */
slm_status kv_cache_init(kv_cache *kv, slm_kv_type type, int32_t n_layer, int32_t n_cells, int64_t row_elems,
                         slm_error *err);
void kv_cache_free(kv_cache *kv);
/* Total bytes of K and V storage. */
size_t kv_cache_bytes(const kv_cache *kv);

/* Store one token's K and V rows (row_elems floats each) of a layer into a cell. */
void kv_cache_store(kv_cache *kv, int32_t layer, int32_t cell, const float *k, const float *v);
/* Read values [off, off + n) of the K (or V) row of a cell as floats. */
void kv_cache_load_k(const kv_cache *kv, int32_t layer, int32_t cell, int64_t off, int64_t n, float *out);
void kv_cache_load_v(const kv_cache *kv, int32_t layer, int32_t cell, int64_t off, int64_t n, float *out);

/* The stored K (or V) row of a cell: row_bytes bytes in the cache's type (f32, f16, or q8_0
 * blocks), for kernels that read it in place. */
const void *kv_cache_row_k(const kv_cache *kv, int32_t layer, int32_t cell);
const void *kv_cache_row_v(const kv_cache *kv, int32_t layer, int32_t cell);

/* Cell bookkeeping. claim returns the cell already holding (seq, pos), else a free one
 * (marking it used), else -1 when full. */
int32_t kv_cache_claim(kv_cache *kv, int32_t seq, int32_t pos);
void kv_cache_release(kv_cache *kv, int32_t cell);
/* Remove positions [p0, p1) of seq (p1 < 0: to the end; seq < 0: every sequence). */
void kv_cache_seq_remove(kv_cache *kv, int32_t seq, int32_t p0, int32_t p1);
int32_t kv_cache_seq_pos_max(const kv_cache *kv, int32_t seq);

#endif
