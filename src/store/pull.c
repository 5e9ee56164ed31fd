/* `slm pull`: find a GGUF on the Hugging Face Hub (or a mirror at $HF_ENDPOINT), download it with
 * resumable Range requests into blobs/<key>.partial, verify its sha256 against the Hub's LFS oid
 * and rename it into place; only then is the manifest written. Nothing corrupt ever lands under a
 * blob name, and an interrupted pull leaves a .partial the next pull resumes.
 *
 * Redirect policy (redirects are followed by hand, never by curl): to https on any host (the Hub
 * sends downloads to its CDN), or to the endpoint's own scheme+host+port (plain-http mirrors and
 * tests). Anything else (https -> http downgrade, another host over http) is refused. The bearer
 * token goes only to the endpoint's host. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "base/sha256.h"
#include "store/store_internal.h"

#define LISTING_MAX_BYTES (16u << 20)
#define MAX_REDIRECTS 5
#define DISK_MARGIN (64ull << 20)
#define URL_MAX 4096

typedef struct pull_ctx {
    const slm_pull_options *opt;
    char endpoint[1024]; /* no trailing slash */
    char endpoint_origin[1024];
    const char *token;
    volatile int *cancel;
    const char *digest; /* sha256 hex of the file being fetched, when the Hub listed it (progress) */
} pull_ctx;

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static bool cancelled(const pull_ctx *c) { return c->cancel && *c->cancel; }

/* "scheme://host[:port]" of url (lowercased scheme), or "" if url has no scheme. */
static void url_origin(const char *url, char *out, size_t cap) {
    out[0] = 0;
    const char *p = strstr(url, "://");
    if (!p) return;
    const char *h = p + 3;
    size_t n = strcspn(h, "/?#");
    const char *at = memchr(h, '@', n); /* drop userinfo */
    if (at) {
        n -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    snprintf(out, cap, "%.*s://%.*s", (int)(p - url), url, (int)n, h);
    for (char *q = out; *q && *q != ':'; q++)
        if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
}

static bool redirect_allowed(const pull_ctx *c, const char *to) {
    if (!strncmp(to, "https://", 8)) return true;
    char o[1024];
    url_origin(to, o, sizeof o);
    return o[0] && !strcasecmp(o, c->endpoint_origin);
}

static void emit(const pull_ctx *c, slm_pull_phase ph, const char *file, uint64_t done, uint64_t total,
                 uint64_t resumed, double bps, const char *msg) {
    if (!c->opt || !c->opt->progress) return;
    slm_pull_progress p = {ph, file, done, total, resumed, bps, msg, c->digest};
    c->opt->progress(c->opt->user, &p);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sleep ms in small steps so that a cancel is noticed; false if cancelled. */
static bool sleep_ms(const pull_ctx *c, int ms) {
    for (int t = 0; t < ms; t += 50) {
        if (cancelled(c)) return false;
        usleep(50 * 1000);
    }
    return !cancelled(c);
}

/* --- one HTTP request ------------------------------------------------------------------------ */

typedef struct req {
    const pull_ctx *c;
    /* memory body (listing) */
    char *mem;
    size_t mem_len, mem_max;
    bool mem_over;
    /* file body (download) */
    FILE *f;
    uint64_t offset;   /* bytes already in the file when the request started */
    uint64_t expected; /* full size, 0 unknown */
    uint64_t got;      /* body bytes written by this request */
    bool started;
    bool too_long, lying_length, bad_range, bad_status;
    long status;
    char content_range[128];
    char linked_etag[128];
    char linked_size[32];
    /* progress */
    const char *file_name;
    uint64_t resumed;
    double t0, last_emit;
    CURL *h;
} req;

static size_t on_header(char *buf, size_t size, size_t n, void *user) {
    req *r = user;
    size_t len = size * n;
    struct {
        const char *name;
        char *dst;
        size_t cap;
    } want[] = {{"content-range:", r->content_range, sizeof r->content_range},
                {"x-linked-etag:", r->linked_etag, sizeof r->linked_etag},
                {"x-linked-size:", r->linked_size, sizeof r->linked_size}};
    if (len >= 9 && !strncmp(buf, "HTTP/", 5)) { /* a new response (after 100-continue etc.) */
        r->content_range[0] = r->linked_etag[0] = r->linked_size[0] = 0;
    }
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t k = strlen(want[i].name);
        if (len > k && !strncasecmp(buf, want[i].name, k)) {
            const char *v = buf + k;
            size_t vl = len - k;
            while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
            if (vl >= want[i].cap) vl = want[i].cap - 1;
            memcpy(want[i].dst, v, vl);
            want[i].dst[vl] = 0;
        }
    }
    return len;
}

/* First body bytes of a download: check the status and the sizes the server announces. */
static bool download_start(req *r) {
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status == 200 && r->offset > 0) { /* server ignored Range: start over */
        if (fflush(r->f) != 0 || ftruncate(fileno(r->f), 0) != 0 || fseek(r->f, 0, SEEK_SET) != 0) return false;
        r->offset = 0;
    } else if (r->status == 206) {
        unsigned long long a = 0, b = 0;
        if (sscanf(r->content_range, "bytes %llu-%llu", &a, &b) != 2 || a != r->offset) {
            r->bad_range = true;
            return false;
        }
    } else if (r->status != 200) {
        r->bad_status = true;
        return false;
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl >= 0 && r->expected && (uint64_t)cl + r->offset != r->expected) {
        r->lying_length = true;
        return false;
    }
    r->started = true;
    return true;
}

