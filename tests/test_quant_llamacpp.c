/* Quantizing like llama.cpp: re-quantize the tensors of llama2-quant-f16.gguf with slm's reference
 * quantizers and compare, block by block, with the bytes llama-quantize wrote into each
 * llama2-quant-<Q>.gguf (no imatrix; fixtures README section 6). Goal and requirement: every block
 * byte-identical. Prints the identical/total block counts per type.
 *
 * The same tensor often appears with the same type in several files (token_embd as Q6_K in ten of
 * them): when llama.cpp's bytes equal ones already checked, the result is reused, not recomputed. */
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "testutil.h"

static const char *const k_files[] = {"Q8_0",   "Q4_0",   "Q4_1",   "Q5_0", "Q5_1",   "Q2_K",
                                      "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
#define N_FILES (sizeof k_files / sizeof k_files[0])

typedef struct type_count {
    uint64_t same, total;               /* over all files */
    uint64_t unique_same, unique_total; /* distinct (tensor, bytes) pairs only */
} type_count;

/* Tensors already compared: llama.cpp's bytes and the verdict, to skip repeated work. */
typedef struct seen_tensor {
    const char *name;
    uint32_t type;
    const void *data; /* into a file that stays open until the end */
    uint64_t nbytes;
    uint64_t same, total;
} seen_tensor;

/* Compare one tensor; adds to *same / *total (blocks). */
static void compare_tensor(const gguf_tensor_info *src, const gguf_tensor_info *dst, uint64_t *same, uint64_t *total) {
    const slm_dtype_info *info = slm_dtype_get(dst->type);
    slm_from_float_fn quantize = slm_quant_from_float(dst->type);
    CHECK(info && quantize, "%s: no quantizer for type %u", dst->name, dst->type);
    if (!info || !quantize) return;
    const int64_t ne0 = dst->ne[0];
    const int64_t nrows = (int64_t)(dst->n_elements / (uint64_t)ne0);
    uint64_t row_bytes = 0;
    CHECK(slm_dtype_row_size(dst->type, (uint64_t)ne0, &row_bytes), "%s: row size", dst->name);
    CHECK(row_bytes * (uint64_t)nrows == dst->nbytes, "%s: size", dst->name);
    float *row = malloc((size_t)ne0 * sizeof(float));
    uint8_t *q = malloc((size_t)row_bytes);
    const uint64_t blocks_per_row = (uint64_t)ne0 / info->blck_size;
    uint64_t first_bad_row = UINT64_MAX;
    for (int64_t r = 0; r < nrows; r++) {
        CHECK(slm_dequantize(SLM_DT_F16, (const uint8_t *)src->data + (uint64_t)r * (uint64_t)ne0 * 2,
                             (uint64_t)ne0 * 2, row, ne0, NULL) == SLM_OK,
              "f16 row");
        quantize(row, q, ne0);
        const uint8_t *want = (const uint8_t *)dst->data + (uint64_t)r * row_bytes;
        for (uint64_t b = 0; b < blocks_per_row; b++) {
            const bool eq = !memcmp(q + b * info->type_size, want + b * info->type_size, info->type_size);
            *same += eq;
            if (!eq && first_bad_row == UINT64_MAX) first_bad_row = (uint64_t)r;
        }
        *total += blocks_per_row;
    }
    if (first_bad_row != UINT64_MAX)
        fprintf(stderr, "  %s %s: first differing row %llu\n", dst->name, info->name,
                (unsigned long long)first_bad_row);
    free(row);
    free(q);
}

int main(void) {
    slm_error err = {0};
    char dir[4096]; /* tu_path's buffers rotate: keep our own copy */
    snprintf(dir, sizeof dir, "%s/models/llama2-quant/gguf", tu_fixtures());
    gguf_file *f16 = NULL;
    CHECK(gguf_open(tu_path("%s/llama2-quant-f16.gguf", dir), &f16, &err) == SLM_OK, "%s", err.msg);
    if (!f16) return tu_finish("test_quant_llamacpp");

    type_count counts[SLM_DT_COUNT] = {{0, 0, 0, 0}};
    gguf_file *files[N_FILES] = {0};
    seen_tensor seen[64];
    int n_seen = 0;
    for (size_t fi = 0; fi < N_FILES; fi++) {
        CHECK(gguf_open(tu_path("%s/llama2-quant-%s.gguf", dir, k_files[fi]), &files[fi], &err) == SLM_OK, "%s",
              err.msg);
        if (!files[fi]) continue;
        for (int64_t ti = 0; ti < gguf_n_tensors(files[fi]); ti++) {
            const gguf_tensor_info *dst = gguf_tensor(files[fi], ti);
            if (dst->type == SLM_DT_F32) continue; /* norms are copied, not quantized */
            const gguf_tensor_info *src = gguf_find_tensor(f16, dst->name);
            CHECK(src && src->type == SLM_DT_F16 && src->n_elements == dst->n_elements && src->ne[0] == dst->ne[0],
                  "%s: no matching F16 tensor", dst->name);
            if (!src || src->n_elements != dst->n_elements || src->ne[0] != dst->ne[0]) continue;
            seen_tensor *hit = NULL;
            for (int s = 0; s < n_seen; s++) {
                if (seen[s].type == dst->type && !strcmp(seen[s].name, dst->name) && seen[s].nbytes == dst->nbytes &&
                    !memcmp(seen[s].data, dst->data, dst->nbytes)) {
                    hit = &seen[s];
                }
            }
            uint64_t same = 0, total = 0;
            if (hit) {
                same = hit->same;
                total = hit->total;
            } else {
                compare_tensor(src, dst, &same, &total);
                counts[dst->type].unique_same += same;
                counts[dst->type].unique_total += total;
                if (n_seen < 64)
                    seen[n_seen++] = (seen_tensor){dst->name, dst->type, dst->data, dst->nbytes, same, total};
            }
            counts[dst->type].same += same;
            counts[dst->type].total += total;
            CHECK(same == total, "%s: %s %s: %llu of %llu blocks identical to llama.cpp", k_files[fi], dst->name,
                  slm_dtype_name(dst->type), (unsigned long long)same, (unsigned long long)total);
        }
    }
    for (uint32_t t = 0; t < SLM_DT_COUNT; t++) {
        if (!counts[t].total) continue;
        printf("  %-7s %9llu / %9llu blocks identical to llama.cpp (%.4f%%), in distinct tensors %llu / %llu\n",
               slm_dtype_name(t), (unsigned long long)counts[t].same, (unsigned long long)counts[t].total,
               100.0 * (double)counts[t].same / (double)counts[t].total, (unsigned long long)counts[t].unique_same,
               (unsigned long long)counts[t].unique_total);
    }
    for (size_t fi = 0; fi < N_FILES; fi++)
        gguf_close(files[fi]);
    gguf_close(f16);
    return tu_finish("test_quant_llamacpp");
}
