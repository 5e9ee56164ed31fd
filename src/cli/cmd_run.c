/* slm run MODEL ["prompt"]: one-shot generation (chat-templated or --raw), or the terminal chat
 * (run_interactive.c) when no prompt is given and stdin is a terminal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "cli/cli.h"
#include "store/store.h"
#include "base/file.h"
#include "sample/json_constrain.h"
#include "sample/stop.h"
#include "cli/run_chat.h"

#define RUN_STDIN_MAX ((size_t)64 << 20)

static const char k_help[] =
    "usage: slm run MODEL [\"prompt\"] [options]\n\n"
    "Generate text with MODEL (a .gguf file or a Hugging Face folder).\n"
    "  - with a prompt argument: answer it once, streaming the tokens to stdout;\n"
    "  - without one, when stdin is not a terminal (echo question | slm run MODEL): the whole of\n"
    "    stdin is the prompt, answered once;\n"
    "  - without one in a terminal: an interactive chat (type /help there).\n"
    "The prompt is a user message rendered with the model's chat template; generation stops at\n"
    "the model's end-of-turn / end-of-text tokens. --raw continues the text as is instead.\n\n"
    "options:\n"
    "  --raw                 no chat template: tokenize the prompt as is (BOS as the model says;\n"
    "                        special tokens written in it are recognised) and continue it\n"
    "  -n, --predict N       at most N tokens (default -1: until end of turn or a full context)\n"
    "  --temp T              temperature; 0 = greedy\n"
    "  --top-k K             keep the K most likely tokens (0 = off)\n"
    "  --top-p P             nucleus sampling mass (1 = off)\n"
    "  --min-p P             drop tokens below P x the top probability (0 = off)\n"
    "  --repeat-penalty R    penalise tokens of the last 64 (1 = off)\n"
    "  --seed S              random seed (default: from the clock); same seed = same output\n"
    "  --system TEXT         system prompt\n"
    "  --stop STR            stop when STR appears (not printed); repeatable\n"
    "  --typical-p P         locally typical sampling (1 = off)\n"
    "  --presence-penalty X, --frequency-penalty X   OpenAI-style penalties (-2 .. 2, 0 = off)\n"
    "  --format json         the answer is always one valid JSON document (compact)\n"
    "  --json-schema FILE    the answer is always valid JSON for this JSON Schema (types, properties,\n"
    "                        required, enum/const, items, min/maxItems, min/maxLength, anyOf/oneOf);\n"
    "                        when -n would cut it short it is closed validly within the budget\n"
    "  --ctx N               context size in tokens (default: min(training context, 4096))\n"
    "  -t, --threads N       threads (default: physical cores)\n"
    CLI_ACT_HELP
    "  --verbose             timing line on stderr: prompt and generation tokens/s, time to\n"
    "                        first token\n"
    "  --json                print one JSON object {\"response\", \"timings\", ...} instead of\n"
    "                        streaming\n\n"
    "Sampling defaults: the model's own where it ships them (generation_config.json of a Hugging\n"
    "Face folder: temperature, top_k, top_p, min_p, repetition_penalty, do_sample=false meaning\n"
    "greedy; general.sampling.* keys of a GGUF), otherwise Ollama's: temperature 0.8, top-k 40,\n"
    "top-p 0.9, min-p 0.05, repeat penalty 1 (off).\n\n"
    "A prompt longer than the context is an error (exit 1). In the chat, when the conversation\n"
    "no longer fits with room for an answer (a quarter of the context), the oldest turns are\n"
    "dropped, the system prompt is kept; an answer that reaches the end of the context stops.\n"
    "Ctrl-C stops a one-shot answer (exit status 130; --json still prints what was generated).\n"
    "Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted.\n";

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = (float)v;
    return true;
}

/* ---- shared with run_interactive.c -------------------------------------------------------- */

slm_status run_sampler_rebuild(run_state *st, slm_error *err) {
    slm_sampler_free(st->smp);
    st->smp = NULL;
    return chat_sampler_new(&st->sp, st->tok, slm_context_n_vocab(st->ctx), &st->smp, err);
}

bool run_piece_stdout(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return !ferror(stdout);
}