static size_t on_body(char *buf, size_t size, size_t n, void *user) {
    req *r = user;
    size_t len = size * n;
    if (r->f) {
        if (!r->started && !download_start(r)) return 0;
        if (r->expected && r->offset + r->got + len > r->expected) { /* more than the Hub said */
            r->too_long = true;
            return 0;
        }
        if (fwrite(buf, 1, len, r->f) != len) return 0;
        r->got += len;
        return len;
    }
    if (r->mem_len + len > r->mem_max) {
        r->mem_over = true;
        return 0;
    }
    memcpy(r->mem + r->mem_len, buf, len);
    r->mem_len += len;
    return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    req *r = user;
    if (cancelled(r->c)) return 1;
    if (r->f && r->started) {
        double t = now_s();
        if (t - r->last_emit >= 0.1) {
            r->last_emit = t;
            uint64_t done = r->offset + r->got;
            double el = t - r->t0;
            emit(r->c, SLM_PULL_DOWNLOADING, r->file_name, done, r->expected, r->resumed,
                 el > 0 ? (double)(done - r->resumed) / el : 0, NULL);
        }
    }
    return 0;
}

/* Perform one request without following redirects. Fills r->status; *redirect gets the target of
 * a 3xx. Returns the curl code. */
static CURLcode request(req *r, const char *url, bool head, char *redirect, size_t rcap) {
    const pull_ctx *c = r->c;
    CURL *h = curl_easy_init();
    if (!h) return CURLE_OUT_OF_MEMORY;
    r->h = h;
    struct curl_slist *hdrs = NULL;
    char auth[1100], origin[1024];
    url_origin(url, origin, sizeof origin);
    if (c->token && *c->token && !strcasecmp(origin, c->endpoint_origin)) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    char range[64];
    if (r->f && r->offset > 0) {
        snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)r->offset);
        hdrs = curl_slist_append(hdrs, range);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "slm/" SLM_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled server: give up after 60 s */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    if (head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    r->t0 = r->last_emit = now_s();
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (redirect) {
        redirect[0] = 0;
        char *loc = NULL;
        if (r->status >= 300 && r->status < 400 && curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
            loc)
            snprintf(redirect, rcap, "%s", loc);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    r->h = NULL;
    return rc;
}

/* --- Hub API --------------------------------------------------------------------------------- */

static slm_status hub_list(const pull_ctx *c, const char *repo, hub_file **out, size_t *n_out, slm_error *err) {
    char url[URL_MAX];
    snprintf(url, sizeof url, "%s/api/models/%s/tree/main?recursive=true", c->endpoint, repo);
    req r = {.c = c, .mem_max = LISTING_MAX_BYTES};
    r.mem = malloc(r.mem_max + 1);
    if (!r.mem) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    slm_status st = SLM_OK;
    CURLcode rc = CURLE_OK;
    char next[URL_MAX];
    int hops = 0;
    for (int attempt = 0;; attempt++) {
        r.mem_len = 0;
        rc = request(&r, url, false, next, sizeof next);
        /* Renamed repos answer with a redirect to the new name on the same host. */
        char o[1024];
        url_origin(next, o, sizeof o);
        if (next[0] && !strcasecmp(o, c->endpoint_origin) && ++hops <= MAX_REDIRECTS) {
            snprintf(url, sizeof url, "%s", next);
            attempt--;
            continue;
        }
        bool transient = (rc != CURLE_OK && rc != CURLE_ABORTED_BY_CALLBACK && !r.mem_over) || r.status >= 500 ||
                         r.status == 429;
        int max = c->opt && c->opt->max_attempts > 0 ? c->opt->max_attempts : 5;
        if (!transient || attempt + 1 >= max) break;
        int b = c->opt && c->opt->backoff_ms ? c->opt->backoff_ms : 1000;
        if (!sleep_ms(c, b < 0 ? 0 : b << (attempt < 6 ? attempt : 6))) break;
    }
    if (cancelled(c)) st = slm_fail(err, SLM_E_CANCELLED, "cancelled");
    else if (r.mem_over) st = slm_fail(err, SLM_E_FORMAT, "%s: file listing larger than %u bytes", url, LISTING_MAX_BYTES);
    else if (rc != CURLE_OK) st = slm_fail(err, SLM_E_IO, "%s: %s", url, curl_easy_strerror(rc));
    else if (r.status == 401 || r.status == 403)
        st = slm_fail(err, SLM_E_IO, "%s: HTTP %ld (a gated or private repo? set HF_TOKEN)", url, r.status);
    else if (r.status == 404) st = slm_fail(err, SLM_E_NOT_FOUND, "repository '%s' not found at %s", repo, c->endpoint);
    else if (r.status != 200) st = slm_fail(err, SLM_E_IO, "%s: HTTP %ld", url, r.status);
    if (st) {
        free(r.mem);
        return st;
    }
    st = store_parse_listing(r.mem, r.mem_len, out, n_out, err);
    free(r.mem);
    if (st) slm_error_prefix(err, "%s", url);
    return st;
}

/* Follow redirects of url with HEAD requests under the policy; final URL in out. Also reports the
 * Hub's X-Linked-Etag (sha256 of LFS files) and X-Linked-Size from the first hop. */
static slm_status resolve_url(const pull_ctx *c, const char *url, char *out, size_t cap, char etag[65],
                              uint64_t *linked_size, slm_error *err) {
    char cur[URL_MAX], next[URL_MAX];
    snprintf(cur, sizeof cur, "%s", url);
    etag[0] = 0;
    *linked_size = 0;
    bool foreign = false;
    for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
        req r = {.c = c};
        CURLcode rc = CURLE_OK;
        for (int attempt = 0;; attempt++) {
            rc = request(&r, cur, true, next, sizeof next);
            bool transient = (rc != CURLE_OK && rc != CURLE_ABORTED_BY_CALLBACK) || r.status >= 500 || r.status == 429;
            int max = c->opt && c->opt->max_attempts > 0 ? c->opt->max_attempts : 5;
            if (!transient || attempt + 1 >= max) break;
            int b = c->opt && c->opt->backoff_ms ? c->opt->backoff_ms : 1000;
            if (!sleep_ms(c, b < 0 ? 0 : b << (attempt < 6 ? attempt : 6))) break;
        }
        if (cancelled(c)) return slm_fail(err, SLM_E_CANCELLED, "cancelled");
        if (rc != CURLE_OK) return slm_fail(err, SLM_E_IO, "%s: %s", cur, curl_easy_strerror(rc));
        if (hop == 0) {
            char tmp[128];
            snprintf(tmp, sizeof tmp, "%s", r.linked_etag);
            char *q = tmp;
            if (*q == 'W' && q[1] == '/') q += 2;
            if (*q == '"') q++;
            q[strcspn(q, "\"")] = 0;
            store_copy_sha(etag, q);
            if (r.linked_size[0]) *linked_size = strtoull(r.linked_size, NULL, 10);
        }
        if (r.status >= 300 && r.status < 400) {
            if (!next[0]) return slm_fail(err, SLM_E_FORMAT, "%s: redirect without a Location", cur);
            if (!redirect_allowed(c, next))
                return slm_fail(err, SLM_E_UNSUPPORTED,
                                "refusing redirect from %s to %s (only https, or the same host as HF_ENDPOINT)", cur,
                                next);
            snprintf(cur, sizeof cur, "%s", next);
            /* A CDN's signed URLs may be valid for GET only (S3 signs the method): do not HEAD
             * them, let the download's GET find out. */
            char o[1024];
            url_origin(cur, o, sizeof o);
            if (strcasecmp(o, c->endpoint_origin) != 0) {
                foreign = true;
                break;
            }
            continue;
        }
        if (r.status == 401 || r.status == 403)
            return slm_fail(err, SLM_E_IO, "%s: HTTP %ld (a gated or private repo? set HF_TOKEN)", cur, r.status);
        if (r.status == 404) return slm_fail(err, SLM_E_NOT_FOUND, "%s: not found (HTTP 404)", cur);
        if (r.status != 200) return slm_fail(err, SLM_E_IO, "%s: HTTP %ld", cur, r.status);
        snprintf(out, cap, "%s", cur);
        return SLM_OK;
    }
    if (!foreign)
        return slm_fail(err, SLM_E_FORMAT, "%s: more than %d redirects", url, MAX_REDIRECTS);
    snprintf(out, cap, "%s", cur);
    return SLM_OK;
}

