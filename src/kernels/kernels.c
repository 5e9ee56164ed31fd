/* Dispatch table selection and the two-phase matmul driver (see kernels.h). */
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/error.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

/* ---- CPU features and tables ----------------------------------------------------------------- */

static slm_kernels g_tables[SLM_ISA_COUNT];
static bool g_have[SLM_ISA_COUNT];
static const slm_kernels *g_active;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__) /* (only called on x86) */
static bool cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* __builtin_cpu_supports also checks that the OS saves YMM state. clang 14 does not know
     * "f16c" there, so that bit (CPUID.1:ECX[29]) is read directly. */
    unsigned eax, ebx, ecx, edx;
    bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#else
    return false;
#endif
}

/* AVX-512 F/BW/DQ/VL + VNNI, and the OS saves opmask and ZMM state (XCR0 bits 1, 2, 5, 6, 7):
 * checked here with xgetbv rather than trusting every compiler runtime's
 * __builtin_cpu_supports to do it. */
static bool cpu_has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return false; /* OSXSAVE */
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    if ((xcr0_lo & 0xE6u) != 0xE6u) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const unsigned f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31, vnni = 1u << 11;
    return (ebx & f) && (ebx & dq) && (ebx & bw) && (ebx & vl) && (ecx & vnni);
#else
    return false;
#endif
}
#endif

/* AMX-TILE + AMX-INT8 (CPUID 7.0 EDX bits 24, 25), the OS saving tile state (XCR0 bits 17, 18),
 * and Linux granting this process the tile data (arch_prctl ARCH_REQ_XCOMP_PERM for
 * XFEATURE_XTILEDATA, once per process: without it the first tile load faults). */
#if defined(__x86_64__)
static bool cpu_has_amx(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    if (!(edx & (1u << 24)) || !(edx & (1u << 25))) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
    const long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
    if (syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) != 0) return false;
    return true;
#else
    return false; /* other OSes: no tile state permission protocol known here */
#endif
}
#endif

/* AArch64 features from the kernel's hwcaps (Linux): Advanced SIMD (always there on arm64
 * Linux), dotprod (HWCAP_ASIMDDP, bit 20 of AT_HWCAP) and i8mm (HWCAP2_I8MM, bit 13 of
 * AT_HWCAP2). The bits are spelled out because older libc headers lack the names. */
#if defined(__aarch64__)
static unsigned arm_features(void) {
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    const unsigned long asimd = 1ul << 1, asimddp = 1ul << 20, i8mm2 = 1ul << 13;
    if (!(hw & asimd)) return 0;
    return 1u | ((hw & asimddp) ? 2u : 0u) | ((hw2 & i8mm2) ? 4u : 0u);
#else
    return 1u; /* other AArch64 OSes: base NEON only (no portable feature query) */
#endif
}
#endif

/* Preferred ISA from SLM_ISA, or -1 if unset / unusable. */
static int env_isa(void) {
    const char *s = getenv("SLM_ISA");
    slm_isa isa;
    if (!s || !*s || !slm_isa_from_name(s, &isa) || !g_have[isa]) return -1;
    return (int)isa;
}