static double per_s(int32_t n, double t) { return t > 0 ? n / t : 0; }

void run_print_stats(const chat_turn_stats *s) {
    fprintf(stderr,
            "prompt: %d tokens (%d reused), %.1f tok/s | generation: %d tokens, %.1f tok/s | "
            "first token: %.0f ms | stop: %s\n",
            s->n_decoded, s->n_reused, per_s(s->n_decoded, s->t_prompt), s->n_gen,
            per_s(s->n_gen > 1 ? s->n_gen - 1 : 0, s->t_gen), s->t_first_token * 1e3, chat_stop_reason_name(s->stop));
}

/* ---- one shot ------------------------------------------------------------------------------ */

static char *read_all_stdin(size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= RUN_STDIN_MAX) {
                free(buf);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0) break;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int print_json_result(const run_state *st, const char *prompt, const char *answer, const chat_turn_stats *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON *t = cJSON_CreateObject();
    if (!o || !t) {
        cJSON_Delete(o);
        cJSON_Delete(t);
        fprintf(stderr, "slm run: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    cJSON_AddStringToObject(o, "model", st->model_path);
    cJSON_AddStringToObject(o, "prompt", prompt);
    cJSON_AddStringToObject(o, "response", answer);
    cJSON_AddStringToObject(o, "stop_reason", chat_stop_reason_name(s->stop));
    cJSON_AddNumberToObject(t, "prompt_tokens", s->n_prompt);
    cJSON_AddNumberToObject(t, "prompt_tokens_reused", s->n_reused);
    cJSON_AddNumberToObject(t, "prompt_ms", s->t_prompt * 1e3);
    cJSON_AddNumberToObject(t, "prompt_tokens_per_s", per_s(s->n_decoded, s->t_prompt));
    cJSON_AddNumberToObject(t, "generated_tokens", s->n_gen);
    cJSON_AddNumberToObject(t, "generation_ms", s->t_gen * 1e3);
    cJSON_AddNumberToObject(t, "generation_tokens_per_s", per_s(s->n_gen > 1 ? s->n_gen - 1 : 0, s->t_gen));
    cJSON_AddNumberToObject(t, "time_to_first_token_ms", s->t_first_token * 1e3);
    cJSON_AddItemToObject(o, "timings", t);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) {
        fprintf(stderr, "slm run: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    printf("%s\n", txt);
    free(txt);
    return fflush(stdout) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int run_once(run_state *st, const char *prompt, bool raw, bool json) {
    slm_error err = {0};
    chat_turn_stats s;
    char *answer = NULL;
    /* Ctrl-C ends the answer early (what was generated is kept) and the exit status is 130 */
    chat_piece_fn cb = json ? NULL : run_piece_until_interrupt;
    run_interrupt_begin(st->ctx);
    slm_status rc = raw ? chat_session_complete(st->sess, prompt, strlen(prompt), st->smp, st->n_predict, cb, NULL,
                                                &answer, &s, &err)
                        : chat_session_respond(st->sess, prompt, st->smp, st->n_predict, cb, NULL, &answer, &s, &err);
    const bool interrupted = run_interrupted();
    run_interrupt_end(st->ctx);
    if (rc) {
        if (!json) fflush(stdout);
        return cli_fail("run", &err);
    }
    int code = CLI_EXIT_OK;
    if (json) {
        code = print_json_result(st, prompt, answer, &s);
    } else if (isatty(STDOUT_FILENO) && answer[0] && answer[strlen(answer) - 1] != '\n') {
        putchar('\n'); /* keep the shell prompt on its own line; pipes get the exact text */
    }
    if (st->verbose) run_print_stats(&s);
    free(answer);
    return code == CLI_EXIT_OK && interrupted ? 130 : code;
}

/* ---- setup --------------------------------------------------------------------------------- */

static int load_everything(run_state *st, int32_t n_ctx, int32_t n_threads, bool need_template, slm_activations act) {
    slm_error err = {0};
    if (slm_model_load(st->model_path, &st->m, &err)) return cli_fail(st->model_path, &err);
    /* the 16-bit default multiplies repacked weights; other modes read the file's layout */
    if ((act == SLM_ACT_16 || act == SLM_ACT_AUTO) && slm_model_prepare(st->m, n_threads, &err)) return cli_fail(st->model_path, &err);
    if (slm_tokenizer_load_path(st->model_path, &st->tok, &err)) return cli_fail("tokenizer", &err);
    slm_error terr = {0};
    if (chat_template_load(st->model_path, &st->tmpl, &terr) == SLM_OK && st->tmpl.source && st->tmpl.len) {
        st->has_tmpl = true;
    } else if (need_template) {
        fprintf(stderr, "slm run: %s has no chat template%s%s; use --raw for plain text completion\n", st->model_path,
                terr.msg[0] ? ": " : "", terr.msg);
        return CLI_EXIT_FAIL;
    }
    slm_context_params p = slm_context_default_params();
    if (n_ctx <= 0) {
        int64_t train = st->m->hp.n_ctx_train;
        n_ctx = train > 0 && train < 4096 ? (int32_t)train : 4096;
    }
    p.n_ctx = n_ctx;
    p.n_threads = n_threads;
    p.activations = act;
    if (slm_context_new(st->m, &p, &st->ctx, &err)) return cli_fail("context", &err);
    if (chat_session_new(st->m, st->tok, st->has_tmpl ? &st->tmpl : NULL, st->ctx, &st->sess, &err))
        return cli_fail("session", &err);
    return CLI_EXIT_OK;
}

static void free_everything(run_state *st) {
    slm_sampler_free(st->smp);
    chat_session_free(st->sess);
    slm_context_free(st->ctx);
    if (st->has_tmpl) chat_template_source_free(&st->tmpl);
    slm_tokenizer_free(st->tok);
    slm_model_free(st->m);
}

/* Sampler options override the model's defaults, which need the model: collected first. */
typedef struct sampler_overrides {
    float temp, top_p, min_p, repeat, typical_p, presence, frequency;
    long top_k;
    bool has_temp, has_top_p, has_min_p, has_repeat, has_top_k, has_typical_p, has_presence, has_frequency;
} sampler_overrides;

/* A model made with `slm create` carries its own defaults (Ollama's Modelfile idea): a system
 * prompt and sampler parameters, used where the command line says nothing. */
static void apply_store_defaults(const char *name, sampler_overrides *ov, const char **system, long *n_ctx,
                                 long *seed, bool *seed_set) {
    cJSON *m = NULL;
    if (slm_store_manifest_read(name, &m, NULL) != SLM_OK) return;
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(m, "system");
    static char sys_copy[8192];
    if (system && !*system && cJSON_IsString(sys)) { /* --raw has no system prompt (system == NULL) */
        snprintf(sys_copy, sizeof sys_copy, "%s", sys->valuestring);
        *system = sys_copy;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "params");
#define NUM(key) (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p, key)) ? cJSON_GetObjectItemCaseSensitive(p, key)->valuedouble : -1)
    double v;
    if (!ov->has_temp && (v = NUM("temperature")) >= 0) ov->temp = (float)v, ov->has_temp = true;
    if (!ov->has_top_k && (v = NUM("top_k")) >= 0) ov->top_k = (long)v, ov->has_top_k = true;
    if (!ov->has_top_p && (v = NUM("top_p")) >= 0) ov->top_p = (float)v, ov->has_top_p = true;
    if (!ov->has_min_p && (v = NUM("min_p")) >= 0) ov->min_p = (float)v, ov->has_min_p = true;
    if (!ov->has_repeat && (v = NUM("repeat_penalty")) > 0) ov->repeat = (float)v, ov->has_repeat = true;
    if (!*n_ctx && (v = NUM("num_ctx")) > 0) *n_ctx = (long)v;
    if (!*seed_set && (v = NUM("seed")) >= 0) *seed = (long)v, *seed_set = true;
#undef NUM
    cJSON_Delete(m);
}

/* --format json / --json-schema FILE: every answer is a valid JSON document (of that schema), closed
 * validly even when -n cuts it short. */
static int make_constraint(run_state *st, const char *schema_path, json_constraint **out) {
    slm_error err = {0};
    char *schema = NULL;
    if (schema_path && slm_file_read_all(schema_path, (size_t)1 << 20, &schema, NULL, &err))
        return cli_fail(schema_path, &err);
    slm_status rc = json_constraint_new(schema, st->tok, out, &err);
    free(schema);
    if (rc) return cli_fail(schema_path ? schema_path : "--format json", &err);
    if (chat_session_set_constraint(st->sess, *out, &err)) return cli_fail("constraint", &err);
    return CLI_EXIT_OK;
}

int cmd_run(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    run_state st = {0};
    sampler_overrides ov = {0};
    const char *prompt = NULL, *system = NULL, *schema_path = NULL;
#define RUN_MAX_STOPS 16
    const char *stops[RUN_MAX_STOPS];
    int n_stops = 0;
    bool format_json = false;
    bool raw = false, json = false;
    slm_activations act = SLM_ACT_AUTO;
    long n_predict = -1, n_ctx = 0, threads = 0, seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                                                                   \
    do {                                                                                                               \
        if (!v) return cli_usage_error("run", "%s needs a value", a);                                                  \
        i++;                                                                                                           \
    } while (0)
        if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--verbose")) {
            st.verbose = true;
        } else if (!strcmp(a, "--act")) {
            NEED_VALUE();
            if (!cli_parse_activations(v, &act)) return cli_usage_error("run", "bad --act '%s' (auto, 16, 8 or 8x2)", v);
        } else if (!strcmp(a, "-n") || !strcmp(a, "--predict")) {
            NEED_VALUE();
            if (!parse_long(v, -1, 1L << 24, &n_predict)) return cli_usage_error("run", "bad %s '%s'", a, v);
        } else if (!strcmp(a, "--temp")) {
            NEED_VALUE();
            if (!parse_float(v, 0, 100, &ov.temp)) return cli_usage_error("run", "bad --temp '%s' (0 .. 100)", v);
            ov.has_temp = true;
        } else if (!strcmp(a, "--top-k")) {
            NEED_VALUE();
            if (!parse_long(v, 0, 1L << 24, &ov.top_k)) return cli_usage_error("run", "bad --top-k '%s'", v);
            ov.has_top_k = true;
        } else if (!strcmp(a, "--top-p")) {
            NEED_VALUE();
            if (!parse_float(v, 0, 1, &ov.top_p)) return cli_usage_error("run", "bad --top-p '%s' (0 .. 1)", v);
            ov.has_top_p = true;
        } else if (!strcmp(a, "--min-p")) {
            NEED_VALUE();
            if (!parse_float(v, 0, 1, &ov.min_p)) return cli_usage_error("run", "bad --min-p '%s' (0 .. 1)", v);
            ov.has_min_p = true;
        } else if (!strcmp(a, "--repeat-penalty")) {
            NEED_VALUE();
            if (!parse_float(v, 0.01, 100, &ov.repeat))
                return cli_usage_error("run", "bad --repeat-penalty '%s' (0.01 .. 100)", v);
            ov.has_repeat = true;
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE();
            if (!parse_long(v, 0, 0x7fffffffffffffffL, &seed)) return cli_usage_error("run", "bad --seed '%s'", v);
            st.seed_set = true;
        } else if (!strcmp(a, "--ctx")) {
            NEED_VALUE();
            if (!parse_long(v, 1, 1L << 24, &n_ctx)) return cli_usage_error("run", "bad --ctx '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEED_VALUE();
            if (!parse_long(v, 1, 256, &threads)) return cli_usage_error("run", "bad %s '%s'", a, v);
        } else if (!strcmp(a, "--stop")) {
            NEED_VALUE();
            if (n_stops == RUN_MAX_STOPS) return cli_usage_error("run", "at most %d --stop strings", RUN_MAX_STOPS);
            stops[n_stops++] = v;
        } else if (!strcmp(a, "--typical-p")) {
            NEED_VALUE();
            if (!parse_float(v, 0, 1, &ov.typical_p)) return cli_usage_error("run", "bad --typical-p '%s' (0 .. 1)", v);
            ov.has_typical_p = true;
        } else if (!strcmp(a, "--presence-penalty") || !strcmp(a, "--frequency-penalty")) {
            NEED_VALUE();
            float *dst = a[2] == 'p' ? &ov.presence : &ov.frequency;
            if (!parse_float(v, -2, 2, dst)) return cli_usage_error("run", "bad %s '%s' (-2 .. 2)", a, v);
            if (a[2] == 'p') ov.has_presence = true;
            else ov.has_frequency = true;
        } else if (!strcmp(a, "--format")) {
            NEED_VALUE();
            if (strcmp(v, "json")) return cli_usage_error("run", "--format takes 'json'");
            format_json = true;
        } else if (!strcmp(a, "--json-schema")) {
            NEED_VALUE();
            schema_path = v;
        } else if (!strcmp(a, "--system")) {
            NEED_VALUE();
            system = v;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("run", "unknown option '%s'", a);
        } else if (!st.model_path) {
            st.model_path = a;
        } else if (!prompt) {
            prompt = a;
        } else {
            return cli_usage_error("run", "unexpected argument '%s' (quote the prompt)", a);
        }
#undef NEED_VALUE
    }
    if (!st.model_path) return cli_usage_error("run", "no model given");
    apply_store_defaults(st.model_path, &ov, raw ? NULL : &system, &n_ctx, &seed, &st.seed_set);
    {
        int prc;
        if (!(st.model_path = cli_model_path(st.model_path, true, &prc))) return prc;
    }
    if (raw && system) return cli_usage_error("run", "--system needs the chat template (not --raw)");

    char *stdin_prompt = NULL;
    const bool interactive = !prompt && isatty(STDIN_FILENO);
    if (interactive && (raw || json))
        return cli_usage_error("run", "%s needs a prompt (argument or stdin)", raw ? "--raw" : "--json");
    if (!prompt && !interactive) {
        size_t len = 0;
        stdin_prompt = read_all_stdin(&len);
        if (!stdin_prompt) {
            fprintf(stderr, "slm run: cannot read stdin (limit %zu bytes)\n", RUN_STDIN_MAX);
            return CLI_EXIT_FAIL;
        }
        /* `echo question |` adds a newline that is not part of the question */
        while (len > 0 && (stdin_prompt[len - 1] == '\n' || stdin_prompt[len - 1] == '\r'))
            stdin_prompt[--len] = '\0';
        prompt = stdin_prompt;
    }

    st.n_predict = (int32_t)n_predict;
    slm_error err = {0};
    int code = load_everything(&st, (int32_t)n_ctx, (int32_t)threads, !raw, act);
    if (code == CLI_EXIT_OK) {
        /* the model's own defaults first, then the options given */
        st.sp = chat_sampler_defaults(st.m);
        if (ov.has_temp) st.sp.temperature = ov.temp;
        if (ov.has_top_k) st.sp.top_k = (int32_t)ov.top_k;
        if (ov.has_top_p) st.sp.top_p = ov.top_p;
        if (ov.has_min_p) st.sp.min_p = ov.min_p;
        if (ov.has_repeat) st.sp.repeat_penalty = ov.repeat;
        if (ov.has_typical_p) st.sp.typical_p = ov.typical_p;
        if (ov.has_presence) st.sp.presence_penalty = ov.presence;
        if (ov.has_frequency) st.sp.frequency_penalty = ov.frequency;
        st.sp.seed = st.seed_set ? (uint64_t)seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        if (run_sampler_rebuild(&st, &err)) code = cli_fail("sampler", &err);
    }
    if (code == CLI_EXIT_OK && system && chat_session_set_system(st.sess, system, &err))
        code = cli_fail("system prompt", &err);
    slm_stop *stop = NULL;
    if (code == CLI_EXIT_OK && n_stops) {
        if (slm_stop_new(stops, n_stops, &stop, &err)) code = cli_fail("--stop", &err);
        else chat_session_set_stop(st.sess, stop);
    }
    json_constraint *jc = NULL;
    if (code == CLI_EXIT_OK && (format_json || schema_path)) code = make_constraint(&st, schema_path, &jc);
    if (code == CLI_EXIT_OK) code = interactive ? run_interactive(&st) : run_once(&st, prompt, raw, json);
    free_everything(&st);
    json_constraint_free(jc);
    slm_stop_free(stop);
    free(stdin_prompt);
    return code;
}