/* --- the download ---------------------------------------------------------------------------- */

static uint64_t file_size_or0(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Download url into partial (resuming), until it holds expected bytes (0: until the server says
 * it is complete). Transient failures are retried with backoff. */
static slm_status download(const pull_ctx *c, const char *url, const char *partial, const char *file_name,
                           uint64_t expected, slm_error *err) {
    int max = c->opt && c->opt->max_attempts > 0 ? c->opt->max_attempts : 5;
    int backoff = c->opt && c->opt->backoff_ms ? c->opt->backoff_ms : 1000;
    uint64_t resumed = file_size_or0(partial);
    double t_start = now_s();
    char cur[URL_MAX], next[URL_MAX];
    snprintf(cur, sizeof cur, "%s", url);
    url = cur;
    int hops = 0;
    for (int attempt = 0;; attempt++) {
        FILE *f = fopen(partial, "ab");
        if (!f) return slm_fail(err, SLM_E_IO, "cannot write %s: %s", partial, strerror(errno));
        req r = {.c = c, .f = f, .expected = expected, .file_name = file_name, .resumed = resumed};
        r.offset = file_size_or0(partial);
        if (expected && r.offset > expected) { /* garbage from elsewhere: start over */
            if (ftruncate(fileno(f), 0) != 0) {
                fclose(f);
                return slm_fail(err, SLM_E_IO, "cannot truncate %s", partial);
            }
            r.offset = 0;
        }
        CURLcode rc = CURLE_OK;
        next[0] = 0;
        if (!(expected && r.offset == expected)) rc = request(&r, url, false, next, sizeof next);
        if (fclose(f) != 0 && rc == CURLE_OK) rc = CURLE_WRITE_ERROR;
        if (next[0] && !cancelled(c)) { /* the CDN redirected the GET itself */
            if (!redirect_allowed(c, next))
                return slm_fail(err, SLM_E_UNSUPPORTED, "refusing redirect from %s to %s", url, next);
            if (++hops > MAX_REDIRECTS) return slm_fail(err, SLM_E_FORMAT, "%s: too many redirects", url);
            snprintf(cur, sizeof cur, "%s", next);
            attempt--;
            continue;
        }
        uint64_t have = file_size_or0(partial);
        if (cancelled(c)) return slm_fail(err, SLM_E_CANCELLED, "cancelled; %s is kept for resuming", partial);
        if (r.too_long || r.lying_length) {
            unlink(partial);
            return slm_fail(err, SLM_E_FORMAT,
                            "%s: the server sends %s than the %llu bytes the Hub lists for %s; refusing it", url,
                            r.too_long ? "more bytes" : "a Content-Length other", (unsigned long long)expected,
                            file_name);
        }
        if (r.bad_status && r.status >= 400 && r.status < 500 && r.status != 408 && r.status != 429 &&
            r.status != 416)
            return slm_fail(err, SLM_E_IO, "%s: HTTP %ld", url, r.status);
        if (expected ? have == expected : (rc == CURLE_OK && r.status / 100 == 2)) {
            double el = now_s() - t_start;
            emit(c, SLM_PULL_DOWNLOADING, file_name, have, expected ? expected : have, resumed,
                 el > 0 && have > resumed ? (double)(have - resumed) / el : 0, NULL);
            return SLM_OK;
        }
        char why[300];
        if (r.bad_range) snprintf(why, sizeof why, "bad Content-Range '%s'", r.content_range);
        else if (r.status == 416) {
            snprintf(why, sizeof why, "HTTP 416 (range not satisfiable): restarting");
            unlink(partial);
        } else if (r.bad_status) snprintf(why, sizeof why, "HTTP %ld", r.status);
        else if (rc != CURLE_OK) snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
        else snprintf(why, sizeof why, "connection ended after %llu of %llu bytes", (unsigned long long)have,
                      (unsigned long long)expected);
        if (attempt + 1 >= max)
            return slm_fail(err, SLM_E_IO, "%s: %s (gave up after %d attempts; %s is kept for resuming)", url, why,
                            max, partial);
        emit(c, SLM_PULL_RETRYING, file_name, have, expected, resumed, 0, why);
        if (!sleep_ms(c, backoff < 0 ? 0 : backoff << (attempt < 6 ? attempt : 6)))
            return slm_fail(err, SLM_E_CANCELLED, "cancelled; %s is kept for resuming", partial);
    }
}

static slm_status check_disk(const char *dir, uint64_t need, slm_error *err) {
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0) return SLM_OK; /* cannot tell: let the writes fail if they must */
    uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    /* Keep a margin free for the rest of the system; SLM_STORE_DISK_MARGIN (bytes) overrides it. */
    uint64_t margin = DISK_MARGIN;
    const char *m = getenv("SLM_STORE_DISK_MARGIN");
    if (m && *m) margin = strtoull(m, NULL, 10);
    uint64_t want = need + margin < need ? UINT64_MAX : need + margin;
    if (avail < want)
        return slm_fail(err, SLM_E_NOMEM, "not enough disk space in %s: %.1f MB needed, %.1f MB free", dir,
                        (double)want / 1e6, (double)avail / 1e6);
    return SLM_OK;
}