static void tables_init(void) {
    kernels_fill_scalar(&g_tables[SLM_ISA_SCALAR]);
    g_have[SLM_ISA_SCALAR] = true;
#if defined(__x86_64__) || defined(__i386__)
    if (cpu_has_avx2()) {
        slm_kernels *t = &g_tables[SLM_ISA_AVX2];
        kernels_fill_scalar(t);
        t->isa = SLM_ISA_AVX2;
        t->name = "avx2";
        kernels_fill_avx2(t);
        kernels_fill_avx2_kquants(t);
        kernels_fill_a16_b32_avx2(t);
        kernels_fill_a16_kq_avx2(t);
        kernels_fill_x16_avx2(t);
        g_have[SLM_ISA_AVX2] = true;
        if (cpu_has_avx512()) {
            slm_kernels *t5 = &g_tables[SLM_ISA_AVX512];
            *t5 = *t;
            t5->isa = SLM_ISA_AVX512;
            t5->name = "avx512";
            kernels_fill_avx512(t5);
            kernels_fill_avx512_kquants(t5);
            kernels_fill_a16_b32_avx512(t5);
            kernels_fill_a16_kquants_avx512(t5);
            kernels_fill_x16_avx512(t5);
            kernels_fill_attn_avx512(t5);
            g_have[SLM_ISA_AVX512] = true;
            /* the AMX code path over the C model of its instructions: tests on any AVX-512 CPU */
            slm_kernels *te = &g_tables[SLM_ISA_AMX_EMULATED];
            *te = *t5;
            te->isa = SLM_ISA_AMX_EMULATED;
            te->name = "amx_emulated";
            kernels_fill_x16_amx_emulated(te);
            g_have[SLM_ISA_AMX_EMULATED] = true;
#if defined(__x86_64__)
            if (cpu_has_amx()) {
                slm_kernels *ta = &g_tables[SLM_ISA_AMX];
                *ta = *t5;
                ta->isa = SLM_ISA_AMX;
                ta->name = "amx";
                kernels_fill_x16_amx(ta);
                g_have[SLM_ISA_AMX] = true;
            }
#endif
        }
    }
#endif
#if defined(__aarch64__)
    const unsigned arm = arm_features();
    if (arm & 1u) { /* each level starts from the scalar table and overwrites every entry it has */
        static const struct {
            slm_isa isa;
            unsigned need;
            const char *name;
            void (*fill)(slm_kernels *);
        } levels[] = {{SLM_ISA_NEON, 1u, "neon", kernels_fill_neon},
                      {SLM_ISA_NEON_DOT, 3u, "neon_dot", kernels_fill_neon_dot},
                      {SLM_ISA_NEON_I8MM, 7u, "neon_i8mm", kernels_fill_neon_i8mm}};
        for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
            if ((arm & levels[i].need) != levels[i].need) continue;
            slm_kernels *t = &g_tables[levels[i].isa];
            kernels_fill_scalar(t);
            t->isa = levels[i].isa;
            t->name = levels[i].name;
            levels[i].fill(t);
            g_have[levels[i].isa] = true;
        }
    }
#endif
    /* A table that replaced a type's gemm but still has the scalar gemm2 (an ISA without its own
     * precise tiles) drops that gemm2: slm_matmul_rows2 then runs the ISA's gemm on both rows. */
    const slm_kernels *sc = &g_tables[SLM_ISA_SCALAR];
    for (int i = 1; i < SLM_ISA_COUNT; i++)
        for (int ty = 0; g_have[i] && ty < SLM_DT_COUNT; ty++) {
            slm_matmul_kernel *mk = &g_tables[i].mm[ty];
            if (mk->gemm != sc->mm[ty].gemm && mk->gemm2 == sc->mm[ty].gemm2) mk->gemm2 = NULL;
            /* likewise a SIMD table without its own gemm16 (the generic reference is far slower
             * than the ISA's Q8X2 path): slm_matmul_mode falls back to Q8X2 */
            if (mk->gemm != sc->mm[ty].gemm && mk->gemm16 == sc->mm[ty].gemm16) mk->gemm16 = NULL;
        }
    int best = 0;
    for (int i = 0; i < SLM_ISA_COUNT; i++)
        if (g_have[i] && i != SLM_ISA_AMX_EMULATED) best = i;
    int forced = env_isa();
    g_active = &g_tables[forced >= 0 ? forced : best];
}

const slm_kernels *slm_kernels_get(void) {
    pthread_once(&g_once, tables_init);
    return g_active;
}

const slm_kernels *slm_kernels_for_isa(slm_isa isa) {
    pthread_once(&g_once, tables_init);
    if ((int)isa < 0 || isa >= SLM_ISA_COUNT || !g_have[isa]) return NULL;
    return &g_tables[isa];
}

static const char *const g_isa_names[SLM_ISA_COUNT] = {"scalar", "avx2",      "avx512", "neon",
                                                       "neon_dot", "neon_i8mm", "amx",    "amx_emulated"};

bool slm_isa_from_name(const char *name, slm_isa *out) {
    for (int i = 0; i < SLM_ISA_COUNT; i++) {
        if (name && strcmp(name, g_isa_names[i]) == 0) {
            *out = (slm_isa)i;
            return true;
        }
    }
    return false;
}

const char *slm_isa_name(slm_isa isa) { return ((int)isa >= 0 && isa < SLM_ISA_COUNT) ? g_isa_names[isa] : "unknown"; }

