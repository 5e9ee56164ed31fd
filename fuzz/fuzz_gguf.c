/* libFuzzer target for the GGUF reader (and the writer on whatever the reader accepts):
 * open the input with gguf_open_memory, walk every key, array element and tensor byte range; if
 * it opened, copy it through the writer and require the writer's output to open again with the
 * same keys and tensors. Seeds: fuzz/seeds/gguf/ (tiny files made with gguf_writer). */
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static uint64_t walk_arr(const gguf_file *f, const gguf_arr *a) {
    uint64_t acc = a->n;
    for (uint64_t i = 0; i < a->n; i++) {
        gguf_str s;
        gguf_arr sub;
        double d;
        int64_t v;
        if (gguf_arr_str(f, a, i, &s)) acc += s.len ? (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1] : 0;
        else if (gguf_arr_arr(f, a, i, &sub)) acc += walk_arr(f, &sub);
        else if (gguf_arr_get_i64(a, i, &v)) acc += (uint64_t)v;
        else if (gguf_arr_get_f64(a, i, &d)) acc += d > 0;
    }
    return acc;
}

static uint64_t walk(const gguf_file *f) {
    uint64_t acc = gguf_version(f) + gguf_alignment(f) + gguf_data_offset(f);
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_value v;
        const char *key = gguf_key_name(f, i);
        if (!key || !gguf_kv_value(f, i, &v) || gguf_find_key(f, key) != i) abort();
        uint32_t u;
        float x;
        acc += gguf_get_u32(f, key, &u) + gguf_get_f32(f, key, &x);
        if (v.type == GGUF_TYPE_STRING && v.s.len) acc += (uint8_t)v.s.ptr[v.s.len - 1];
        if (v.type == GGUF_TYPE_ARRAY) acc += walk_arr(f, &v.arr);
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        const uint8_t *p = t->data;
        if (gguf_find_tensor(f, t->name) != t || t->nbytes == 0) abort();
        acc += p[0] + p[t->nbytes - 1];
    }
    return acc;
}

/* Re-write f through the writer; the result must open with the same counts. */
static void rewrite(const gguf_file *f) {
    gguf_writer *w = NULL;
    slm_error e = {0};
    if (gguf_writer_new(&w, &e) != SLM_OK) return;
    slm_status s = SLM_OK;
    for (int64_t i = 0; i < gguf_n_kv(f) && !s; i++) s = gguf_writer_copy_kv(w, f, i, &e);
    for (int64_t i = 0; i < gguf_n_tensors(f) && !s; i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        s = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, &e);
    }
    void *mem = NULL;
    size_t n = 0;
    if (!s && gguf_writer_write_memory(w, &mem, &n, &e) == SLM_OK) {
        gguf_file *g = NULL;
        if (gguf_open_memory(mem, n, &g, &e) != SLM_OK) abort();
        if (gguf_n_kv(g) != gguf_n_kv(f) || gguf_n_tensors(g) != gguf_n_tensors(f)) abort();
        walk(g);
        gguf_close(g);
    }
    free(mem);
    gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    slm_error e = {0};
    if (gguf_open_memory(data, size, &f, &e) != SLM_OK) {
        if (f || !e.msg[0]) abort(); /* failures must say why and return no handle */
        return 0;
    }
    walk(f);
    rewrite(f);
    gguf_close(f);
    return 0;
}
