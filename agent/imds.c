/* imds.c — see imds.h.
 *
 * Shape: every HTTP exchange is an `xfer` in a small state machine driven by
 * one curl multi handle:
 *
 *     READY (may start at not_before) ──start──▶ ACTIVE ──answer──▶ DONE
 *       ▲                                          │
 *       └── retryable failure, after a backoff ◀───┤
 *     WAIT_TOKEN ◀── 401 ──────────────────────────┘   (READY again once
 *                                                        a fresh token is in)
 *
 * The token PUT is one more xfer (c->tok), scheduled before the others.
 * imds_connect() runs it alone, walking metadata_urls (a failed URL passes
 * to the next at once; a failed round of all of them backs off); imds_fetch()
 * runs a batch of GETs and wakes the token xfer only when a 401 asks for it,
 * once per token generation however many GETs saw the old token rejected.
 * Nothing sleeps outside curl_multi_poll(), whose wait is bounded by the next
 * retry time and the deadline, and every request's own timeout is cut to the
 * time left, so the whole conversation ends by max_wait.
 *
 * A fresh easy handle per attempt keeps each attempt's options independent
 * (PUT vs GET, headers); connections live in the multi handle's cache, so
 * they are still kept alive across attempts and requests.
 */
#include <curl/curl.h>
#include <sys/random.h>

#include "imds.h"
#include "json-util.h"
#include "log.h"

/* Transfers (so kept-alive connections) in flight at once.  Measured against
 * the emulator (docs/datasources.md): with no latency one connection and four
 * are within a millisecond; with 1-3 ms per answer, as a real IMDS has, four
 * take a half to a third of the time.  -DIMDS_PARALLEL=N to measure again. */
#ifndef IMDS_PARALLEL
#define IMDS_PARALLEL 4
#endif

#define TOKEN_MAX 1024U
#define LISTING_NAME_MAX 255U
#define TIMEOUT_MAX_SEC 120.0
#define MAX_WAIT_MAX_SEC 3600.0
/* An active transfer's timeout ends by the deadline; this is only a net. */
#define DEADLINE_SLACK (USEC_PER_SEC)

typedef enum xstate { X_IDLE, X_READY, X_ACTIVE, X_WAIT_TOKEN, X_DONE } xstate;

typedef struct xfer {
        imds_request *req;  /* NULL: the token PUT */
        xstate state;
        CURL *easy;
        struct curl_slist *headers;
        char *buf;
        size_t len, cap, max;
        bool too_big;
        unsigned failures;  /* failed attempts so far: the backoff's exponent */
        bool reauthed;      /* this request already had its one retry after a 401 */
        unsigned token_gen; /* the token generation the attempt carried */
        usec_t not_before;
        const char *url;    /* the endpoint of the attempt (borrowed from the client) */
        char last_error[CURL_ERROR_SIZE + 160];
        char errbuf[CURL_ERROR_SIZE];
} xfer;

struct imds_client {
        imds_config cfg;
        bool curl_ready;
        CURLM *multi;
        usec_t start, deadline;
        char *base;        /* the endpoint in use; NULL until imds_connect() found one */
        char *token;       /* NULL with IMDSv1 */
        unsigned token_gen;
        bool v1;
        bool need_token;
        size_t url_idx;    /* discovery: the URL the token PUT tries next */
        xfer tok;
        unsigned active;
        uint64_t rng;
        unsigned requests, token_requests, retries, connections;
        uint64_t bytes;
};

/* ---- configuration ---- */

void imds_config_clear(imds_config *cfg) {
        for (size_t i = 0; i < cfg->n_urls; i++)
                free(cfg->urls[i]);
        *cfg = (imds_config){ 0 };
}

static bool host_char(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
               ch == '-';
}

/* Past the host: "[v6]" or a name/IPv4.  NULL when malformed. */
static const char *skip_host(const char *h) {
        const char *e = h;
        if (*h == '[') {
                e = h + 1 + strspn(h + 1, "0123456789abcdefABCDEF:.");
                return *e == ']' && e > h + 2 ? e + 1 : NULL;
        }
        while (host_char(*e))
                e++;
        return e > h ? e : NULL;
}