slm_status slm_kernels_init(slm_error *err) {
    pthread_once(&g_once, tables_init);
    const char *s = getenv("SLM_ISA");
    if (!s || !*s) return SLM_OK;
    slm_isa isa;
    if (!slm_isa_from_name(s, &isa))
        return slm_fail(err, SLM_E_INVALID_ARG, "SLM_ISA=%.32s: unknown instruction set (use scalar, avx2, avx512, amx, amx_emulated, neon, neon_dot or neon_i8mm)",
                        s);
    if (!g_have[isa]) return slm_fail(err, SLM_E_UNSUPPORTED, "SLM_ISA=%s: this CPU or build does not support it", s);
    return SLM_OK;
}

/* ---- Shapes ----------------------------------------------------------------------------------- */

size_t kernels_act_row_bytes(uint32_t act_type, int64_t k) {
    const slm_dtype_info *di = slm_dtype_get(act_type);
    if (!di || k <= 0 || k % di->blck_size) return 0;
    uint64_t bytes, padded;
    if (!ck_mul_u64((uint64_t)(k / di->blck_size), di->type_size, &bytes) || !ck_align_u64(bytes, 32, &padded) ||
        padded > SIZE_MAX)
        return 0;
    return (size_t)padded;
}

/* Activation type of a weight type (the same in every table), or 0 with *ok false. */
static bool act_type_of(uint32_t type, uint32_t *act) {
    const slm_kernels *kt = slm_kernels_for_isa(SLM_ISA_SCALAR);
    if (type >= SLM_DT_COUNT || !kt->mm[type].gemm) return false;
    *act = kt->mm[type].act_type;
    return true;
}

bool slm_matmul_supported(uint32_t type, int64_t k) { return slm_matmul_act_row_bytes(type, k) != 0; }

size_t slm_matmul_act_row_bytes(uint32_t type, int64_t k) {
    uint32_t act;
    if (!act_type_of(type, &act)) return 0;
    /* The weight's own block must also divide k (e.g. F16 weights with k = 7 are fine, Q4_K
     * weights need k % 256 == 0, which the Q8_K activation already demands). */
    const slm_dtype_info *wi = slm_dtype_get(type);
    if (!wi || k <= 0 || k % wi->blck_size) return 0;
    return kernels_act_row_bytes(act, k);
}

size_t slm_matmul_act_size(uint32_t type, int64_t k, int64_t n_tok) {
    size_t row = slm_matmul_act_row_bytes(type, k), total;
    if (row == 0 || n_tok < 0 || !ck_mul_size(row, (size_t)n_tok, &total)) return 0;
    return total;
}

slm_status slm_matmul_check(uint32_t type, int64_t k, size_t row_bytes, slm_error *err) {
    const char *name = slm_dtype_name(type);
    uint32_t act;
    if (!act_type_of(type, &act))
        return slm_fail(err, SLM_E_UNSUPPORTED, "matmul: weight type %s (%u) has no kernel", name ? name : "?", type);
    if (slm_matmul_act_row_bytes(type, k) == 0)
        return slm_fail(err, SLM_E_FORMAT, "matmul: row length %lld is not a positive multiple of %s's block",
                        (long long)k, name);
    uint64_t want;
    if (!slm_dtype_row_size(type, (uint64_t)k, &want) || want != row_bytes)
        return slm_fail(err, SLM_E_FORMAT, "matmul: %s rows of %lld elements are %llu bytes, not %zu", name,
                        (long long)k, (unsigned long long)want, row_bytes);
    return SLM_OK;
}

/* ---- Two-phase matmul ------------------------------------------------------------------------- */

void slm_matmul_quantize_act(const slm_kernels *kt, uint32_t type, const float *x, int64_t ldx, int64_t n_tok,
                             int64_t k, void *act, int ith, int nth) {
    const slm_matmul_kernel *mk = &kt->mm[type];
    size_t arb = slm_matmul_act_row_bytes(type, k);
    if (n_tok != 1 || nth == 1) {
        int64_t t0, t1;
        slm_split_range(n_tok, ith, nth, 1, &t0, &t1);
        if (t1 > t0) mk->quant_act(x + t0 * ldx, ldx, t1 - t0, k, (uint8_t *)act + (size_t)t0 * arb, arb);
        return;
    }
    /* One row, several threads: blocks are independent, so split the row at block bounds. */
    const slm_dtype_info *ai = slm_dtype_get(mk->act_type);
    int64_t nb = k / ai->blck_size, b0, b1;
    slm_split_range(nb, ith, nth, 1, &b0, &b1);
    if (b1 > b0)
        mk->quant_act(x + b0 * ai->blck_size, ldx, 1, (b1 - b0) * ai->blck_size,
                      (uint8_t *)act + (size_t)b0 * ai->type_size, arb);
}