/* Lock key (a blob digest, or a URL digest) against a concurrent pull; returns the fd or -1. */
static int lock_key(const pull_ctx *c, const char *lock_path, const char *file_name, slm_error *err) {
    int fd = open(lock_path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) {
        slm_fail(err, SLM_E_IO, "cannot create %s: %s", lock_path, strerror(errno));
        return -1;
    }
    bool told = false;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            slm_fail(err, SLM_E_IO, "cannot lock %s: %s", lock_path, strerror(errno));
            close(fd);
            return -1;
        }
        if (!told) emit(c, SLM_PULL_WAITING, file_name, 0, 0, 0, 0, "another pull of this file is running");
        told = true;
        if (!sleep_ms(c, 200)) {
            slm_fail(err, SLM_E_CANCELLED, "cancelled while waiting for another pull");
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* Fetch one remote file into blobs/. sha: the expected digest ("" unknown: computed). On success
 * hex_out holds the blob digest and *size_out its size. */
static slm_status fetch_blob(const pull_ctx *c, const char *url, const char *file_name, const char *sha,
                             uint64_t size, char hex_out[65], uint64_t *size_out, slm_error *err) {
    char root[SLM_STORE_PATH_MAX], blobs[SLM_STORE_PATH_MAX], key[65], partial[SLM_STORE_PATH_MAX],
        lockp[SLM_STORE_PATH_MAX], final_url[URL_MAX], etag[65];
    slm_status st = store_ensure_dirs(root, sizeof root, err);
    if (st) return st;
    snprintf(blobs, sizeof blobs, "%s/blobs", root);
    bool known = sha && sha[0];
    const char *suffix = known ? ".partial" : ".url-partial";
    if (known) memcpy(key, sha, 65);
    else slm_sha256_hex(url, strlen(url), key);
    if ((st = store_blob_path(key, suffix, partial, sizeof partial, err))) return st;
    if ((st = store_blob_path(key, ".lock", lockp, sizeof lockp, err))) return st;
    int lfd = lock_key(c, lockp, file_name, err);
    if (lfd < 0) return err ? err->code : SLM_E_IO;
    char blob[SLM_STORE_PATH_MAX];
    if (known && (st = store_blob_path(key, NULL, blob, sizeof blob, err))) goto done;
    if (known && slm_path_exists(blob)) { /* another pull (or name) already has it */
        memcpy(hex_out, key, 65);
        *size_out = file_size_or0(blob);
        emit(c, SLM_PULL_DONE, file_name, *size_out, *size_out, *size_out, 0, "already in the store");
        goto done;
    }
    uint64_t linked = 0;
    if ((st = resolve_url(c, url, final_url, sizeof final_url, etag, &linked, err))) goto done;
    if (known && etag[0] && strcmp(etag, sha) != 0) {
        st = slm_fail(err, SLM_E_FORMAT, "%s: the Hub lists sha256 %s but the download says %s; refusing", file_name,
                      sha, etag);
        goto done;
    }
    if (!known && etag[0]) {
        memcpy(key, etag, 65); /* unlisted (direct URL), but the server names its digest: verify it */
        known = true;
    }
    if (size && linked && linked != size) {
        st = slm_fail(err, SLM_E_FORMAT, "%s: the Hub lists %llu bytes but the download says %llu; refusing",
                      file_name, (unsigned long long)size, (unsigned long long)linked);
        goto done;
    }
    if (!size) size = linked;
    uint64_t have = file_size_or0(partial);
    if ((st = check_disk(blobs, size > have ? size - have : 0, err))) goto done;
    if ((st = download(c, final_url, partial, file_name, size, err))) goto done;
    emit(c, SLM_PULL_VERIFYING, file_name, size, size, 0, 0, NULL);
    char got[65];
    if ((st = store_hash_file(partial, got, c->cancel, err))) goto done;
    if (known && strcmp(got, key) != 0) {
        unlink(partial); /* a resumed download cannot fix a wrong prefix: start over next time */
        st = slm_fail(err, SLM_E_FORMAT, "%s: sha256 mismatch: expected %s, downloaded file has %s; deleted it",
                      file_name, key, got);
        goto done;
    }
    if ((st = store_blob_path(got, NULL, blob, sizeof blob, err))) goto done;
    if (rename(partial, blob) != 0) {
        st = slm_fail(err, SLM_E_IO, "cannot move %s to %s: %s", partial, blob, strerror(errno));
        goto done;
    }
    memcpy(hex_out, got, 65);
    *size_out = file_size_or0(blob);
    emit(c, SLM_PULL_DONE, file_name, *size_out, *size_out, 0, 0, NULL);
done:
    close(lfd);
    return st;
}

/* --- names ----------------------------------------------------------------------------------- */

static bool repo_part_ok(const char *s, size_t n) {
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return false;
        if (ch == '.' && i + 1 < n && s[i + 1] == '.') return false;
    }
    return true;
}

