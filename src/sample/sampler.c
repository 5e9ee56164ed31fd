/* Samplers: see sampler.h for the chain and its costs. */
#include "sample/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define SAMPLER_MAX_VOCAB (1 << 24)
#define SAMPLER_MAX_WINDOW (1 << 20)

struct slm_sampler {
    slm_sampler_params p;
    slm_logit_bias *bias;
    int32_t n_vocab;
    slm_candidate *cand; /* n_vocab working candidates */
    int32_t n_cand;
    uint32_t *counts;    /* occurrences of each token in the penalty window */
    uint32_t *stamp;     /* per-token marker: penalised in step `gen` already */
    uint32_t gen;
    int32_t *ring;       /* the window: last penalty_last_n accepted tokens */
    int32_t ring_n, ring_head;
    uint64_t rng[4];
};

/* ---- random numbers: xoshiro256** (Blackman & Vigna), seeded via splitmix64 ---------------- */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t slm_sampler_rng_next(slm_sampler *s) {
    uint64_t *r = s->rng;
    uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return out;
}

double slm_sampler_rng_uniform(slm_sampler *s) { return (double)(slm_sampler_rng_next(s) >> 11) * 0x1.0p-53; }

static void rng_seed(slm_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */
slm_sampler_params slm_sampler_default_params(void) {
    slm_sampler_params p = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .typical_p = 1.0f,
                            .repeat_penalty = 1.0f, .penalty_last_n = 64, .seed = 0};
    return p;
}

void slm_sampler_free(slm_sampler *s) {
    if (!s) return;
    free(s->bias);
    free(s->cand);
    free(s->counts);
    free(s->stamp);
    free(s->ring);
    free(s);
}

slm_status slm_sampler_new(const slm_sampler_params *p, int32_t n_vocab, slm_sampler **out, slm_error *err) {
    *out = NULL;
    if (n_vocab < 1 || n_vocab > SAMPLER_MAX_VOCAB) return slm_fail(err, SLM_E_INVALID_ARG, "sampler: n_vocab %d out of range", n_vocab);
    if (p->penalty_last_n < 0 || p->penalty_last_n > SAMPLER_MAX_WINDOW)
        return slm_fail(err, SLM_E_INVALID_ARG, "sampler: penalty_last_n %d out of range", p->penalty_last_n);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f) && !(p->top_p > 1.0f))
        return slm_fail(err, SLM_E_INVALID_ARG, "sampler: top_p must be in [0, 1]");
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f) && !(p->min_p < 0.0f))
        return slm_fail(err, SLM_E_INVALID_ARG, "sampler: min_p must be in [0, 1]");
    if (isnan(p->temperature) || isnan(p->typical_p) || !(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty) ||
        !isfinite(p->frequency_penalty) || !isfinite(p->presence_penalty))
        return slm_fail(err, SLM_E_INVALID_ARG, "sampler: temperature/penalties must be finite (repeat_penalty > 0)");
    if (p->n_logit_bias < 0 || (p->n_logit_bias && !p->logit_bias))
        return slm_fail(err, SLM_E_INVALID_ARG, "sampler: bad logit bias list");
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        if (p->logit_bias[i].token < 0 || p->logit_bias[i].token >= n_vocab)
            return slm_fail(err, SLM_E_INVALID_ARG, "sampler: logit bias for token %d outside the vocabulary (%d)",
                            p->logit_bias[i].token, n_vocab);
        if (isnan(p->logit_bias[i].bias)) return slm_fail(err, SLM_E_INVALID_ARG, "sampler: logit bias is NaN");
    }
    slm_sampler *s = calloc(1, sizeof *s);
    if (!s) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
    s->stamp = calloc((size_t)n_vocab, sizeof *s->stamp);
    s->ring = malloc((size_t)(p->penalty_last_n > 0 ? p->penalty_last_n : 1) * sizeof *s->ring);
    if (p->n_logit_bias) {
        s->bias = malloc((size_t)p->n_logit_bias * sizeof *s->bias);
        if (s->bias) memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
    }
    s->p.logit_bias = s->bias;
    if (!s->cand || !s->counts || !s->stamp || !s->ring || (p->n_logit_bias && !s->bias)) {
        slm_sampler_free(s);
        return slm_fail(err, SLM_E_NOMEM, "out of memory (sampler for %d tokens)", n_vocab);
    }
    rng_seed(s);
    *out = s;
    return SLM_OK;
}