static const char *skip_port(const char *p) {
        if (*p != ':')
                return p;
        size_t n = strspn(p + 1, "0123456789");
        if (n == 0 || n > 5 || atoi(p + 1) < 1 || atoi(p + 1) > 65535)
                return NULL;
        return p + 1 + n;
}

int imds_url_normalize(const char *url, char **ret, const char **ret_why) {
        const char *e;
        char *s;

        if (!startswith(url, "http://")) {
                *ret_why = "only http:// URLs are allowed (IMDS has no TLS and kiln never leaves the link)";
                return -EINVAL;
        }
        e = skip_host(url + strlen("http://"));
        if (!e) {
                *ret_why = "no valid host (a name, an IPv4 address or an [IPv6] address)";
                return -EINVAL;
        }
        e = skip_port(e);
        if (!e) {
                *ret_why = "the port must be a number from 1 to 65535";
                return -EINVAL;
        }
        if (!(e[0] == 0 || (e[0] == '/' && e[1] == 0))) {
                *ret_why = "the URL is the endpoint's base, http://HOST[:PORT]: no path, user, query or fragment";
                return -EINVAL;
        }
        s = strndup(url, (size_t) (e - url));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int add_url(imds_config *cfg, const char *url, size_t index) {
        const char *why = NULL;
        char *u = NULL;
        int r = imds_url_normalize(url, &u, &why);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "datasource.ec2.metadata_urls[%zu]: '%s': %s.", index, url, why);
        cfg->urls[cfg->n_urls++] = u;
        return 0;
}

static int urls_from_json(json_t *list, imds_config *cfg) {
        json_t *v;
        size_t i;
        int r;

        if (!list) {
                if ((r = add_url(cfg, IMDS_DEFAULT_URL_V4, 0)) < 0 || (r = add_url(cfg, IMDS_DEFAULT_URL_V6, 1)) < 0)
                        return r;
                return 0;
        }
        if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > IMDS_URLS_MAX)
                return log_error_errno(-EINVAL, "datasource.ec2.metadata_urls: expected a list of 1 to %u URLs.",
                                       IMDS_URLS_MAX);
        json_array_foreach(list, i, v) {
                if (!json_is_string(v))
                        return log_error_errno(-EINVAL, "datasource.ec2.metadata_urls[%zu]: expected a string.", i);
                r = add_url(cfg, json_string_value(v), i);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int seconds_from_json(json_t *cfg, const char *key, double def, double max, usec_t *ret) {
        json_t *v = json_object_get(cfg, key);
        double d = v ? json_number_value(v) : def;

        if (v && !json_is_number(v))
                return log_error_errno(-EINVAL, "datasource.ec2.%s: expected a number of seconds.", key);
        if (!(d >= 0.001 && d <= max))
                return log_error_errno(-EINVAL, "datasource.ec2.%s: %g is out of range (0.001 to %g seconds).", key,
                                       d, max);
        *ret = (usec_t) (d * (double) USEC_PER_SEC);
        return 0;
}

int imds_config_from_json(json_t *cfg, imds_config *ret) {
        _cleanup_(imds_config_clear) imds_config c = { .token_ttl = IMDS_DEFAULT_TOKEN_TTL };
        json_t *ttl = json_object_get(cfg, "token_ttl"), *v1 = json_object_get(cfg, "imdsv1_fallback");
        int r;

        r = urls_from_json(json_object_get(cfg, "metadata_urls"), &c);
        if (r < 0)
                return r;
        if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
                    json_integer_value(ttl) > (json_int_t) IMDS_TOKEN_TTL_MAX))
                return log_error_errno(-EINVAL, "datasource.ec2.token_ttl: expected whole seconds from 1 to %u.",
                                       IMDS_TOKEN_TTL_MAX);
        if (ttl)
                c.token_ttl = (unsigned) json_integer_value(ttl);
        if (v1 && !json_is_boolean(v1))
                return log_error_errno(-EINVAL, "datasource.ec2.imdsv1_fallback: expected true or false.");
        c.imdsv1_fallback = json_is_true(v1);
        r = seconds_from_json(cfg, "timeout", IMDS_DEFAULT_TIMEOUT_SEC, TIMEOUT_MAX_SEC, &c.timeout);
        if (r < 0)
                return r;
        r = seconds_from_json(cfg, "max_wait", IMDS_DEFAULT_MAX_WAIT_SEC, MAX_WAIT_MAX_SEC, &c.max_wait);
        if (r < 0)
                return r;
        *ret = c;
        c = (imds_config){ 0 };
        return 0;
}