/* Cache blocking: a thread's rows are processed in chunks of ROW_CHUNK rows (their weights stay in
 * L2) against chunks of TOK_CHUNK activation rows (also L2-resident), so that for prompt
 * processing each weight byte comes from memory once per TOK_CHUNK tokens instead of once per
 * token-tile of the kernel. */
#define ROW_CHUNK 64
#define TOK_CHUNK 64

void slm_matmul_rows(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                     int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const slm_matmul_kernel *mk = &kt->mm[type];
    size_t arb = slm_matmul_act_row_bytes(type, k);
    if (n_tok <= TOK_CHUNK) {
        mk->gemm(k, (const uint8_t *)w + (size_t)r0 * row_bytes, row_bytes, r1 - r0, act, arb, n_tok, y + r0, ldy);
        return;
    }
    for (int64_t rc = r0; rc < r1; rc += ROW_CHUNK) {
        int64_t nr = r1 - rc < ROW_CHUNK ? r1 - rc : ROW_CHUNK;
        for (int64_t tc = 0; tc < n_tok; tc += TOK_CHUNK) {
            int64_t nt = n_tok - tc < TOK_CHUNK ? n_tok - tc : TOK_CHUNK;
            mk->gemm(k, (const uint8_t *)w + (size_t)rc * row_bytes, row_bytes, nr,
                     (const uint8_t *)act + (size_t)tc * arb, arb, nt, y + tc * ldy + rc, ldy);
        }
    }
}

typedef kernels_matmul_task matmul_task;

bool kernels_next_rows(kernels_matmul_task *m, int ith, int nth, int *taken, int64_t *r0, int64_t *r1) {
    const int64_t align = SLM_MATMUL_ROW_ALIGN, tiles = (m->n_rows + align - 1) / align;
    if (nth <= 1) { /* one thread: all rows at once */
        *r0 = 0;
        *r1 = m->n_rows;
        return (*taken)++ == 0 && m->n_rows > 0;
    }
    int64_t per = (tiles + (int64_t)nth * KERNELS_CHUNKS_PER_THREAD - 1) / ((int64_t)nth * KERNELS_CHUNKS_PER_THREAD);
    if (per < 1) per = 1;
    const int64_t n_chunks = (tiles + per - 1) / per;
    const int64_t c = (*taken)++ == 0 ? ith : nth + atomic_fetch_add_explicit(&m->next_chunk, 1, memory_order_relaxed);
    if (c >= n_chunks) return false;
    *r0 = c * per * align;
    *r1 = (c + 1) * per * align < m->n_rows ? (c + 1) * per * align : m->n_rows;
    return true;
}

static void matmul_task_run(void *arg, int ith, int nth) {
    matmul_task *m = arg;
    slm_matmul_quantize_act(m->kt, m->type, m->x, m->ldx, m->n_tok, m->k, m->act, ith, nth);
    slm_threadpool_barrier(m->pool);
    int64_t r0, r1;
    int taken = 0;
    while (kernels_next_rows(m, ith, nth, &taken, &r0, &r1))
        slm_matmul_rows(m->kt, m->type, m->w, m->row_bytes, m->act, m->n_tok, m->k, m->y, m->ldy, r0, r1);
}

void slm_matmul(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t row_bytes,
                int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k, void *act, float *y,
                int64_t ldy) {
    if (n_rows <= 0 || n_tok <= 0) return;
    matmul_task m = {kt, pool, type, w, row_bytes, n_rows, x, ldx, n_tok, k, act, y, ldy, 0};
    slm_threadpool_run(pool, matmul_task_run, &m);
}

/* ---- Precise matmul (kernels.h): activation + quantized rounding residual ---------------------- */

bool slm_matmul_has_precise(const slm_kernels *kt, uint32_t type) {
    return type < SLM_DT_COUNT && kt->mm[type].gemm != NULL &&
           (kt->mm[type].act_type == SLM_DT_Q8_0 || kt->mm[type].act_type == SLM_DT_Q8_K);
}

/* gemm2 from gemm, for a table without precise tiles: per token, chunks of up to 64 rows go
 * through gemm with the token's 2 activation rows (weights reused from L1/L2), then the pairs
 * are summed. */
