/* State shared by `slm run` (cmd_run.c: options, one-shot) and its terminal chat (run_interactive.c). */
#ifndef SLM_CLI_RUN_CHAT_H
#define SLM_CLI_RUN_CHAT_H

#include <stdbool.h>
#include <stdint.h>

#include "chat/chat_session.h"
#include "model/loader.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

typedef struct run_state {
    /* options */
    const char *model_path;
    slm_sampler_params sp; /* current sampler settings (/set changes them) */
    bool seed_set;         /* --seed given; otherwise a seed from the clock */
    int32_t n_predict;     /* -1: until end of turn or a full context */
    bool verbose;
    /* loaded objects, all owned */
    slm_model *m;
    slm_tokenizer *tok;
    chat_template_source tmpl;
    bool has_tmpl;
    slm_context *ctx;
    chat_session *sess;
    slm_sampler *smp;
} run_state;

/* (Re)create st->smp from st->sp. */
slm_status run_sampler_rebuild(run_state *st, slm_error *err);
/* Streams a piece to stdout and flushes (chat_piece_fn; user unused). */
bool run_piece_stdout(void *user, const char *text, size_t len);
/* "prompt: ... | generation: ... | first token: ..." on stderr. */
void run_print_stats(const chat_turn_stats *s);

/* Ctrl-C handling: between begin and end, SIGINT only sets a flag that the context's abort
 * callback and run_piece_until_interrupt read (the answer stops, the program goes on). */
void run_interrupt_begin(slm_context *ctx);
void run_interrupt_end(slm_context *ctx);
bool run_interrupted(void);
/* run_piece_stdout until Ctrl-C. */
bool run_piece_until_interrupt(void *user, const char *text, size_t len);

/* The interactive terminal chat; returns the exit code. */
int run_interactive(run_state *st);

#endif