/* ---- pure parts ---- */

imds_verdict imds_classify(int curl_code, long http_status) {
        switch (curl_code) {
        case CURLE_OK:
                break;
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
                return IMDS_RETRY;
        default:
                return IMDS_FAIL;
        }
        switch (http_status) {
        case 200:
                return IMDS_DONE;
        case 404:
                return IMDS_ABSENT;
        case 401:
                return IMDS_REAUTH;
        case 403:
                return IMDS_DISABLED;
        case 429:
                return IMDS_RETRY;
        default:
                return http_status >= 500 && http_status <= 599 ? IMDS_RETRY : IMDS_FAIL;
        }
}

usec_t imds_backoff(unsigned attempt, uint32_t rnd) {
        usec_t d = IMDS_BACKOFF_BASE;
        for (unsigned i = 1; i < attempt && d < IMDS_BACKOFF_CAP; i++)
                d *= 2;
        d = MIN(d, IMDS_BACKOFF_CAP);
        return d / 2 + (usec_t) rnd % (d / 2 + 1);
}

int imds_text_check(const char *data, size_t len, size_t *ret_offset) {
        size_t bad = utf8_first_invalid(data, len);
        for (size_t i = 0; i < bad; i++) {
                unsigned char ch = (unsigned char) data[i];
                if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f) {
                        bad = i;
                        break;
                }
        }
        if (bad == len)
                return 0;
        *ret_offset = bad;
        return -EBADMSG;
}

static bool listing_name_ok(const char *p, size_t n) {
        if (n > LISTING_NAME_MAX || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (p[i] == '/' || (unsigned char) p[i] < 0x20 || p[i] == 0x7f)
                        return false;
        return true;
}

int imds_parse_listing(const char *text, json_t **ret) {
        _cleanup_json_ json_t *a = json_array();
        if (!a)
                return -ENOMEM;
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n"), k = n;
                if (k > 0 && p[k - 1] == '\r')
                        k--;
                if (k > 0 && p[k - 1] == '/')
                        k--;
                if (k > 0) {
                        if (!listing_name_ok(p, k))
                                return -EBADMSG;
                        json_t *s = json_stringn(p, k);
                        if (!s)
                                return -EBADMSG; /* not UTF-8 */
                        if (json_array_append_new(a, s) < 0)
                                return -ENOMEM;
                }
                p += n + (p[n] == '\n');
        }
        *ret = TAKE_PTR(a);
        return 0;
}

