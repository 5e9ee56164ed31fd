/* The terminal chat of `slm run MODEL`: a `>>> ` prompt with line editing and history (libedit),
 * streamed answers, Ctrl-C to stop an answer, Ctrl-D or /bye to quit, and slash commands.
 *
 * Ctrl-C: a SIGINT handler only sets a flag. The context's abort callback and the piece callback
 * read it, so a running answer stops within one layer of the forward pass and the chat goes on.
 * At the prompt, Ctrl-C drops the line being typed. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "cli/cli.h"
#include "cli/run_chat.h"
#include "model/model_info.h"

#ifdef SLM_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#define RUN_SAVE_MAX ((size_t)64 << 20)
#define RUN_LINE_MAX ((size_t)1 << 20)

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static bool abort_requested(void *user) {
    (void)user;
    return g_interrupted != 0;
}

static struct sigaction g_old_sigint;

void run_interrupt_begin(slm_context *ctx) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_old_sigint); /* no SA_RESTART: a blocked read returns with EINTR */
    slm_context_set_abort(ctx, abort_requested, NULL);
    g_interrupted = 0;
}

void run_interrupt_end(slm_context *ctx) {
    slm_context_set_abort(ctx, NULL, NULL);
    sigaction(SIGINT, &g_old_sigint, NULL);
}

bool run_interrupted(void) { return g_interrupted != 0; }

/* Streams to stdout until Ctrl-C. */
bool run_piece_until_interrupt(void *user, const char *text, size_t len) {
    if (g_interrupted) return false;
    return run_piece_stdout(user, text, len);
}

/* ---- line input ---------------------------------------------------------------------------- */

/* One line without its newline (malloc'd), or NULL at end of input. *interrupted: Ctrl-C was
 * pressed while reading (the line is dropped). */
