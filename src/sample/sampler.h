/* Token samplers: logits (n_vocab floats) -> one token id.
 *
 * The chain, in llama.cpp's default order (so settings mean the same thing as there):
 *   1. logit bias        logit[t] += bias (use -INFINITY to ban a token)
 *   2. penalties         over the last penalty_last_n accepted tokens, once per distinct token t
 *                        with count c in that window:
 *                          repeat:    logit > 0 ? logit / repeat_penalty : logit * repeat_penalty
 *                          frequency: logit -= c * frequency_penalty
 *                          presence:  logit -= presence_penalty
 *   3. temperature <= 0  greedy: the highest logit (lowest id on ties); nothing below applies
 *   4. top-k             keep the k highest logits (ties broken by lower id)
 *   5. typical-p         keep the tokens whose surprisal is closest to the entropy until their
 *                        probability mass reaches typical_p
 *   6. top-p             keep the smallest highest-probability prefix whose mass reaches top_p
 *   7. min-p             keep tokens with p >= min_p * p_max
 *   8. temperature       softmax(logit / temperature) over what is left, then one draw
 * Steps 5-7 use probabilities softmax(logit) of the survivors *before* temperature (as llama.cpp).
 *
 * Cost per token: O(n_vocab) passes plus a sort of only the candidates that matter: top-k and
 * top-p select a prefix with quickselect and sort just that prefix (growing it until the mass
 * reaches top_p), min-p is a threshold on the logit. Only typical-p sorts every survivor, so pair
 * it with top-k on big vocabularies. All memory is allocated by slm_sampler_new; sampling itself
 * never allocates.
 *
 * Randomness: xoshiro256** seeded through splitmix64(seed); one 53-bit uniform per draw. Same
 * seed + same settings + same logits = same tokens, on every platform.
 */
#ifndef SLM_SAMPLE_SAMPLER_H
#define SLM_SAMPLE_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "slm.h"

typedef struct slm_logit_bias {
    int32_t token;
    float bias;
} slm_logit_bias;

typedef struct slm_sampler_params {
    float temperature;       /* <= 0: greedy (default 0.8) */
    int32_t top_k;           /* <= 0: off (default 40) */
    float top_p;             /* >= 1: off (default 0.95) */
    float min_p;             /* <= 0: off (default 0.05) */
    float typical_p;         /* >= 1: off (default 1) */
    float repeat_penalty;    /* 1: off (default 1) */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    int32_t penalty_last_n;  /* window of accepted tokens the penalties look at (default 64; 0: off) */
    uint64_t seed;
    const slm_logit_bias *logit_bias; /* copied by slm_sampler_new */
    int32_t n_logit_bias;
} slm_sampler_params;

typedef struct slm_sampler slm_sampler;

/* One surviving candidate after the chain: its id and final probability. */
typedef struct slm_candidate {
    int32_t id;
    float logit; /* after bias, penalties and temperature */
    float p;
} slm_candidate;

slm_sampler_params slm_sampler_default_params(void);

/* Create a sampler for vocabularies of n_vocab tokens (1 .. 16M). Errors: bad parameters
 * (negative penalties window, top_p/min_p outside [0, 1], bias token out of range). */
slm_status slm_sampler_new(const slm_sampler_params *p, int32_t n_vocab, slm_sampler **out, slm_error *err);
void slm_sampler_free(slm_sampler *s);

/* Draw a token from logits (n_vocab floats, not modified; NaN counts as -inf). Does not record the
 * token: call slm_sampler_accept with the token actually used. If every logit is -inf (all banned)
 * the result is the lowest id. */
int32_t slm_sampler_sample(slm_sampler *s, const float *logits);

/* The distribution sample() would draw from: candidates sorted by decreasing probability (ties by
 * id), probabilities summing to 1. *out points into the sampler, valid until the next call.
 * Returns the number of candidates (1 for greedy). For tests and for `--verbose` output. */
int32_t slm_sampler_distribution(slm_sampler *s, const float *logits, const slm_candidate **out);

/* Record a generated (or prompt) token for the penalties window. Ids outside the vocabulary are
 * ignored. */
void slm_sampler_accept(slm_sampler *s, int32_t token);

/* Forget the penalty history and restart the random stream from the seed. */
void slm_sampler_reset(slm_sampler *s);

/* The raw generator, exposed for tests: next 64-bit output and a uniform double in [0, 1). */
uint64_t slm_sampler_rng_next(slm_sampler *s);
double slm_sampler_rng_uniform(slm_sampler *s);

#endif