char *imds_escape_segment(const char *name) {
        static const char pchar[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
        char *out = malloc(strlen(name) * 3 + 1), *o = out;

        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                if (*p < 0x80 && strchr(pchar, *p))
                        *o++ = (char) *p;
                else
                        o += sprintf(o, "%%%02X", *p);
        *o = 0;
        return out;
}

/* ---- client ---- */

static uint32_t next_random(imds_client *c) {
        uint64_t x = c->rng; /* xorshift64*: jitter needs spread, not secrecy */
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c->rng = x;
        return (uint32_t) ((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static void secret_free(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
}

static void xfer_release(imds_client *c, xfer *x) {
        if (x->easy) {
                if (x->state == X_ACTIVE) {
                        curl_multi_remove_handle(c->multi, x->easy);
                        c->active--;
                        x->state = X_IDLE;
                }
                curl_easy_cleanup(x->easy);
                x->easy = NULL;
        }
        curl_slist_free_all(x->headers);
        x->headers = NULL;
        free(x->buf);
        x->buf = NULL;
        x->len = x->cap = 0;
        x->too_big = false;
}

int imds_client_new(const imds_config *cfg, imds_client **ret) {
        _cleanup_imds_client_ imds_client *c = calloc(1, sizeof *c);

        if (!c)
                return -ENOMEM;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;
        c->curl_ready = true;
        c->multi = curl_multi_init();
        if (!c->multi)
                return -ENOMEM;
        for (size_t i = 0; i < cfg->n_urls && i < IMDS_URLS_MAX; i++) {
                c->cfg.urls[i] = strdup(cfg->urls[i]);
                if (!c->cfg.urls[i])
                        return -ENOMEM;
                c->cfg.n_urls = i + 1;
        }
        if (c->cfg.n_urls == 0)
                return -EINVAL;
        c->cfg.token_ttl = cfg->token_ttl;
        c->cfg.timeout = cfg->timeout;
        c->cfg.max_wait = cfg->max_wait;
        c->cfg.imdsv1_fallback = cfg->imdsv1_fallback;
        c->start = now_mono_usec();
        c->deadline = c->start + cfg->max_wait;
        if (getrandom(&c->rng, sizeof c->rng, GRND_NONBLOCK) != sizeof c->rng || c->rng == 0)
                c->rng = c->start | 1;
        *ret = TAKE_PTR(c);
        return 0;
}

imds_client *imds_client_free(imds_client *c) {
        if (!c)
                return NULL;
        xfer_release(c, &c->tok);
        if (c->multi)
                curl_multi_cleanup(c->multi);
        secret_free(c->token);
        free(c->base);
        imds_config_clear(&c->cfg);
        if (c->curl_ready)
                curl_global_cleanup();
        free(c);
        return NULL;
}

const char *imds_endpoint(const imds_client *c) {
        return c->base;
}

bool imds_is_v1(const imds_client *c) {
        return c->v1;
}

json_t *imds_stats_json(const imds_client *c) {
        double ms = (double) (now_mono_usec() - c->start) / (double) USEC_PER_MSEC;
        return json_pack("{s:i, s:i, s:i, s:i, s:I, s:f, s:s?, s:b}", "requests", (int) c->requests, "token_requests",
                         (int) c->token_requests, "retries", (int) c->retries, "connections", (int) c->connections,
                         "bytes", (json_int_t) c->bytes, "elapsed_ms", (double) (long long) (ms * 10.0) / 10.0,
                         "endpoint", c->base, "imdsv1", c->v1);
}

void imds_requests_clear(imds_request *reqs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(reqs[i].data);
                reqs[i].data = NULL;
                reqs[i].len = 0;
                reqs[i].result = 0;
        }
}

/* ---- one attempt ---- */

static const char *xfer_method(const xfer *x) {
        return x->req ? "GET" : "PUT";
}

static const char *xfer_path(const xfer *x) {
        return x->req ? x->req->path : "api/token";
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
        xfer *x = userdata;
        size_t n = size * nmemb;

        if (n > x->max - x->len) {
                x->too_big = true;
                return 0;
        }
        if (x->len + n + 1 > x->cap) {
                size_t cap = MIN(MAX(x->cap * 2, x->len + n + 1), x->max + 1);
                char *b = realloc(x->buf, cap);
                if (!b)
                        return 0;
                x->buf = b;
                x->cap = cap;
        }
        memcpy(x->buf + x->len, ptr, n);
        x->len += n;
        x->buf[x->len] = 0;
        return n;
}

static int xfer_headers(imds_client *c, xfer *x) {
        _cleanup_free_ char *h = NULL;
        int k;

        if (!x->req)
                k = asprintf(&h, "X-aws-ec2-metadata-token-ttl-seconds: %u", c->cfg.token_ttl);
        else if (c->token)
                k = asprintf(&h, "X-aws-ec2-metadata-token: %s", c->token);
        else
                return 0;
        if (k < 0)
                return -ENOMEM;
        x->headers = curl_slist_append(NULL, h);
        explicit_bzero(h, strlen(h));
        return x->headers ? 0 : -ENOMEM;
}

/* Options that hold for every request: no proxy (IMDS must never be sent
 * through one, whatever the environment says), http only, no redirects. */
static int xfer_setopts(imds_client *c, xfer *x, const char *url) {
        usec_t now = now_mono_usec(), left = c->deadline > now ? c->deadline - now : 0;
        long ms = (long) MAX(MIN(c->cfg.timeout, left) / USEC_PER_MSEC, 1);
        CURL *e = x->easy;

        if (curl_easy_setopt(e, CURLOPT_URL, url) || curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http") ||
            curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) || curl_easy_setopt(e, CURLOPT_PROXY, "") ||
            curl_easy_setopt(e, CURLOPT_NOPROXY, "*") || curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms) || curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms) ||
            curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1) ||
            curl_easy_setopt(e, CURLOPT_USERAGENT, "kiln/" KILN_VERSION) ||
            curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) ||
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data) || curl_easy_setopt(e, CURLOPT_WRITEDATA, x) ||
            curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) x->max) ||
            curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) || curl_easy_setopt(e, CURLOPT_PRIVATE, x))
                return -EIO;
        if (!x->req && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT"))
                return -EIO;
        return 0;
}