static void upper(char *s) {
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
}

static slm_status pull_url(pull_ctx *c, const char *url, char *out_name, size_t cap, slm_error *err) {
    char origin[1024];
    url_origin(url, origin, sizeof origin);
    bool local = !strncmp(origin, "http://127.0.0.1", 16) || !strncmp(origin, "http://localhost", 16);
    if (strncmp(url, "https://", 8) && !local)
        return slm_fail(err, SLM_E_UNSUPPORTED, "only https URLs can be pulled: %s", url);
    if (strlen(url) >= URL_MAX - 1) return slm_fail(err, SLM_E_RANGE, "URL too long");
    /* Store name: the file name without .gguf, restricted to name characters. */
    const char *end = url + strcspn(url, "?#");
    const char *b = end;
    while (b > url && b[-1] != '/') b--;
    char name[SLM_STORE_NAME_MAX + 1];
    size_t k = 0;
    for (const char *p = b; p < end && k < 120; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '_' || ch == '-';
        name[k++] = ok ? ch : '-';
    }
    name[k] = 0;
    if (k > 5 && !strcasecmp(name + k - 5, ".gguf")) name[k - 5] = 0;
    while (name[0] == '.' || name[0] == '-') memmove(name, name + 1, strlen(name));
    if (!name[0]) return slm_fail(err, SLM_E_INVALID_ARG, "cannot name a model after URL %s", url);
    /* Plain-http loopback URLs are for tests; the redirect policy then allows that origin. */
    if (local) snprintf(c->endpoint_origin, sizeof c->endpoint_origin, "%s", origin);
    char hex[65];
    uint64_t size = 0;
    slm_status st = fetch_blob(c, url, name, NULL, 0, hex, &size, err);
    if (st) return st;
    if ((st = store_write_pull_manifest(name, hex, size, url, b, "", err))) return st;
    if (out_name) snprintf(out_name, cap, "%s", name);
    return SLM_OK;
}

