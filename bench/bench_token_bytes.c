/* bench_token_bytes: how many bytes of a GGUF model one generated token has to read, for the
 * memory-bandwidth ceiling of token generation (ceiling t/s = read bandwidth / bytes per token).
 *
 *   bench_token_bytes MODEL.gguf [--kv f16|f32|q8_0]
 *
 * Prints one JSON object (stdout). How the bytes are counted, per token:
 *   - every tensor of the file in full (the matmul weights of every layer, norms, biases,
 *     rope factors: a decode step reads each of them once), except
 *   - token_embd.weight, of which a token reads one row (n_embd elements), when the file has a
 *     separate output.weight; with tied embeddings (no output.weight) the output projection
 *     reads all of token_embd, so it counts in full (its row lookup is inside that).
 *   - plus the KV cache the attention reads: per attended position and layer, n_head_kv *
 *     (key_length + value_length) elements of the KV type (f16 = 2 bytes, q8_0 = 34/32). Printed
 *     per position (kv_bytes_per_pos_full for layers that attend the whole context,
 *     kv_bytes_per_pos_swa + swa_window for sliding-window layers), so the caller can charge a
 *     test at depth D with its average context.
 * Sliding-window layers: Gemma 3 (every 6th layer global, others windowed, as llama.cpp's
 * gemma3 graph); any other architecture with {arch}.attention.sliding_window is counted as all
 * layers windowed (the windows seen there are >= the contexts benchmarked, so it is the same).
 * Activations, scratch buffers and the logits vector are not counted (they stay in cache or are
 * a few hundred KiB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "gguf/gguf.h"

static int fail(const char *what, const slm_error *err) {
    fprintf(stderr, "bench_token_bytes: %s: %s\n", what, err && err->msg[0] ? err->msg : "error");
    return 1;
}

/* {arch}.suffix as an unsigned integer, or dflt when absent. */
static uint64_t arch_u64(const gguf_file *f, const char *arch, const char *suffix, uint64_t dflt) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint64_t v;
    return gguf_get_u64(f, key, &v) ? v : dflt;
}

/* Per-layer n_head_kv: a scalar, or an array with one value per layer (some models vary it). */
static uint64_t head_kv_of_layer(const gguf_file *f, const char *arch, uint64_t il, uint64_t n_head) {
    char key[256];
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    uint64_t v;
    if (gguf_get_u64(f, key, &v)) return v;
    gguf_arr a;
    int64_t x;
    if (gguf_get_arr(f, key, &a) && il < a.n && gguf_arr_get_i64(&a, il, &x) && x >= 0) return (uint64_t)x;
    return n_head;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    double kv_elem_bytes = 2.0; /* f16 */
    const char *kv_name = "f16";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kv") && i + 1 < argc) {
            kv_name = argv[++i];
            if (!strcmp(kv_name, "f16")) kv_elem_bytes = 2.0;
            else if (!strcmp(kv_name, "f32")) kv_elem_bytes = 4.0;
            else if (!strcmp(kv_name, "q8_0")) kv_elem_bytes = 34.0 / 32.0;
            else {
                fprintf(stderr, "bench_token_bytes: unknown --kv type '%s'\n", kv_name);
                return 2;
            }
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: bench_token_bytes MODEL.gguf [--kv f16|f32|q8_0]\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: bench_token_bytes MODEL.gguf [--kv f16|f32|q8_0]\n");
        return 2;
    }
    slm_error err = {0};
    gguf_file *f = NULL;
    if (gguf_open(path, &f, &err) != SLM_OK) return fail(path, &err);

    char arch[64] = "";
    gguf_str s;
    if (gguf_get_str(f, "general.architecture", &s) && s.len < sizeof arch) {
        memcpy(arch, s.ptr, s.len);
        arch[s.len] = '\0';
    }
    const uint64_t n_embd = arch_u64(f, arch, "embedding_length", 0);
    const uint64_t n_layer = arch_u64(f, arch, "block_count", 0);
    const uint64_t n_head = arch_u64(f, arch, "attention.head_count", 0);
    if (!arch[0] || !n_embd || !n_layer || !n_head) {
        gguf_close(f);
        fprintf(stderr, "bench_token_bytes: %s: missing architecture / embedding_length / block_count / head_count\n",
                path);
        return 1;
    }
    const uint64_t key_len = arch_u64(f, arch, "attention.key_length", n_embd / n_head);
    const uint64_t val_len = arch_u64(f, arch, "attention.value_length", n_embd / n_head);
    const uint64_t swa_window = arch_u64(f, arch, "attention.sliding_window", 0);
    const bool gemma3 = !strcmp(arch, "gemma3");

    const bool has_output = gguf_find_tensor(f, "output.weight") != NULL;
    const gguf_tensor_info *embd = gguf_find_tensor(f, "token_embd.weight");
    uint64_t all_bytes = 0, params = 0, embd_row = 0, weights = 0, output_bytes = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        all_bytes += t->nbytes;
        params += t->n_elements;
        if (t == embd && has_output) {
            if (!slm_dtype_row_size(t->type, (uint64_t)t->ne[0], &embd_row)) embd_row = 0;
            weights += embd_row;
        } else {
            weights += t->nbytes;
        }
        if (!strcmp(t->name, has_output ? "output.weight" : "token_embd.weight")) output_bytes = t->nbytes;
    }

    /* KV bytes per attended position, split by whether the layer sees the whole context. */
    double kv_full = 0, kv_swa = 0;
    for (uint64_t il = 0; il < n_layer; il++) {
        const double per_pos = (double)head_kv_of_layer(f, arch, il, n_head) * (double)(key_len + val_len) * kv_elem_bytes;
        const bool windowed = swa_window > 0 && (!gemma3 || (il + 1) % 6 != 0);
        if (windowed) kv_swa += per_pos;
        else kv_full += per_pos;
    }

    printf("{\"file\": \"%s\", \"arch\": \"%s\", \"file_bytes\": %llu, \"tensor_bytes\": %llu, \"n_params\": %llu,\n",
           strrchr(path, '/') ? strrchr(path, '/') + 1 : path, arch, (unsigned long long)gguf_file_size(f),
           (unsigned long long)all_bytes, (unsigned long long)params);
    printf(" \"tied_embeddings\": %s, \"output_bytes\": %llu, \"embd_row_bytes\": %llu,\n", has_output ? "false" : "true",
           (unsigned long long)output_bytes, (unsigned long long)embd_row);
    printf(" \"weight_bytes_per_token\": %llu, \"kv_type\": \"%s\", \"kv_bytes_per_pos_full\": %.1f,\n",
           (unsigned long long)weights, kv_name, kv_full);
    printf(" \"kv_bytes_per_pos_swa\": %.1f, \"swa_window\": %llu, \"n_layer\": %llu, \"n_embd\": %llu}\n", kv_swa,
           (unsigned long long)swa_window, (unsigned long long)n_layer, (unsigned long long)n_embd);
    gguf_close(f);
    return 0;
}
