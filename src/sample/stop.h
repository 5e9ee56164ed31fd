/* Stop strings matched across token boundaries.
 *
 * Generated text arrives in pieces (one per token). A stop string may be split over several
 * pieces ("<|im" + "_end|>"), so text that could still become the start of a stop string is held
 * back until it is decided: either the stop string completes (generation stops; the stop string
 * and everything after it are dropped) or the text can no longer match (it is released).
 *
 *   slm_stop *st; slm_stop_new(stops, n, &st, &err);
 *   for each piece: bool hit = slm_stop_feed(st, piece, len, &text, &text_len);
 *                   print text_len bytes of text; if (hit) break;
 *   at the end:     slm_stop_flush(st, &text, &text_len); print it.
 *
 * Memory: the hold-back buffer is sized at creation (longest stop string) and only grows when a
 * single piece is longer than anything seen before, so steady-state feeding does not allocate.
 */
#ifndef SLM_SAMPLE_STOP_H
#define SLM_SAMPLE_STOP_H

#include <stdbool.h>
#include <stddef.h>

#include "slm.h"

typedef struct slm_stop slm_stop;

/* Copies the n stop strings (empty strings are ignored; at most 64, each < 4096 bytes). */
slm_status slm_stop_new(const char *const *stops, int n, slm_stop **out, slm_error *err);
void slm_stop_free(slm_stop *s);

/* Feed one piece. *text / *text_len receive the bytes that are now safe to show (pointing into
 * the matcher, valid until the next call). Returns true when a stop string completed: *text is
 * then everything before it, and further feeding returns nothing. Pieces may be empty. On an
 * allocation failure the piece is passed through unchecked (nothing is lost). */
bool slm_stop_feed(slm_stop *s, const char *piece, size_t len, const char **text, size_t *text_len);

/* End of generation without a stop: release whatever is held back. */
void slm_stop_flush(slm_stop *s, const char **text, size_t *text_len);

/* True once a stop string was found. */
bool slm_stop_hit(const slm_stop *s);

/* Forget held text and the stopped state (new answer, same stop strings). */
void slm_stop_reset(slm_stop *s);

#endif