static char *read_line(const char *prompt, bool *interrupted) {
    g_interrupted = 0;
    *interrupted = false;
#ifdef SLM_HAVE_LIBEDIT
    char *line = readline(prompt);
    if (g_interrupted) {
        *interrupted = true;
        free(line);
        return NULL;
    }
    return line;
#else
    fputs(prompt, stdout);
    fflush(stdout);
    size_t cap = 256, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (n + 1 >= cap) {
            if (cap >= RUN_LINE_MAX) break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    if (g_interrupted) {
        clearerr(stdin);
        *interrupted = true;
        free(buf);
        return NULL;
    }
    if (c == EOF && n == 0) {
        free(buf);
        return NULL;
    }
    return buf;
#endif
}

static void history_add_line(const char *line) {
#ifdef SLM_HAVE_LIBEDIT
    if (line[0]) add_history(line);
#else
    (void)line;
#endif
}

/* A """ block: the text after the opening """ up to the closing """ (which may end any line).
 * Returns a malloc'd message or NULL (Ctrl-D / Ctrl-C: the block is dropped). */
static char *read_block(const char *first) {
    size_t cap = strlen(first) + 256, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[0] = '\0';
    const char *part = first;
    char *line = NULL;
    for (;;) {
        size_t len = strlen(part);
        bool closed = len >= 3 && !strcmp(part + len - 3, "\"\"\"");
        if (closed) len -= 3;
        if (n + len + 2 > cap) {
            size_t nc = (n + len + 2) * 2;
            char *nb = nc <= RUN_SAVE_MAX ? realloc(buf, nc) : NULL;
            if (!nb) {
                free(line);
                free(buf);
                return NULL;
            }
            buf = nb;
            cap = nc;
        }
        if (n > 0 || part != first) buf[n++] = '\n';
        memcpy(buf + n, part, len);
        n += len;
        buf[n] = '\0';
        free(line);
        line = NULL;
        if (closed) return buf;
        bool intr;
        line = read_line("... ", &intr);
        if (!line) {
            free(buf);
            if (intr) putchar('\n');
            return NULL;
        }
        part = line;
    }
}

/* ---- settings ------------------------------------------------------------------------------ */

/* Sampler settings by name, as /set, /save and /load know them. */
typedef enum { OPT_TEMP, OPT_TOP_K, OPT_TOP_P, OPT_MIN_P, OPT_REPEAT, OPT_SEED, OPT_NUM_PREDICT, OPT_COUNT } opt_id;
static const struct {
    const char *name, *alias;
    double lo, hi;
} k_opts[OPT_COUNT] = {
    [OPT_TEMP] = {"temperature", "temp", 0, 100},
    [OPT_TOP_K] = {"top_k", "top-k", 0, 16777216},
    [OPT_TOP_P] = {"top_p", "top-p", 0, 1},
    [OPT_MIN_P] = {"min_p", "min-p", 0, 1},
    [OPT_REPEAT] = {"repeat_penalty", "repeat-penalty", 0.01, 100},
    [OPT_SEED] = {"seed", "seed", 0, 9007199254740992.0},
    [OPT_NUM_PREDICT] = {"num_predict", "n", -1, 16777216},
};

static int opt_find(const char *name) {
    for (int i = 0; i < OPT_COUNT; i++)
        if (!strcmp(name, k_opts[i].name) || !strcmp(name, k_opts[i].alias)) return i;
    return -1;
}

static double opt_get(const run_state *st, int i) {
    switch ((opt_id)i) {
    case OPT_TEMP:
        return st->sp.temperature;
    case OPT_TOP_K:
        return st->sp.top_k;
    case OPT_TOP_P:
        return st->sp.top_p;
    case OPT_MIN_P:
        return st->sp.min_p;
    case OPT_REPEAT:
        return st->sp.repeat_penalty;
    case OPT_SEED:
        return (double)st->sp.seed;
    case OPT_NUM_PREDICT:
        return st->n_predict;
    case OPT_COUNT:
        break;
    }
    return 0;
}

/* Range-checked; integer settings must be whole numbers. */
static bool opt_set(run_state *st, int i, double v) {
    if (!(v >= k_opts[i].lo && v <= k_opts[i].hi)) return false;
    bool whole = v == floor(v);
    switch ((opt_id)i) {
    case OPT_TEMP:
        st->sp.temperature = (float)v;
        break;
    case OPT_TOP_K:
        if (!whole) return false;
        st->sp.top_k = (int32_t)v;
        break;
    case OPT_TOP_P:
        st->sp.top_p = (float)v;
        break;
    case OPT_MIN_P:
        st->sp.min_p = (float)v;
        break;
    case OPT_REPEAT:
        st->sp.repeat_penalty = (float)v;
        break;
    case OPT_SEED:
        if (!whole) return false;
        st->sp.seed = (uint64_t)v;
        break;
    case OPT_NUM_PREDICT:
        if (!whole) return false;
        st->n_predict = (int32_t)v;
        break;
    case OPT_COUNT:
        return false;
    }
    return true;
}

/* Floats are stored as float: 6 significant digits show what was typed (0.8, not 0.800000012). */
static void print_opt(int i, double v) {
    if (i == OPT_SEED || i == OPT_TOP_K || i == OPT_NUM_PREDICT)
        printf("%.0f", v);
    else
        printf("%.6g", v);
}

static void print_settings(const run_state *st, const char *indent) {
    for (int i = 0; i < OPT_COUNT; i++) {
        printf("%s%-18s ", indent, k_opts[i].name);
        print_opt(i, opt_get(st, i));
        putchar('\n');
    }
    const char *sys = chat_session_system(st->sess);
    printf("%s%-18s %s\n", indent, "system", sys ? sys : "(none)");
}

static void chat_cmd_set(run_state *st, const char *args) {
    char name[64];
    int used = 0;
    if (sscanf(args, " %63s %n", name, &used) != 1) {
        print_settings(st, "  ");
        return;
    }
    int i = opt_find(name);
    if (i < 0) {
        printf("Unknown setting '%s'. Settings:", name);
        for (int k = 0; k < OPT_COUNT; k++)
            printf(" %s", k_opts[k].name);
        printf("\n");
        return;
    }
    const char *val = args + used;
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    run_state old = *st;
    if (end == val || *end || errno || !opt_set(st, i, v)) {
        printf("Bad value for %s: '%s' (%.10g .. %.10g)\n", k_opts[i].name, val, k_opts[i].lo, k_opts[i].hi);
        return;
    }
    slm_error err = {0};
    if (run_sampler_rebuild(st, &err)) {
        printf("Cannot apply %s: %s\n", k_opts[i].name, err.msg);
        st->sp = old.sp;
        st->n_predict = old.n_predict;
        run_sampler_rebuild(st, &err);
        return;
    }
    printf("Set %s to ", k_opts[i].name);
    print_opt(i, opt_get(st, i));
    printf(".\n");
}

/* ---- /save and /load ----------------------------------------------------------------------- */

static void chat_cmd_save(run_state *st, const char *path) {
    cJSON *o = cJSON_CreateObject(), *set = cJSON_CreateObject();
    cJSON *msgs = cJSON_Duplicate(chat_session_messages(st->sess), true);
    if (!o || !set || !msgs) {
        cJSON_Delete(o);
        cJSON_Delete(set);
        cJSON_Delete(msgs);
        printf("Out of memory.\n");
        return;
    }
    cJSON_AddStringToObject(o, "model", st->model_path);
    for (int i = 0; i < OPT_COUNT; i++)
        cJSON_AddNumberToObject(set, k_opts[i].name, opt_get(st, i));
    cJSON_AddItemToObject(o, "settings", set);
    cJSON_AddItemToObject(o, "messages", msgs);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    slm_error err = {0};
    if (!txt) {
        printf("Out of memory.\n");
    } else if (slm_file_write_atomic(path, txt, strlen(txt), &err)) {
        printf("Cannot save: %s\n", err.msg);
    } else {
        printf("Saved the conversation to %s.\n", path);
    }
    free(txt);
}

static void chat_cmd_load(run_state *st, const char *path) {
    slm_error err = {0};
    char *txt = NULL;
    size_t len = 0;
    if (slm_file_read_all(path, RUN_SAVE_MAX, &txt, &len, &err)) {
        printf("Cannot load: %s\n", err.msg);
        return;
    }
    cJSON *o = cJSON_ParseWithLength(txt, len);
    free(txt);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(o, "messages");
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(o, "settings");
    if (!cJSON_IsObject(o) || !cJSON_IsArray(msgs)) {
        printf("Cannot load %s: not a saved conversation (a JSON object with \"messages\")\n", path);
        cJSON_Delete(o);
        return;
    }
    /* settings first, on a copy: a bad file changes nothing */
    run_state next = *st;
    if (set && !cJSON_IsObject(set)) set = NULL;
    for (int i = 0; set && i < OPT_COUNT; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(set, k_opts[i].name);
        if (v && (!cJSON_IsNumber(v) || !opt_set(&next, i, v->valuedouble))) {
            printf("Cannot load %s: bad setting %s\n", path, k_opts[i].name);
            cJSON_Delete(o);
            return;
        }
    }
    if (chat_session_set_messages(st->sess, msgs, &err)) {
        printf("Cannot load %s: %s\n", path, err.msg);
        cJSON_Delete(o);
        return;
    }
    cJSON_Delete(o);
    st->sp = next.sp;
    st->n_predict = next.n_predict;
    if (run_sampler_rebuild(st, &err)) printf("Cannot apply the settings: %s\n", err.msg);
    printf("Loaded %d messages from %s.\n", cJSON_GetArraySize(chat_session_messages(st->sess)), path);
}

/* ---- /show --------------------------------------------------------------------------------- */

static void chat_cmd_show(run_state *st) {
    slm_model_info info;
    slm_error err = {0};
    if (slm_model_describe(st->m, &info, &err)) {
        printf("Cannot describe the model: %s\n", err.msg);
        return;
    }
    const slm_hparams *hp = &st->m->hp;
    printf("  Model\n");
    printf("    %-18s %s\n", "path", st->model_path);
    printf("    %-18s %s\n", "architecture", hp->arch_name);
    if (hp->name[0]) printf("    %-18s %s\n", "name", hp->name);
    printf("    %-18s %llu\n", "parameters", (unsigned long long)info.n_params);
    printf("    %-18s %s\n", "weights", info.file_type);
    printf("    %-18s %lld\n", "layers", (long long)hp->n_layer);
    printf("    %-18s %lld\n", "embedding", (long long)hp->n_embd);
    printf("    %-18s %lld\n", "vocabulary", (long long)hp->n_vocab);
    printf("    %-18s %lld\n", "training context", (long long)hp->n_ctx_train);
    printf("    %-18s %d (%d in use)\n", "context", slm_context_n_ctx(st->ctx), chat_session_n_cached(st->sess));
    printf("    %-18s %d\n", "threads", slm_context_n_threads(st->ctx));
    printf("    %-18s %s\n", "chat template", st->has_tmpl ? "yes" : "no");
    printf("  Settings\n");
    print_settings(st, "    ");
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void print_help(void) {
    printf("Available commands:\n"
           "  /set               show the settings\n"
           "  /set NAME VALUE    change a setting: temperature, top_k, top_p, min_p,\n"
           "                     repeat_penalty, seed, num_predict (-1 = no limit)\n"
           "  /system TEXT       set the system prompt (/system alone removes it)\n"
           "  /clear             forget the conversation (keeps the system prompt)\n"
           "  /save FILE         save the conversation and settings as JSON\n"
           "  /load FILE         load a conversation saved with /save\n"
           "  /show              model information\n"
           "  /bye               exit (or Ctrl-D)\n"
           "  /?, /help          this help\n\n"
           "Use \"\"\" to begin and end a multi-line message.\n"
           "Ctrl-C stops an answer; at the prompt it clears the line.\n"
           "When the context fills, the oldest turns are dropped (the system prompt is kept).\n");
}

static void answer(run_state *st, const char *text) {
    slm_error err = {0};
    chat_turn_stats s;
    char *ans = NULL;
    /* g_interrupted is not reset here: read_line reset it before the line was read, so a Ctrl-C
     * that lands after the line was sent but before this answer started (a loaded machine) still
     * stops it, instead of being lost and letting a long answer run on */
    slm_status rc =
        chat_session_respond(st->sess, text, st->smp, st->n_predict, run_piece_until_interrupt, NULL, &ans, &s, &err);
    if (rc) {
        fflush(stdout);
        fprintf(stderr, "\nError: %s\n", err.msg);
        return;
    }
    if (ans[0] && ans[strlen(ans) - 1] != '\n') putchar('\n');
    if (s.stop == CHAT_STOP_CANCELLED)
        printf("[stopped]\n");
    else if (s.stop == CHAT_STOP_CONTEXT)
        printf("[the context is full: the answer was cut]\n");
    putchar('\n');
    fflush(stdout);
    if (s.n_dropped_msgs) fprintf(stderr, "(dropped the %d oldest messages to fit the context)\n", s.n_dropped_msgs);
    if (st->verbose) run_print_stats(&s);
    free(ans);
    g_interrupted = 0;
}

/* Returns false when the chat should end. */
static bool handle_command(run_state *st, char *line) {
    char *args = line + strcspn(line, " \t");
    if (*args) *args++ = '\0';
    while (*args == ' ' || *args == '\t')
        args++;
    size_t alen = strlen(args);
    while (alen > 0 && (args[alen - 1] == ' ' || args[alen - 1] == '\t'))
        args[--alen] = '\0';
    slm_error err = {0};
    if (!strcmp(line, "/bye") || !strcmp(line, "/exit")) return false;
    if (!strcmp(line, "/help") || !strcmp(line, "/?")) {
        print_help();
    } else if (!strcmp(line, "/clear")) {
        chat_session_clear(st->sess);
        printf("Cleared the conversation.\n");
    } else if (!strcmp(line, "/system")) {
        if (chat_session_set_system(st->sess, args, &err))
            printf("Error: %s\n", err.msg);
        else
            printf(*args ? "Set the system prompt.\n" : "Removed the system prompt.\n");
    } else if (!strcmp(line, "/set")) {
        chat_cmd_set(st, args);
    } else if (!strcmp(line, "/save") || !strcmp(line, "/load")) {
        if (!*args)
            printf("Usage: %s FILE\n", line);
        else if (line[1] == 's')
            chat_cmd_save(st, args);
        else
            chat_cmd_load(st, args);
    } else if (!strcmp(line, "/show")) {
        chat_cmd_show(st);
    } else {
        printf("Unknown command '%s'. Type /? for help.\n", line);
    }
    return true;
}

int run_interactive(run_state *st) {
    run_interrupt_begin(st->ctx);
#ifdef SLM_HAVE_LIBEDIT
    /* history persists in ~/.slm_history (best effort: a missing or unwritable file is fine) */
    char hist[4096] = "";
    const char *home = getenv("HOME");
    if (home && *home) snprintf(hist, sizeof hist, "%s/.slm_history", home);
    using_history();
    stifle_history(1000);
    if (hist[0]) read_history(hist);
#endif
    printf("Chatting with %s. Type /? for help, /bye or Ctrl-D to exit.\n", st->model_path);
    bool go = true;
    while (go) {
        bool intr;
        char *line = read_line(">>> ", &intr);
        if (!line) {
            if (intr) {
                printf("\nUse Ctrl-D or /bye to exit.\n");
                continue;
            }
            putchar('\n');
            break;
        }
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p) {
            free(line);
            continue;
        }
        history_add_line(line);
        if (!strncmp(p, "\"\"\"", 3)) {
            char *msg = read_block(p + 3);
            if (msg && *msg) answer(st, msg);
            free(msg);
        } else if (p[0] == '/') {
            go = handle_command(st, p);
        } else {
            answer(st, p);
        }
        free(line);
    }
#ifdef SLM_HAVE_LIBEDIT
    if (hist[0]) write_history(hist);
#endif
    run_interrupt_end(st->ctx);
    return CLI_EXIT_OK;
}
