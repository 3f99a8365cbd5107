/* http1.h — a small HTTP/1.1 client for the plain-HTTP services on the
 * instance's own link: IMDS (and a local Consul agent).
 *
 * Why not libcurl: on Debian libcurl drags in 35 shared objects (OpenSSL,
 * GnuTLS, Kerberos, LDAP, ssh2, rtmp...).  Loading them costs ~4 ms of CPU
 * and ~9 MB of resident memory in the process that needs them -- more than
 * all the rest of kiln's network stage (docs/performance.md) -- for a
 * conversation of a dozen small requests to a link-local address over plain
 * HTTP, with proxies, redirects, TLS, cookies and authentication all
 * switched off.  This client does exactly that conversation and nothing else:
 *
 *   - http:// only; HOST is an IPv4 address, an [IPv6] address or a name
 *     (resolved with getaddrinfo(), which blocks: the defaults are literals);
 *   - requests: any method, extra headers, an optional body; never a proxy,
 *     never a redirect (a 3xx is just an answer), no compression, no TLS;
 *   - answers framed by Content-Length, chunked, or the connection's close;
 *     the header section is bounded (16 KiB), the body by the request's max;
 *   - several transfers in flight, each on its own connection; connections
 *     are kept alive and reused per endpoint, and a request that finds a
 *     kept-alive connection closed by the server is sent again once on a
 *     fresh one (before any answer byte: nothing can have been processed
 *     twice that the server did not drop);
 *   - each transfer has a timeout (connect + answer), enforced while waiting:
 *     h1_wait() never sleeps past the earliest one.
 *
 * It is a multi-style interface, so a caller runs its own loop:
 *     h1_start() ... h1_wait() ... h1_next_done() → result, status, body.
 * Single-threaded; non-blocking sockets and poll(2).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "util.h"

#define H1_HEADER_MAX (16U * 1024U)
#define H1_ERROR_MAX 256U

typedef enum h1_result {
        H1_OK,         /* a complete answer (any status) */
        H1_TIMEOUT,    /* no complete answer within the timeout */
        H1_CONNECT,    /* the connection could not be made (refused, unreachable) */
        H1_RESOLVE,    /* the host name did not resolve */
        H1_SEND,       /* the request could not be sent */
        H1_RECV,       /* the connection failed while answering (reset) */
        H1_EMPTY,      /* closed without an answer */
        H1_PARTIAL,    /* closed in the middle of the answer */
        H1_TOO_BIG,    /* the body is larger than the request's max (status is known) */
        H1_BAD_ANSWER, /* not HTTP/1.x, or framing kiln does not accept */
        H1_NO_MEMORY,
        _H1_RESULT_MAX,
} h1_result;

typedef struct h1_request {
        const char *method;          /* "GET", "PUT", ... */
        const char *url;             /* http://HOST[:PORT]/PATH */
        const char *const *headers;  /* "Name: value" lines, NULL-terminated; may be NULL */
        const void *body;            /* sent with Content-Length; NULL and 0: none */
        size_t body_len;
        usec_t timeout;              /* connect + answer */
        size_t max;                  /* largest body accepted */
} h1_request;

typedef struct h1_client h1_client;
typedef struct h1_xfer h1_xfer;

int h1_client_new(h1_client **ret);
h1_client *h1_client_free(h1_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(h1_client *, h1_client_free);
#define _cleanup_h1_client_ _cleanup_(h1_client_freep)

/* Starts a transfer (the request is copied: nothing of it needs to outlive
 * the call).  A URL it can't use is -EINVAL; everything that happens on the
 * network is reported through the transfer's result instead.  The transfer
 * belongs to the client until h1_xfer_free(). */
int h1_start(h1_client *c, const h1_request *req, void *userdata, h1_xfer **ret);
/* Does the I/O of every active transfer, waiting at most timeout_ms (also
 * never past an active transfer's timeout) for something to happen. */
int h1_wait(h1_client *c, int timeout_ms);
/* A transfer that finished (once each), or NULL. */
h1_xfer *h1_next_done(h1_client *c);
unsigned h1_active(const h1_client *c);
/* Cancels the transfer if it is still active, and frees it. */
void h1_xfer_free(h1_client *c, h1_xfer *x);

void *h1_xfer_userdata(const h1_xfer *x);
h1_result h1_xfer_result(const h1_xfer *x);
int h1_xfer_status(const h1_xfer *x);           /* 0 until the status line was read */
const char *h1_xfer_error(const h1_xfer *x);    /* "" for H1_OK, else a sentence for logs */
/* The body (NUL-terminated; "" when empty); take_body hands it over. */
const char *h1_xfer_body(const h1_xfer *x, size_t *ret_len);
char *h1_xfer_take_body(h1_xfer *x, size_t *ret_len);
unsigned h1_xfer_new_connections(const h1_xfer *x); /* connections this transfer opened (0: reused one) */

const char *h1_result_to_string(h1_result r);

/* ---- pure parts (unit-tested) ---- */

typedef struct h1_url {
        char host[256]; /* without brackets */
        char port[6];
        const char *path; /* into the URL; "/" when the URL has none */
        bool ipv6;
} h1_url;
int h1_parse_url(const char *url, h1_url *ret);