static int xfer_start(imds_client *c, xfer *x) {
        _cleanup_free_ char *url = NULL;
        const char *base = c->base ? c->base : c->cfg.urls[c->url_idx];
        int r;

        xfer_release(c, x);
        x->url = base;
        if (asprintf(&url, "%s/latest/%s", base, xfer_path(x)) < 0)
                return log_oom();
        x->max = x->req ? (x->req->max ? x->req->max : IMDS_VALUE_MAX) : TOKEN_MAX;
        x->errbuf[0] = 0;
        x->easy = curl_easy_init();
        if (!x->easy)
                return log_oom();
        r = xfer_headers(c, x);
        if (r >= 0)
                r = xfer_setopts(c, x, url);
        if (r >= 0 && curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
                r = -EIO;
        if (r < 0)
                return log_error_errno(r, "Failed to set up the IMDS request %s: %m", url);
        x->token_gen = c->token_gen;
        x->state = X_ACTIVE;
        c->active++;
        c->requests++;
        if (!x->req)
                c->token_requests++;
        return 0;
}

/* ---- outcomes ---- */

static double seconds(usec_t u) {
        return (double) u / (double) USEC_PER_SEC;
}

static int fail_deadline(imds_client *c, xfer *x) {
        if (!x->req && !c->base) {
                _cleanup_free_ char *tried = NULL;
                for (size_t i = 0; i < c->cfg.n_urls; i++) {
                        char *t = NULL;
                        if (asprintf(&t, "%s%s%s", tried ? tried : "", tried ? ", " : "", c->cfg.urls[i]) < 0)
                                return log_oom();
                        free(tried);
                        tried = t;
                }
                return log_error_errno(-ETIMEDOUT,
                                       "No IMDS endpoint answered within max_wait (%g s, %u rounds of %s); "
                                       "last error, from %s: %s.",
                                       seconds(c->cfg.max_wait), x->failures, tried, x->url ? x->url : "-",
                                       x->last_error);
        }
        return log_error_errno(-ETIMEDOUT, "IMDS did not answer %s /latest/%s within max_wait (%g s, %u attempts); "
                               "last error: %s.",
                               xfer_method(x), xfer_path(x), seconds(c->cfg.max_wait), x->failures, x->last_error);
}

/* Backs off and marks the xfer READY again, or fails when the retry would
 * start after the deadline (no point waiting for it). */
static int schedule_retry(imds_client *c, xfer *x) {
        usec_t now = now_mono_usec(), delay;

        x->failures++;
        delay = imds_backoff(x->failures, next_random(c));
        if (now + delay >= c->deadline)
                return fail_deadline(c, x);
        c->retries++;
        x->not_before = now + delay;
        x->state = X_READY;
        log_debug("IMDS %s /latest/%s: %s; retry in %llu ms.", xfer_method(x), xfer_path(x), x->last_error,
                  (unsigned long long) (delay / USEC_PER_MSEC));
        return 0;
}

static int fail_disabled(xfer *x) {
        return log_error_errno(-EACCES, "IMDS is disabled for this instance (HttpEndpoint=disabled) or the request "
                               "is not allowed: %s answered 403 to %s /latest/%s.",
                               x->url, xfer_method(x), xfer_path(x));
}

static int fail_answer(xfer *x, int curl_code, long status) {
        if (curl_code != CURLE_OK)
                return log_error_errno(-EIO, "IMDS request %s %s/latest/%s failed: %s.", xfer_method(x), x->url,
                                       xfer_path(x), x->last_error);
        if (status >= 300 && status <= 399)
                return log_error_errno(-EPROTO, "IMDS answered %ld (a redirect) to %s %s/latest/%s; kiln never "
                                       "follows redirects.", status, xfer_method(x), x->url, xfer_path(x));
        return log_error_errno(-EPROTO, "IMDS answered %ld to %s %s/latest/%s; that is not retried.", status,
                               xfer_method(x), x->url, xfer_path(x));
}

static void request_token(imds_client *c) {
        if (c->need_token)
                return;
        c->need_token = true;
        c->tok.state = X_READY;
        c->tok.failures = 0;
        c->tok.not_before = 0;
}

static int on_get_done(xfer *x) {
        size_t bad = 0;
        if (!x->req->binary && imds_text_check(x->buf ? x->buf : "", x->len, &bad) < 0) {
                unsigned char ch = (unsigned char) x->buf[bad];
                return log_error_errno(-EBADMSG, "IMDS value of /latest/%s is not text: %s 0x%02x at byte %zu; "
                                       "refusing it.", x->req->path,
                                       ch < 0x20 || ch == 0x7f ? "control character" : "invalid UTF-8", ch, bad);
        }
        x->req->data = x->buf ? TAKE_PTR(x->buf) : strdup("");
        if (!x->req->data)
                return log_oom();
        x->req->len = x->len;
        x->req->result = 0;
        x->state = X_DONE;
        return 0;
}

static int on_get(imds_client *c, xfer *x, imds_verdict v, int curl_code, long status) {
        switch (v) {
        case IMDS_DONE:
                return on_get_done(x);
        case IMDS_ABSENT:
                x->req->data = NULL;
                x->req->len = 0;
                x->req->result = -ENOENT;
                x->state = X_DONE;
                return 0;
        case IMDS_RETRY:
                return schedule_retry(c, x);
        case IMDS_REAUTH:
                if (x->reauthed)
                        return log_error_errno(-EPROTO, "IMDS answered 401 to GET /latest/%s even with a fresh "
                                               "session token.", x->req->path);
                x->reauthed = true;
                c->retries++;
                if (c->v1)
                        log_info("IMDS at %s asks for a session token after all (401): getting one.", c->base);
                if (x->token_gen == c->token_gen) {
                        request_token(c);
                        x->state = X_WAIT_TOKEN;
                } else {
                        x->state = X_READY; /* a fresh token came while this one was out */
                        x->not_before = 0;
                }
                return 0;
        case IMDS_DISABLED:
                return fail_disabled(x);
        case IMDS_FAIL:
        default:
                return fail_answer(x, curl_code, status);
        }
}

static int token_accept(imds_client *c, xfer *x) {
        const char *t = x->buf ? x->buf : "";
        size_t n = strlen(t);

        if (n == 0 || n != x->len || strspn(t, "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") != n)
                return log_error_errno(-EBADMSG, "IMDS at %s sent a session token kiln can't use (empty, binary or "
                                       "with spaces).", x->url);
        if (!c->base) {
                c->base = strdup(c->cfg.urls[c->url_idx]);
                if (!c->base)
                        return log_oom();
        }
        secret_free(c->token);
        c->token = TAKE_PTR(x->buf);
        c->token_gen++;
        c->v1 = false;
        c->need_token = false;
        x->state = X_DONE;
        return 0;
}

/* The token PUT answered 404/405: no token API at this endpoint. */
static int token_unsupported(imds_client *c, xfer *x, long status) {
        if (!c->cfg.imdsv1_fallback || c->base)
                return log_error_errno(-EPROTO, "IMDS at %s answered %ld to the session token request (PUT "
                                       "/latest/api/token): it offers no IMDSv2 there, and kiln uses IMDSv1 only "
                                       "when datasource.ec2.imdsv1_fallback is true.", x->url, status);
        log_warning("IMDS at %s has no session tokens (PUT answered %ld): using IMDSv1, as "
                    "datasource.ec2.imdsv1_fallback allows.", x->url, status);
        c->base = strdup(c->cfg.urls[c->url_idx]);
        if (!c->base)
                return log_oom();
        c->v1 = true;
        c->need_token = false;
        x->state = X_DONE;
        return 0;
}

/* Discovery: a URL that did not answer passes the turn to the next one at
 * once; only a whole failed round backs off. */
static int token_next_url(imds_client *c, xfer *x) {
        c->url_idx = (c->url_idx + 1) % c->cfg.n_urls;
        if (c->url_idx == 0)
                return schedule_retry(c, x);
        x->state = X_READY;
        x->not_before = 0;
        return 0;
}

static int on_token(imds_client *c, xfer *x, imds_verdict v, int curl_code, long status) {
        switch (v) {
        case IMDS_DONE:
                return token_accept(c, x);
        case IMDS_RETRY:
                return c->base ? schedule_retry(c, x) : token_next_url(c, x);
        case IMDS_DISABLED:
                return fail_disabled(x);
        case IMDS_ABSENT:
                return token_unsupported(c, x, status);
        default:
                if (curl_code == CURLE_OK && status == 405)
                        return token_unsupported(c, x, status);
                if (curl_code == CURLE_OK && status == 400)
                        return log_error_errno(-EPROTO, "IMDS at %s refused the session token request (400): "
                                               "token_ttl %u not accepted.", x->url, c->cfg.token_ttl);
                return fail_answer(x, curl_code, status);
        }
}

static int xfer_finished(imds_client *c, xfer *x, CURLcode cc) {
        long status = 0, conns = 0;
        imds_verdict v;

        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns);
        c->connections += (unsigned) conns;
        c->bytes += x->len;
        curl_multi_remove_handle(c->multi, x->easy);
        c->active--;
        x->state = X_IDLE;
        if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
                if (status == 200 || status == 0)
                        return log_error_errno(-EFBIG, "IMDS answer to %s /latest/%s is larger than %zu bytes; "
                                               "refusing it.", xfer_method(x), xfer_path(x), x->max);
                cc = CURLE_OK; /* an error page too big to keep: its status is what counts */
        }
        if (cc != CURLE_OK)
                snprintf(x->last_error, sizeof x->last_error, "%s",
                         x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
        else
                snprintf(x->last_error, sizeof x->last_error, "HTTP %ld", status);
        v = imds_classify(cc, status);
        log_debug("IMDS %s %s/latest/%s: %s", xfer_method(x), x->url, xfer_path(x), x->last_error);
        return x->req ? on_get(c, x, v, cc, status) : on_token(c, x, v, cc, status);
}