void slm_sampler_reset(slm_sampler *s) {
    for (int32_t i = 0; i < s->ring_n; i++) {
        int32_t idx = (s->ring_head + i) % s->p.penalty_last_n;
        s->counts[s->ring[idx]] = 0;
    }
    s->ring_n = s->ring_head = 0;
    rng_seed(s);
}

void slm_sampler_accept(slm_sampler *s, int32_t token) {
    int32_t w = s->p.penalty_last_n;
    if (w <= 0 || token < 0 || token >= s->n_vocab) return;
    if (s->ring_n == w) { /* evict the oldest */
        s->counts[s->ring[s->ring_head]]--;
        s->ring[s->ring_head] = token;
        s->ring_head = (s->ring_head + 1) % w;
    } else {
        s->ring[(s->ring_head + s->ring_n) % w] = token;
        s->ring_n++;
    }
    s->counts[token]++;
}

/* ---- ordering helpers (no allocation: in-place quickselect / quicksort) ---------------------- */
/* Strict total order "a before b": higher logit first, lower id on ties. */
static inline bool before(const slm_candidate *a, const slm_candidate *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Order for typical-p: smaller |surprisal - entropy| first (stored in p), lower id on ties. */
static inline bool before_typical(const slm_candidate *a, const slm_candidate *b) {
    return a->p < b->p || (a->p == b->p && a->id < b->id);
}

typedef bool (*cand_less)(const slm_candidate *, const slm_candidate *);

static inline void swap_c(slm_candidate *a, slm_candidate *b) {
    slm_candidate t = *a;
    *a = *b;
    *b = t;
}

/* Partition c[0..n) around a median-of-three pivot; returns the pivot's final index. */
static int32_t partition(slm_candidate *c, int32_t n, cand_less less) {
    int32_t mid = n / 2, last = n - 1;
    if (less(&c[mid], &c[0])) swap_c(&c[mid], &c[0]);
    if (less(&c[last], &c[0])) swap_c(&c[last], &c[0]);
    if (less(&c[last], &c[mid])) swap_c(&c[last], &c[mid]);
    swap_c(&c[mid], &c[last]); /* pivot at the end */
    int32_t store = 0;
    for (int32_t i = 0; i < last; i++)
        if (less(&c[i], &c[last])) swap_c(&c[i], &c[store++]);
    swap_c(&c[store], &c[last]);
    return store;
}

static void insertion_sort(slm_candidate *c, int32_t n, cand_less less) {
    for (int32_t i = 1; i < n; i++) {
        slm_candidate x = c[i];
        int32_t j = i;
        while (j > 0 && less(&x, &c[j - 1])) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = x;
    }
}

/* Rearrange so that c[0..m) holds the m first elements in `less` order (unsorted). */
static void select_first(slm_candidate *c, int32_t n, int32_t m, cand_less less) {
    while (n > 16 && m > 0 && m < n) {
        int32_t k = partition(c, n, less);
        if (k == m || k == m - 1) return;
        if (k > m) n = k;
        else {
            c += k + 1;
            n -= k + 1;
            m -= k + 1;
        }
    }
    if (m > 0 && m < n) insertion_sort(c, n, less);
}

static void sort_cands(slm_candidate *c, int32_t n, cand_less less) {
    while (n > 16) { /* recurse on the smaller side: O(log n) stack */
        int32_t k = partition(c, n, less);
        if (k < n - k - 1) {
            sort_cands(c, k, less);
            c += k + 1;
            n -= k + 1;
        } else {
            sort_cands(c + k + 1, n - k - 1, less);
            n = k;
        }
    }
    insertion_sort(c, n, less);
}

/* Softmax of the logits of c[0..n) into p; returns the maximum logit. */
static float softmax(slm_candidate *c, int32_t n) {
    float mx = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (c[i].logit > mx) mx = c[i].logit;
    double sum = 0;
    for (int32_t i = 0; i < n; i++) {
        float e = mx == -INFINITY ? 1.0f : expf(c[i].logit - mx);
        c[i].p = e;
        sum += e;
    }
    for (int32_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
    return mx;
}

/* ---- the chain ------------------------------------------------------------------------------ */
static void apply_penalties(slm_sampler *s) {
    const slm_sampler_params *p = &s->p;
    bool on = p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f;
    if (!on || s->ring_n == 0) return;
    if (++s->gen == 0) { /* stamp wrapped: clear so no stale marker matches */
        memset(s->stamp, 0, (size_t)s->n_vocab * sizeof *s->stamp);
        s->gen = 1;
    }
    for (int32_t i = 0; i < s->ring_n; i++) {
        int32_t t = s->ring[(s->ring_head + i) % p->penalty_last_n];
        if (s->stamp[t] == s->gen) continue;
        s->stamp[t] = s->gen;
        float *l = &s->cand[t].logit;
        if (p->repeat_penalty != 1.0f) *l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
        *l -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
    }
}

static void top_k(slm_sampler *s) {
    int32_t k = s->p.top_k;
    if (k <= 0 || k >= s->n_cand) return;
    select_first(s->cand, s->n_cand, k, before);
    s->n_cand = k;
}

static void typical(slm_sampler *s) {
    float tp = s->p.typical_p;
    if (!(tp < 1.0f) || s->n_cand <= 1) return;
    slm_candidate *c = s->cand;
    int32_t n = s->n_cand;
    softmax(c, n);
    double h = 0;
    for (int32_t i = 0; i < n; i++)
        if (c[i].p > 0) h -= c[i].p * log(c[i].p);
    /* keep the probabilities aside in logit order: sort by |-log p - H| stored in p */
    for (int32_t i = 0; i < n; i++) {
        double prob = c[i].p;
        c[i].p = prob > 0 ? (float)fabs(-log(prob) - h) : INFINITY;
    }
    sort_cands(c, n, before_typical);
    /* recompute probabilities in the new order (softmax is order independent) */
    float mx = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (c[i].logit > mx) mx = c[i].logit;
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += mx == -INFINITY ? 1.0 : exp((double)c[i].logit - mx);
    double cum = 0;
    int32_t keep = n;
    for (int32_t i = 0; i < n; i++) {
        cum += (mx == -INFINITY ? 1.0 : exp((double)c[i].logit - mx)) / sum;
        if (cum >= tp) {
            keep = i + 1;
            break;
        }
    }
    s->n_cand = keep;
}

/* top-p with probabilities p_i = exp(logit_i - mx) / sum, where (mx, sum) were measured over the
 * candidate set top-p is defined on (which may be larger than the current one, see run_chain). */
static void top_p_norm(slm_sampler *s, float mx, double sum) {
    float tp = s->p.top_p;
    slm_candidate *c = s->cand;
    int32_t n = s->n_cand;
    float inv = (float)(1.0 / sum);
    for (int32_t i = 0; i < n; i++) c[i].p = (mx == -INFINITY ? 1.0f : expf(c[i].logit - mx)) * inv;
    /* grow a sorted prefix until its mass reaches top_p; usually a few dozen tokens suffice */
    int32_t m = 64, sorted = 0;
    double cum = 0;
    for (;;) {
        if (m > n) m = n;
        select_first(c + sorted, n - sorted, m - sorted, before);
        sort_cands(c + sorted, m - sorted, before);
        for (int32_t i = sorted; i < m; i++) {
            cum += c[i].p;
            if (cum >= tp) {
                s->n_cand = i + 1;
                return;
            }
        }
        sorted = m;
        if (m == n) return; /* the whole set never reached top_p (rounding, or min-p cut first) */
        m = m > n / 4 ? n : m * 4;
    }
}

static void softmax_norm(const slm_candidate *c, int32_t n, float *mx, double *sum) {
    float m = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (c[i].logit > m) m = c[i].logit;
    double z = 0;
    for (int32_t i = 0; i < n; i++) z += m == -INFINITY ? 1.0f : expf(c[i].logit - m);
    *mx = m;
    *sum = z;
}

static void min_p(slm_sampler *s) {
    float mp = s->p.min_p;
    if (!(mp > 0.0f) || s->n_cand <= 1) return;
    slm_candidate *c = s->cand;
    float mx = -INFINITY;
    for (int32_t i = 0; i < s->n_cand; i++)
        if (c[i].logit > mx) mx = c[i].logit;
    if (mx == -INFINITY) return;
    /* p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p) */
    float thr = mx + logf(mp);
    int32_t k = 0;
    for (int32_t i = 0; i < s->n_cand; i++)
        if (c[i].logit >= thr) c[k++] = c[i];
    s->n_cand = k;
}

/* Run the chain on logits; leaves the final candidates with probabilities in s->cand[0..n_cand). */
static void run_chain(slm_sampler *s, const float *logits) {
    slm_candidate *c = s->cand;
    int32_t nv = s->n_vocab;
    for (int32_t i = 0; i < nv; i++) {
        c[i].id = i;
        c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    for (int32_t i = 0; i < s->p.n_logit_bias; i++) c[s->bias[i].token].logit += s->bias[i].bias;
    apply_penalties(s);
    s->n_cand = nv;
    if (!(s->p.temperature > 0.0f)) {
        int32_t best = 0;
        for (int32_t i = 1; i < nv; i++)
            if (c[i].logit > c[best].logit) best = i;
        c[0] = c[best];
        c[0].p = 1.0f;
        s->n_cand = 1;
        return;
    }
    top_k(s);
    typical(s);
    bool use_top_p = s->p.top_p < 1.0f && s->n_cand > 1;
    if (use_top_p) {
        /* Both top-p and min-p keep a prefix of the candidates in probability order, so the result
         * is the shorter prefix. Measuring the normalizer first and cutting with the cheap min-p
         * threshold before the top-p prefix search gives the same set while sorting only the
         * tokens above the min-p threshold. */
        float mx;
        double sum;
        softmax_norm(c, s->n_cand, &mx, &sum);
        min_p(s);
        top_p_norm(s, mx, sum);
    } else {
        min_p(s);
    }
    float inv_t = 1.0f / s->p.temperature;
    for (int32_t i = 0; i < s->n_cand; i++) c[i].logit *= inv_t;
    softmax(c, s->n_cand);
}

int32_t slm_sampler_sample(slm_sampler *s, const float *logits) {
    run_chain(s, logits);
    const slm_candidate *c = s->cand;
    int32_t n = s->n_cand;
    if (n == 1) return c[0].id;
    double u = slm_sampler_rng_uniform(s), cum = 0;
    for (int32_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (u < cum) return c[i].id;
    }
    /* u landed in the rounding gap above the summed mass: the last candidate with any mass */
    for (int32_t i = n - 1; i > 0; i--)
        if (c[i].p > 0) return c[i].id;
    return c[0].id;
}

int32_t slm_sampler_distribution(slm_sampler *s, const float *logits, const slm_candidate **out) {
    run_chain(s, logits);
    sort_cands(s->cand, s->n_cand, before);
    *out = s->cand;
    return s->n_cand;
}
