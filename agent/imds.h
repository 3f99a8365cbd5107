/* imds.h — the EC2 instance metadata service (IMDSv2) client.
 *
 * Why a client of our own and not a crawl: kiln asks IMDS for a dozen known
 * paths once per boot, and the boot waits for it.  So the client is built for
 * a short, bounded conversation:
 *
 *   - one session token (PUT /latest/api/token, TTL token_ttl) for the whole
 *     run; a 401 gets one fresh token and one retry of that request;
 *   - metadata_urls are tried in order, the first that answers the token PUT
 *     is used for everything after;
 *   - 403 fails at once (IMDS disabled or the request not allowed: waiting
 *     cannot help), 404 means absent, other 4xx and 3xx are errors (redirects
 *     are never followed); timeouts, connection errors, truncated answers, 429
 *     and 5xx are retried with jittered exponential backoff;
 *   - every request has a short timeout, and all of it (retries, token
 *     refreshes) happens before one overall deadline, max_wait, counted from
 *     imds_client_new(): the client never hangs;
 *   - transfers run on a libcurl multi handle with a fixed number of
 *     kept-alive connections (IMDS_PARALLEL, chosen by measurement, see
 *     docs/datasources.md);
 *   - answers are bounded, and text values must be UTF-8 without control
 *     characters: garbage is rejected with the path that carried it;
 *   - never through a proxy, only http://, never a redirect.
 *
 * The client logs its own errors (it knows the path, the endpoint and the
 * status), once, and returns a negative errno:
 *   -EACCES    403: IMDS disabled for the instance or request not allowed
 *   -ETIMEDOUT no answer before the deadline
 *   -EPROTO    an answer kiln does not accept (400, 405, 3xx, a 401 to a fresh token …)
 *   -EFBIG     an answer over its bound
 *   -EBADMSG   a text value that is not text, a bad token
 *   -EINVAL    a bad setting (imds_config_from_json names the key)
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "util.h"

#define IMDS_TOKEN_TTL_MAX 21600U
#define IMDS_VALUE_MAX (64U * 1024U)      /* one metadata value or listing */
#define IMDS_USER_DATA_MAX (1024U * 1024U) /* raw user-data as served (EC2 itself caps it at 16 KiB) */
#define IMDS_URLS_MAX 8U

/* Defaults of datasource.ec2.* */
#define IMDS_DEFAULT_URL_V4 "http://169.254.169.254"
#define IMDS_DEFAULT_URL_V6 "http://[fd00:ec2::254]"
#define IMDS_DEFAULT_TOKEN_TTL 21600U
#define IMDS_DEFAULT_TIMEOUT_SEC 2.0
#define IMDS_DEFAULT_MAX_WAIT_SEC 120.0

typedef struct imds_config {
        char *urls[IMDS_URLS_MAX]; /* base URLs without trailing '/', owned */
        size_t n_urls;
        unsigned token_ttl;        /* seconds, 1..IMDS_TOKEN_TTL_MAX */
        usec_t timeout;            /* one request: connect + answer */
        usec_t max_wait;           /* everything, from imds_client_new() */
        bool imdsv1_fallback;      /* no token API (token PUT 404/405): read without a token */
} imds_config;

void imds_config_clear(imds_config *cfg);
/* Reads datasource.ec2 (cfg may be NULL: all defaults).  Bad values are
 * logged naming the key ("datasource.ec2.token_ttl: …") and give -EINVAL. */
int imds_config_from_json(json_t *cfg, imds_config *ret);

/* One GET under /latest/. */
typedef struct imds_request {
        const char *path;  /* "meta-data/instance-id", "user-data" (not owned) */
        size_t max;        /* bound on the answer; 0 means IMDS_VALUE_MAX */
        bool binary;       /* raw bytes (user-data); otherwise checked as text */
        /* set by imds_fetch(): */
        int result;        /* 0 found, -ENOENT absent (404) */
        char *data;        /* NUL-terminated answer (owned), NULL when absent */
        size_t len;
} imds_request;

void imds_requests_clear(imds_request *reqs, size_t n);

typedef struct imds_client imds_client;

int imds_client_new(const imds_config *cfg, imds_client **ret);
imds_client *imds_client_free(imds_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(imds_client *, imds_client_free);
#define _cleanup_imds_client_ _cleanup_(imds_client_freep)

/* Finds the endpoint (metadata_urls in order) and gets the session token
 * (or, with imdsv1_fallback, settles for IMDSv1). */
int imds_connect(imds_client *c);
/* Runs the requests (in parallel up to IMDS_PARALLEL); 0 when every one was
 * answered 200 or 404 (see each .result), else the first error. */
int imds_fetch(imds_client *c, imds_request *reqs, size_t n);

const char *imds_endpoint(const imds_client *c); /* NULL before imds_connect() */
bool imds_is_v1(const imds_client *c);
/* {"requests", "token_requests", "retries", "connections", "bytes",
 *  "elapsed_ms", "endpoint", "imdsv1"} */
json_t *imds_stats_json(const imds_client *c);

/* ---- pure parts (unit-tested) ---- */

typedef enum imds_verdict {
        IMDS_DONE,     /* 200 */
        IMDS_ABSENT,   /* 404 */
        IMDS_RETRY,    /* timeout, connection error, truncated, 429, 5xx */
        IMDS_REAUTH,   /* 401: new token, one retry */
        IMDS_DISABLED, /* 403 */
        IMDS_FAIL,     /* anything else */
} imds_verdict;

/* curl_code is a CURLcode (0 = a complete HTTP answer with status http_status). */
imds_verdict imds_classify(int curl_code, long http_status);
/* Delay before retry number attempt (1 = first retry): exponential from
 * IMDS_BACKOFF_BASE, capped at IMDS_BACKOFF_CAP, "equal jitter": half
 * fixed, half drawn from rnd. */
#define IMDS_BACKOFF_BASE (50 * USEC_PER_MSEC)
#define IMDS_BACKOFF_CAP (2 * USEC_PER_SEC)
usec_t imds_backoff(unsigned attempt, uint32_t rnd);
/* 0 when data is UTF-8 without NUL or control characters other than
 * \t \n \r; else -EBADMSG with the offset of the first bad byte. */
int imds_text_check(const char *data, size_t len, size_t *ret_offset);
/* A listing ("ami\nebs1\nsub/") as a JSON array of names, a sub-tree's
 * trailing '/' removed, empty lines skipped.  A name that could not be put
 * back into a path ('/' inside, ".", "..", control characters, over 255
 * bytes) gives -EBADMSG. */
int imds_parse_listing(const char *text, json_t **ret);
/* name as one path segment: bytes outside RFC 3986's pchar set are
 * %-encoded (names IMDS itself allows, e.g. tag keys, stay as they are). */
char *imds_escape_segment(const char *name);
/* 0 when url is "http://HOST[:PORT][/]" (HOST a name, IPv4 or [IPv6]); the
 * normalised form (no trailing '/') in *ret.  -EINVAL otherwise, with a
 * reason in *ret_why. */
int imds_url_normalize(const char *url, char **ret, const char **ret_why);