/* ---- the loop ---- */

static xfer *xfer_at(imds_client *c, xfer *xs, size_t i) {
        return i == 0 ? &c->tok : &xs[i - 1];
}

/* Starts what may start now (the token first), as slots allow. */
static int start_ready(imds_client *c, xfer *xs, size_t n) {
        usec_t now = now_mono_usec();
        for (size_t i = 0; i <= n && c->active < IMDS_PARALLEL; i++) {
                xfer *x = xfer_at(c, xs, i);
                if (x->state == X_WAIT_TOKEN && !c->need_token) {
                        x->state = X_READY;
                        x->not_before = 0;
                }
                if (x->state != X_READY || x->not_before > now)
                        continue;
                int r = xfer_start(c, x);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int collect(imds_client *c) {
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
                void *x = NULL;
                if (m->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
                int r = xfer_finished(c, x, m->data.result);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* When the loop must look again: the earliest retry that could start
 * (now, when one can start at once), else the deadline. */
static usec_t next_wake(imds_client *c, xfer *xs, size_t n) {
        usec_t wake = c->deadline + DEADLINE_SLACK;
        for (size_t i = 0; i <= n; i++) {
                xfer *x = xfer_at(c, xs, i);
                bool ready = x->state == X_READY || (x->state == X_WAIT_TOKEN && !c->need_token);
                if (ready && c->active < IMDS_PARALLEL)
                        wake = MIN(wake, x->not_before);
        }
        return wake;
}

static bool finished(imds_client *c, xfer *xs, size_t n) {
        if (n == 0)
                return c->tok.state == X_DONE;
        for (size_t i = 0; i < n; i++)
                if (xs[i].state != X_DONE)
                        return false;
        return true;
}

static xfer *first_pending(imds_client *c, xfer *xs, size_t n) {
        for (size_t i = 1; i <= n; i++)
                if (xs[i - 1].state != X_DONE)
                        return &xs[i - 1];
        return &c->tok;
}

static int run(imds_client *c, xfer *xs, size_t n) {
        int running, r;

        for (;;) {
                r = start_ready(c, xs, n);
                if (r < 0)
                        return r;
                if (curl_multi_perform(c->multi, &running) != CURLM_OK)
                        return log_error_errno(-EIO, "IMDS: the HTTP client failed.");
                r = collect(c);
                if (r < 0)
                        return r;
                if (finished(c, xs, n))
                        return 0;
                usec_t now = now_mono_usec(), wake = next_wake(c, xs, n);
                if (now >= c->deadline + DEADLINE_SLACK)
                        return fail_deadline(c, first_pending(c, xs, n));
                if (wake <= now)
                        continue;
                int ms = (int) MIN((wake - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, 1000);
                if (curl_multi_poll(c->multi, NULL, 0, ms, NULL) != CURLM_OK)
                        return log_error_errno(-EIO, "IMDS: the HTTP client failed to wait.");
        }
}

int imds_connect(imds_client *c) {
        int r;

        c->tok = (xfer){ .state = X_READY };
        c->need_token = true;
        c->url_idx = 0;
        r = run(c, NULL, 0);
        xfer_release(c, &c->tok);
        if (r < 0)
                return r;
        log_debug("IMDS: using %s with %s.", c->base, c->v1 ? "IMDSv1" : "a session token");
        return 0;
}

int imds_fetch(imds_client *c, imds_request *reqs, size_t n) {
        _cleanup_free_ xfer *xs = NULL;
        int r;

        if (!c->base)
                return -ENOTCONN;
        if (n == 0)
                return 0;
        xs = calloc(n, sizeof *xs);
        if (!xs)
                return log_oom();
        for (size_t i = 0; i < n; i++)
                xs[i] = (xfer){ .req = &reqs[i], .state = X_READY };
        r = run(c, xs, n);
        for (size_t i = 0; i < n; i++)
                xfer_release(c, &xs[i]);
        xfer_release(c, &c->tok);
        if (c->tok.state != X_DONE) { /* a refresh that did not finish: the next 401 asks again */
                c->tok.state = X_IDLE;
                c->need_token = false;
        }
        if (r < 0)
                imds_requests_clear(reqs, n);
        return r;
}
