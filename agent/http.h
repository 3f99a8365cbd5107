/* http.h — the one HTTP client kiln has: a small libcurl wrapper for the
 * local services it talks to at boot (the Consul agent, the EC2 instance
 * metadata service).
 *
 * Why a wrapper: every caller needs the same few things done the same way,
 * and each is easy to get wrong with raw libcurl:
 *   - bounded everything: a connect timeout, a whole-request timeout, and a
 *     cap on the answer's size (a misbehaving peer cannot fill memory);
 *   - no proxy, ever: both peers are link-local or loopback, and an
 *     http_proxy variable in a unit's environment must not send metadata or
 *     a Consul token to a proxy;
 *   - no redirects, http and https only, no signals (CURLOPT_NOSIGNAL);
 *   - errors as negative errno values a caller can decide on (retry on
 *     -ECONNREFUSED or -ETIMEDOUT, give up on -EINVAL), never a CURLcode;
 *   - headers may carry secrets (X-Consul-Token, the IMDSv2 token): this
 *     file never logs them, nor anything else.
 * An http_client keeps one curl handle, so consecutive requests to the same
 * peer reuse the connection (keep-alive).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "util.h"

#define HTTP_TIMEOUT_DEFAULT (5 * USEC_PER_SEC)
#define HTTP_CONNECT_TIMEOUT_DEFAULT (2 * USEC_PER_SEC)
#define HTTP_RESPONSE_MAX_DEFAULT (1024U * 1024U)

typedef struct http_request {
        const char *method;          /* "GET", "PUT", …; NULL means GET */
        const char *url;             /* http:// or https:// */
        const char *const *headers;  /* "Name: value" lines, NULL-terminated (may be NULL) */
        const void *body;            /* sent when body_len > 0 (or body is non-NULL) */
        size_t body_len;
        usec_t timeout;              /* whole request; 0: HTTP_TIMEOUT_DEFAULT */
        usec_t connect_timeout;      /* 0: HTTP_CONNECT_TIMEOUT_DEFAULT (capped by timeout) */
        size_t response_max;         /* 0: HTTP_RESPONSE_MAX_DEFAULT; a longer answer is -EFBIG */
} http_request;

typedef struct http_response {
        long status;    /* the HTTP status code */
        char *body;     /* NUL-terminated (the NUL is not counted in body_len); never NULL on success */
        size_t body_len;
} http_response;

typedef struct http_client http_client;

int http_client_new(http_client **ret);
http_client *http_client_free(http_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(http_client *, http_client_free);
#define _cleanup_http_client_ _cleanup_(http_client_freep)

/* Sends one request and reads the whole answer, whatever its status.
 * Errors: -EINVAL (a bad URL or method, or a header line with a CR or LF:
 * nothing is sent), -ECONNREFUSED (nothing listens), -ETIMEDOUT (connect or
 * request timeout), -EHOSTUNREACH (name resolution or routing failed),
 * -ECONNRESET (the peer closed without an answer),
 * -EPROTO (a malformed or truncated answer), -EFBIG (answer larger than
 * response_max), -ENOMEM, -EIO (anything else). */
int http_client_send(http_client *c, const http_request *req, http_response *ret);

/* True for errors worth retrying: the peer may answer a moment later. */
bool http_error_is_transient(int error);

void http_response_clear(http_response *r);
static inline void http_response_clearp(http_response *r) {
        http_response_clear(r);
}
#define _cleanup_http_response_ _cleanup_(http_response_clearp)