static void gemm2_from_gemm(slm_gemm_fn gemm, int64_t k, const uint8_t *w, size_t wrb, int64_t nr, const uint8_t *act,
                            size_t arb, int64_t nt, float *y, int64_t ldy) {
    enum { RC = 64 };
    float tmp[2 * RC];
    for (int64_t t = 0; t < nt; t++)
        for (int64_t r = 0; r < nr; r += RC) {
            const int64_t n = nr - r < RC ? nr - r : RC;
            gemm(k, w + (size_t)r * wrb, wrb, n, act + (size_t)(2 * t) * arb, arb, 2, tmp, RC);
            for (int64_t i = 0; i < n; i++) y[t * ldy + r + i] = tmp[i] + tmp[RC + i];
        }
}

/* One gemm2 call, or its emulation when the table has none. */
static void call_gemm2(const slm_matmul_kernel *mk, int64_t k, const uint8_t *w, size_t wrb, int64_t nr,
                       const uint8_t *act, size_t arb, int64_t nt, float *y, int64_t ldy) {
    if (mk->gemm2)
        mk->gemm2(k, w, wrb, nr, act, arb, nt, y, ldy);
    else
        gemm2_from_gemm(mk->gemm, k, w, wrb, nr, act, arb, nt, y, ldy);
}

/* Elements [e0, e1) (whole activation blocks) of one token: q8(x) into row0, q8(x - deq(q8(x)))
 * into row1, both at the blocks' own offsets. The residual goes through a 256-float stack chunk,
 * so the row is read from memory once and nothing is allocated. */
static void quant2_range(const slm_matmul_kernel *mk, const slm_dtype_info *ai, const float *x, int64_t e0,
                         int64_t e1, uint8_t *row0, uint8_t *row1, size_t arb) {
    enum { CHUNK = 256 }; /* a multiple of both activation blocks (32 and 256) */
    float deq[CHUNK], res[CHUNK];
    for (int64_t c0 = e0; c0 < e1; c0 += CHUNK) {
        const int64_t n = e1 - c0 < CHUNK ? e1 - c0 : CHUNK;
        const size_t off = (size_t)(c0 / ai->blck_size) * ai->type_size;
        mk->quant_act(x + c0, n, 1, n, row0 + off, arb);
        if (mk->act_type == SLM_DT_Q8_K)
            dequantize_row_q8_K((const block_q8_K *)(row0 + off), deq, n);
        else
            dequantize_row_q8_0((const block_q8_0 *)(row0 + off), deq, n);
        for (int64_t i = 0; i < n; i++) res[i] = x[c0 + i] - deq[i];
        mk->quant_act(res, n, 1, n, row1 + off, arb);
    }
}

void slm_matmul_quantize_act2(const slm_kernels *kt, uint32_t type, const float *x, int64_t ldx, int64_t n_tok,
                              int64_t k, void *act, int ith, int nth) {
    const slm_matmul_kernel *mk = &kt->mm[type];
    const slm_dtype_info *ai = slm_dtype_get(mk->act_type);
    const size_t arb = slm_matmul_act_row_bytes(type, k);
    uint8_t *a = act;
    if (n_tok != 1 || nth == 1) {
        int64_t t0, t1;
        slm_split_range(n_tok, ith, nth, 1, &t0, &t1);
        for (int64_t t = t0; t < t1; t++)
            quant2_range(mk, ai, x + t * ldx, 0, k, a + (size_t)(2 * t) * arb, a + (size_t)(2 * t + 1) * arb, arb);
        return;
    }
    /* One token, several threads: split the row at block bounds. */
    const int64_t nb = k / ai->blck_size;
    int64_t b0, b1;
    slm_split_range(nb, ith, nth, 1, &b0, &b1);
    if (b1 > b0) quant2_range(mk, ai, x, b0 * ai->blck_size, b1 * ai->blck_size, a, a + arb, arb);
}

void slm_matmul_rows2(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                      int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const slm_matmul_kernel *mk = &kt->mm[type];
    const size_t arb = slm_matmul_act_row_bytes(type, k);
    /* same cache blocking as slm_matmul_rows, counted in activation rows (2 per token) */
    const int64_t tok_chunk = TOK_CHUNK / 2;
    if (n_tok <= tok_chunk) {
        call_gemm2(mk, k, (const uint8_t *)w + (size_t)r0 * row_bytes, row_bytes, r1 - r0, act, arb, n_tok, y + r0,
                   ldy);
        return;
    }
    for (int64_t rc = r0; rc < r1; rc += ROW_CHUNK) {
        const int64_t nr = r1 - rc < ROW_CHUNK ? r1 - rc : ROW_CHUNK;
        for (int64_t tc = 0; tc < n_tok; tc += tok_chunk) {
            const int64_t nt = n_tok - tc < tok_chunk ? n_tok - tc : tok_chunk;
            call_gemm2(mk, k, (const uint8_t *)w + (size_t)rc * row_bytes, row_bytes, nr,
                       (const uint8_t *)act + (size_t)(2 * tc) * arb, arb, nt, y + tc * ldy + rc, ldy);
        }
    }
}