slm_status slm_store_pull(const char *name, const slm_pull_options *opt, char *out_name, size_t cap,
                          slm_error *err) {
    pthread_once(&g_curl_once, curl_init_once);
    pull_ctx c = {.opt = opt, .cancel = opt ? opt->cancel : NULL};
    const char *ep = opt && opt->endpoint ? opt->endpoint : getenv("HF_ENDPOINT");
    if (!ep || !*ep) ep = "https://huggingface.co";
    if (strncmp(ep, "https://", 8) && strncmp(ep, "http://", 7))
        return slm_fail(err, SLM_E_INVALID_ARG, "HF_ENDPOINT '%s' is not an http(s) URL", ep);
    snprintf(c.endpoint, sizeof c.endpoint, "%s", ep);
    size_t el = strlen(c.endpoint);
    while (el && c.endpoint[el - 1] == '/') c.endpoint[--el] = 0;
    url_origin(c.endpoint, c.endpoint_origin, sizeof c.endpoint_origin);
    c.token = opt && opt->token ? opt->token : getenv("HF_TOKEN");
    if (!name || !*name) return slm_fail(err, SLM_E_INVALID_ARG, "empty model name");

    if (!strncmp(name, "https://", 8) || !strncmp(name, "http://", 7)) return pull_url(&c, name, out_name, cap, err);

    char repo[200], quant[32] = "";
    bool explicit_quant = false;
    const char *rest = NULL;
    if (!strncmp(name, "hf.co/", 6)) rest = name + 6;
    else if (!strncmp(name, "huggingface.co/", 15)) rest = name + 15;
    if (rest) {
        const char *colon = strchr(rest, ':');
        size_t rl = colon ? (size_t)(colon - rest) : strlen(rest);
        const char *slash = memchr(rest, '/', rl);
        if (!slash || !repo_part_ok(rest, (size_t)(slash - rest)) ||
            !repo_part_ok(slash + 1, rl - (size_t)(slash + 1 - rest)) || rl >= sizeof repo)
            return slm_fail(err, SLM_E_INVALID_ARG, "'%s': expected hf.co/OWNER/REPO[:QUANT]", name);
        memcpy(repo, rest, rl);
        repo[rl] = 0;
        if (colon) {
            if (!repo_part_ok(colon + 1, strlen(colon + 1)) || strlen(colon + 1) >= sizeof quant)
                return slm_fail(err, SLM_E_INVALID_ARG, "'%s': bad quant tag", name);
            snprintf(quant, sizeof quant, "%s", colon + 1);
            upper(quant);
            explicit_quant = true;
        } else {
            snprintf(quant, sizeof quant, "Q4_K_M");
        }
    } else {
        const slm_catalog_entry *e = NULL;
        if (!slm_catalog_lookup(name, &e, quant, sizeof quant))
            return slm_fail(err, SLM_E_NOT_FOUND,
                            "'%s' is not in the catalog (try hf.co/OWNER/REPO[:QUANT] or an https URL)", name);
        snprintf(repo, sizeof repo, "%s", e->repo);
        explicit_quant = strcmp(quant, e->quant) != 0;
    }
    slm_status st = slm_store_check_name(name, err);
    if (st) return st;

    emit(&c, SLM_PULL_RESOLVING, repo, 0, 0, 0, 0, NULL);
    hub_file *files = NULL;
    size_t n = 0;
    if ((st = hub_list(&c, repo, &files, &n, err))) return st;
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names) {
        free(files);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    size_t n_gguf = 0;
    int only = -1;
    for (size_t i = 0; i < n; i++) {
        names[i] = files[i].path;
        const char *b = strrchr(files[i].path, '/');
        b = b ? b + 1 : files[i].path;
        size_t bl = strlen(b);
        if (bl > 5 && !strcasecmp(b + bl - 5, ".gguf") && strncasecmp(b, "mmproj", 6)) {
            n_gguf++;
            only = (int)i;
        }
    }
    int pick = slm_catalog_pick_file(names, n, quant);
    if (pick == -1 && !explicit_quant && n_gguf == 1) pick = only;
    free(names);
    if (pick < 0) {
        char avail[300] = "";
        size_t al = 0;
        for (size_t i = 0; i < n && al + 2 < sizeof avail; i++) {
            size_t pl = strlen(files[i].path);
            if (pl > 5 && !strcasecmp(files[i].path + pl - 5, ".gguf"))
                al += (size_t)snprintf(avail + al, sizeof avail - al, "%s%s", al ? ", " : "", files[i].path);
        }
        st = pick == -2 ? slm_fail(err, SLM_E_UNSUPPORTED, "%s: the %s GGUF is split into parts (not supported yet)",
                                   repo, quant)
                        : slm_fail(err, SLM_E_NOT_FOUND, "%s has no %s GGUF; files: %s", repo, quant,
                                   avail[0] ? avail : "(no .gguf files)");
        free(files);
        return st;
    }
    hub_file f = files[pick];
    free(files);
    if (!f.sha[0])
        return slm_fail(err, SLM_E_FORMAT, "%s/%s: the Hub lists no LFS sha256 for it; cannot verify a download",
                        repo, f.path);
    char url[URL_MAX], hex[65], source[256];
    snprintf(url, sizeof url, "%s/%s/resolve/main/%s", c.endpoint, repo, f.path);
    uint64_t size = 0;
    c.digest = f.sha;
    if ((st = fetch_blob(&c, url, f.path, f.sha, f.size, hex, &size, err))) return st;
    snprintf(source, sizeof source, "hf.co/%s", repo);
    if ((st = store_write_pull_manifest(name, hex, size, source, f.path, quant, err))) return st;
    if (out_name) snprintf(out_name, cap, "%s", name);
    return SLM_OK;
}