static void matmul2_task_run(void *arg, int ith, int nth) {
    matmul_task *m = arg;
    slm_matmul_quantize_act2(m->kt, m->type, m->x, m->ldx, m->n_tok, m->k, m->act, ith, nth);
    slm_threadpool_barrier(m->pool);
    int64_t r0, r1;
    int taken = 0;
    while (kernels_next_rows(m, ith, nth, &taken, &r0, &r1))
        slm_matmul_rows2(m->kt, m->type, m->w, m->row_bytes, m->act, m->n_tok, m->k, m->y, m->ldy, r0, r1);
}

void slm_matmul_precise(const slm_kernels *kt, slm_threadpool *pool, uint32_t type, const void *w, size_t row_bytes,
                        int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k, void *act, float *y,
                        int64_t ldy) {
    if (!slm_matmul_has_precise(kt, type)) {
        slm_matmul(kt, pool, type, w, row_bytes, n_rows, x, ldx, n_tok, k, act, y, ldy);
        return;
    }
    if (n_rows <= 0 || n_tok <= 0) return;
    matmul_task m = {kt, pool, type, w, row_bytes, n_rows, x, ldx, n_tok, k, act, y, ldy, 0};
    slm_threadpool_run(pool, matmul2_task_run, &m);
}

/* ---- Matmul with an activation mode (kernels.h); SLM_ACT_A16: 16-bit activations ------------- */

slm_act_mode slm_matmul_effective_mode(const slm_kernels *kt, uint32_t type, slm_act_mode mode) {
    if (mode == SLM_ACT_Q8 || !slm_matmul_has_precise(kt, type)) return SLM_ACT_Q8;
    if (mode == SLM_ACT_A16 && kt->mm[type].gemm16) return SLM_ACT_A16;
    return SLM_ACT_Q8X2;
}

size_t slm_matmul_a16_row_bytes(uint32_t type, int64_t k) {
    const slm_kernels *sc = slm_kernels_for_isa(SLM_ISA_SCALAR);
    if (slm_matmul_act_row_bytes(type, k) == 0 || !sc->mm[type].a16) return 0;
    const int ab = sc->mm[type].a16;
    if (k % ab) return 0;
    uint64_t bytes, padded;
    const size_t bb = ab == 32 ? sizeof(block_a16_32) : sizeof(block_a16_256);
    if (!ck_mul_u64((uint64_t)(k / ab), bb, &bytes) || !ck_align_u64(bytes, 64, &padded) || padded > SIZE_MAX)
        return 0;
    return (size_t)padded;
}

size_t slm_matmul_act_size_mode(uint32_t type, int64_t k, int64_t n_tok, slm_act_mode mode) {
    const slm_kernels *sc = slm_kernels_for_isa(SLM_ISA_SCALAR);
    if (mode == SLM_ACT_Q8 || !slm_matmul_has_precise(sc, type)) return slm_matmul_act_size(type, k, n_tok);
    if (n_tok < 0 || n_tok > INT64_MAX / 2) return 0;
    size_t two = slm_matmul_act_size(type, k, 2 * n_tok), a16;
    if (mode == SLM_ACT_Q8X2 || two == 0) return two;
    if (!ck_mul_size(slm_matmul_a16_row_bytes(type, k), (size_t)n_tok, &a16) || a16 == 0) return 0;
    return a16 > two ? a16 : two;
}

bool kernels_a16_share_of(const slm_kernels *kt, uint32_t type, int64_t n_tok, int64_t k, int ith, int nth,
                          kernels_a16_share *s) {
    const int64_t ab = kt->mm[type].a16;
    if (n_tok != 1 || nth == 1) {
        int64_t t0, t1;
        slm_split_range(n_tok, ith, nth, 1, &t0, &t1);
        *s = (kernels_a16_share){t0, t1 - t0, 0, k, (size_t)t0 * slm_matmul_a16_row_bytes(type, k)};
        return t1 > t0;
    }
    /* One row, several threads: split at block bounds. */
    const size_t bb = ab == 32 ? sizeof(block_a16_32) : sizeof(block_a16_256);
    int64_t b0, b1;
    slm_split_range(k / ab, ith, nth, 1, &b0, &b1);
    *s = (kernels_a16_share){0, 1, b0 * ab, (b1 - b0) * ab, (size_t)b0 * bb};
    return b1 > b0;
}

void slm_matmul_quantize_act16(const slm_kernels *kt, uint32_t type, const float *x, int64_t ldx, int64_t n_tok,
                               int64_t k, void *act, int ith, int nth) {
    const slm_quant_act_fn q = kt->mm[type].a16 == 32 ? kt->quant_a16_32 : kt->quant_a16_256;
    kernels_a16_share s;
    if (kernels_a16_share_of(kt, type, n_tok, k, ith, nth, &s))
        q(x + s.t0 * ldx + s.e0, ldx, s.nt, s.ne, (uint8_t *)act + s.act_off, slm_matmul_a16_row_bytes(type, k));
}

void kernels_rows16_with(slm_gemm_fn gemm, uint32_t type, const void *w, size_t row_bytes, const void *act,
                         int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const size_t arb = slm_matmul_a16_row_bytes(type, k);
    /* the cache blocking of slm_matmul_rows; a16 rows are ~2.3x the bytes of Q8 rows */
    const int64_t tok_chunk = TOK_CHUNK / 2;
    if (n_tok <= tok_chunk) {
        gemm(k, (const uint8_t *)w + (size_t)r0 * row_bytes, row_bytes, r1 - r0, act, arb, n_tok, y + r0, ldy);
        return;
    }
    for (int64_t rc = r0; rc < r1; rc += ROW_CHUNK) {
        const int64_t nr = r1 - rc < ROW_CHUNK ? r1 - rc : ROW_CHUNK;
        for (int64_t tc = 0; tc < n_tok; tc += tok_chunk) {
            const int64_t nt = n_tok - tc < tok_chunk ? n_tok - tc : tok_chunk;
            gemm(k, (const uint8_t *)w + (size_t)rc * row_bytes, row_bytes, nr, (const uint8_t *)act + (size_t)tc * arb,
                 arb, nt, y + tc * ldy + rc, ldy);
        }
    }
}

void slm_matmul_rows16(const slm_kernels *kt, uint32_t type, const void *w, size_t row_bytes, const void *act,
                       int64_t n_tok, int64_t k, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    kernels_rows16_with(kt->mm[type].gemm16, type, w, row_bytes, act, n_tok, k, y, ldy, r0, r1);
}

static void matmul16_task_run(void *arg, int ith, int nth) {
    matmul_task *m = arg;
    slm_matmul_quantize_act16(m->kt, m->type, m->x, m->ldx, m->n_tok, m->k, m->act, ith, nth);
    slm_threadpool_barrier(m->pool);
    int64_t r0, r1;
    int taken = 0;
    while (kernels_next_rows(m, ith, nth, &taken, &r0, &r1))
        slm_matmul_rows16(m->kt, m->type, m->w, m->row_bytes, m->act, m->n_tok, m->k, m->y, m->ldy, r0, r1);
}

void slm_matmul_mode(const slm_kernels *kt, slm_threadpool *pool, slm_act_mode mode, uint32_t type, const void *w,
                     size_t row_bytes, int64_t n_rows, const float *x, int64_t ldx, int64_t n_tok, int64_t k,
                     void *act, float *y, int64_t ldy) {
    switch (slm_matmul_effective_mode(kt, type, mode)) {
    case SLM_ACT_Q8:
        slm_matmul(kt, pool, type, w, row_bytes, n_rows, x, ldx, n_tok, k, act, y, ldy);
        return;
    case SLM_ACT_Q8X2:
        slm_matmul_precise(kt, pool, type, w, row_bytes, n_rows, x, ldx, n_tok, k, act, y, ldy);
        return;
    case SLM_ACT_A16:
        break;
    }
    if (n_rows <= 0 || n_tok <= 0) return;
    matmul_task m = {kt, pool, type, w, row_bytes, n_rows, x, ldx, n_tok, k, act, y, ldy, 0};
    slm_threadpool_run(pool, matmul16_task_run, &m);
}
