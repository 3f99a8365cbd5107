/* http1.c — see http1.h.
 *
 * A transfer goes CONNECTING → SENDING → RECEIVING → DONE on a non-blocking
 * socket; h1_wait() polls the sockets of every active transfer and moves
 * each along as far as its socket allows.  The request is formatted whole
 * when the transfer starts; the answer is parsed as it arrives: the header
 * section is collected (bounded), then the body is taken by its framing
 * (Content-Length, chunked, or until the server closes).  Only a complete
 * answer on a connection both sides keep open returns the connection to
 * the idle list for the next transfer to the same endpoint.
 */
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>

#include "http1.h"

#define IDLE_MAX 8U
#define CHUNK_LINE_MAX 1024U

typedef enum xphase { XP_CONNECTING, XP_SENDING, XP_RECEIVING, XP_DONE } xphase;
typedef enum framing { FR_NONE, FR_LENGTH, FR_CHUNKED, FR_CLOSE } framing;
typedef enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER } chunk_state;

typedef struct h1_conn {
        int fd;
        char key[300];
        struct h1_conn *next;
} h1_conn;

struct h1_xfer {
        h1_xfer *next;
        void *userdata;
        h1_url url;
        char key[300]; /* host|port: which idle connections fit */
        usec_t start, deadline;
        size_t max;
        bool head;

        struct addrinfo *ai, *ai_next; /* addresses still to try while connecting */
        int fd;
        bool reused, retried;
        unsigned new_conns;
        xphase phase;

        char *out; /* the request */
        size_t out_len, out_off;

        char *in; /* the header section as it arrives */
        size_t in_len;
        size_t received; /* answer bytes so far (for messages) */
        bool headers_done;
        int status;
        bool keep_alive;
        framing fr;
        uint64_t remaining;
        chunk_state ch;
        char line[CHUNK_LINE_MAX];
        size_t line_len;

        char *body;
        size_t body_len, body_cap;

        h1_result result;
        bool reported;
        char error[H1_ERROR_MAX];
};

struct h1_client {
        h1_xfer *xfers;
        h1_conn *idle;
        unsigned active;
};

static const char *const result_names[_H1_RESULT_MAX] = {
        [H1_OK] = "ok",           [H1_TIMEOUT] = "timeout",   [H1_CONNECT] = "connect",
        [H1_RESOLVE] = "resolve", [H1_SEND] = "send",         [H1_RECV] = "receive",
        [H1_EMPTY] = "empty",     [H1_PARTIAL] = "partial",   [H1_TOO_BIG] = "too big",
        [H1_BAD_ANSWER] = "bad answer", [H1_NO_MEMORY] = "no memory",
};

const char *h1_result_to_string(h1_result r) {
        return r >= 0 && r < _H1_RESULT_MAX ? result_names[r] : "?";
}

/* ---- URLs ---- */

int h1_parse_url(const char *url, h1_url *ret) {
        h1_url u = { .port = "80" };
        const char *h, *e;
        size_t n;

        if (strncmp(url, "http://", 7) != 0)
                return -EINVAL;
        h = url + 7;
        if (*h == '[') {
                e = strchr(h, ']');
                if (!e || e == h + 1)
                        return -EINVAL;
                n = (size_t) (e - h - 1);
                h++;
                e++;
                u.ipv6 = true;
        } else {
                n = strcspn(h, ":/?#");
                e = h + n;
        }
        if (n == 0 || n >= sizeof u.host)
                return -EINVAL;
        memcpy(u.host, h, n);
        u.host[n] = 0;
        if (*e == ':') {
                size_t p = strspn(e + 1, "0123456789");
                if (p == 0 || p > 5 || atoi(e + 1) < 1 || atoi(e + 1) > 65535)
                        return -EINVAL;
                memcpy(u.port, e + 1, p);
                u.port[p] = 0;
                e += 1 + p;
        }
        if (*e != 0 && *e != '/')
                return -EINVAL;
        u.path = *e ? e : "/";
        *ret = u;
        return 0;
}

/* ---- client ---- */

int h1_client_new(h1_client **ret) {
        h1_client *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

static void close_fd(int *fd) {
        if (*fd >= 0)
                close(*fd);
        *fd = -EBADF;
}

h1_client *h1_client_free(h1_client *c) {
        if (!c)
                return NULL;
        while (c->xfers)
                h1_xfer_free(c, c->xfers);
        while (c->idle) {
                h1_conn *k = c->idle;
                c->idle = k->next;
                close(k->fd);
                free(k);
        }
        free(c);
        return NULL;
}

unsigned h1_active(const h1_client *c) {
        return c->active;
}

/* ---- finishing ---- */

static h1_result fail(h1_xfer *x, h1_result r, const char *format, ...) _printf_(3, 4);

static h1_result fail(h1_xfer *x, h1_result r, const char *format, ...) {
        va_list ap;
        x->result = r;
        va_start(ap, format);
        vsnprintf(x->error, sizeof x->error, format, ap);
        va_end(ap);
        return r;
}

static void keep_idle(h1_client *c, h1_xfer *x) {
        unsigned n = 0;
        for (h1_conn *k = c->idle; k; k = k->next)
                n++;
        h1_conn *k = n < IDLE_MAX ? malloc(sizeof *k) : NULL;
        if (!k) {
                close_fd(&x->fd);
                return;
        }
        k->fd = TAKE_FD(x->fd);
        snprintf(k->key, sizeof k->key, "%s", x->key);
        k->next = c->idle;
        c->idle = k;
}

static void finish(h1_client *c, h1_xfer *x) {
        if (x->result == H1_OK && x->keep_alive && x->fd >= 0)
                keep_idle(c, x);
        else
                close_fd(&x->fd);
        if (x->ai)
                freeaddrinfo(x->ai);
        x->ai = x->ai_next = NULL;
        if (x->out) /* the request may carry a token */
                explicit_bzero(x->out, x->out_len);
        free(x->out);
        x->out = NULL;
        free(x->in);
        x->in = NULL;
        x->phase = XP_DONE;
        c->active--;
}

/* ---- connecting ---- */

static int take_idle(h1_client *c, const char *key) {
        for (h1_conn **p = &c->idle; *p;) {
                h1_conn *k = *p;
                if (!streq(k->key, key)) {
                        p = &k->next;
                        continue;
                }
                *p = k->next;
                int fd = k->fd;
                free(k);
                /* An idle connection has nothing to say: readable means the
                 * server closed it (or sent garbage).  Not usable. */
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                if (poll(&pfd, 1, 0) == 0)
                        return fd;
                close(fd);
        }
        return -EBADF;
}

static h1_result connect_next(h1_xfer *x) {
        for (; x->ai_next; x->ai_next = x->ai_next->ai_next) {
                struct addrinfo *a = x->ai_next;
                int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        continue;
                int one = 1;
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
                        x->fd = fd;
                        x->new_conns++;
                        x->ai_next = a->ai_next;
                        x->phase = XP_CONNECTING;
                        return H1_OK;
                }
                int err = errno;
                close(fd);
                fail(x, H1_CONNECT, "Failed to connect to %s port %s: %s", x->url.host, x->url.port, strerror(err));
        }
        if (x->result == H1_OK)
                fail(x, H1_CONNECT, "Failed to connect to %s port %s", x->url.host, x->url.port);
        return x->result;
}

static h1_result open_fresh(h1_xfer *x) {
        if (!x->ai) {
                struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV,
                                          .ai_family = x->url.ipv6 ? AF_INET6 : AF_UNSPEC };
                if (x->url.ipv6)
                        hints.ai_flags |= AI_NUMERICHOST;
                int k = getaddrinfo(x->url.host, x->url.port, &hints, &x->ai);
                if (k != 0)
                        return fail(x, H1_RESOLVE, "Could not resolve host %s: %s", x->url.host, gai_strerror(k));
        }
        x->ai_next = x->ai;
        return connect_next(x);
}

/* ---- the request ---- */

static bool header_ok(const char *h) {
        return strchr(h, ':') && !strpbrk(h, "\r\n");
}

static int format_request(h1_xfer *x, const h1_request *req) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);
        bool v6 = x->url.ipv6, dflt = streq(x->url.port, "80");

        if (!f)
                return -ENOMEM;
        fprintf(f, "%s %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: kiln/%s\r\nAccept: */*\r\n", req->method,
                x->url.path, v6 ? "[" : "", x->url.host, v6 ? "]" : "", dflt ? "" : ":", dflt ? "" : x->url.port,
                KILN_VERSION);
        for (const char *const *h = req->headers; h && *h; h++)
                fprintf(f, "%s\r\n", *h);
        if (req->body_len > 0 || (!streq(req->method, "GET") && !x->head))
                fprintf(f, "Content-Length: %zu\r\n", req->body_len);
        fputs("\r\n", f);
        if (req->body_len > 0)
                fwrite(req->body, 1, req->body_len, f);
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        x->out_len = size;
        x->out = TAKE_PTR(buf);
        return 0;
}

int h1_start(h1_client *c, const h1_request *req, void *userdata, h1_xfer **ret) {
        h1_xfer *x;
        int r;

        if (!req->method || strpbrk(req->method, " \r\n"))
                return -EINVAL;
        for (const char *const *h = req->headers; h && *h; h++)
                if (!header_ok(*h))
                        return -EINVAL;
        x = calloc(1, sizeof *x);
        if (!x)
                return -ENOMEM;
        x->fd = -EBADF;
        r = h1_parse_url(req->url, &x->url);
        if (r >= 0 && strpbrk(x->url.path, " \r\n"))
                r = -EINVAL;
        x->head = streq(req->method, "HEAD");
        if (r >= 0)
                r = format_request(x, req);
        if (r < 0) {
                free(x->out);
                free(x);
                return r;
        }
        x->userdata = userdata;
        x->max = req->max;
        x->start = now_mono_usec();
        x->deadline = x->start + req->timeout;
        snprintf(x->key, sizeof x->key, "%s|%s", x->url.host, x->url.port);
        x->next = c->xfers;
        c->xfers = x;
        c->active++;

        x->fd = take_idle(c, x->key);
        if (x->fd >= 0) {
                x->reused = true;
                x->phase = XP_SENDING;
        } else if (open_fresh(x) != H1_OK)
                finish(c, x);
        *ret = x;
        return 0;
}

/* ---- the answer ---- */

static h1_result body_append(h1_xfer *x, const char *p, size_t n) {
        if (n > x->max - x->body_len)
                return fail(x, H1_TOO_BIG, "The answer is larger than %zu bytes", x->max);
        if (x->body_len + n + 1 > x->body_cap) {
                size_t cap = MIN(MAX(x->body_cap * 2, x->body_len + n + 1), x->max + 1);
                char *b = realloc(x->body, cap);
                if (!b)
                        return fail(x, H1_NO_MEMORY, "Out of memory");
                x->body = b;
                x->body_cap = cap;
        }
        memcpy(x->body + x->body_len, p, n);
        x->body_len += n;
        x->body[x->body_len] = 0;
        return H1_OK;
}

/* Value of header `name` in the header section, NULL when absent. */
static const char *header_value(const char *sect, const char *name, size_t *ret_len) {
        size_t nl = strlen(name);
        for (const char *l = strchr(sect, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
                const char *h = l + 1;
                if (strncasecmp(h, name, nl) != 0 || h[nl] != ':')
                        continue;
                const char *v = h + nl + 1;
                v += strspn(v, " \t");
                size_t n = strcspn(v, "\r\n");
                while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                        n--;
                *ret_len = n;
                return v;
        }
        return NULL;
}

static bool value_is(const char *v, size_t n, const char *word) {
        return v && n == strlen(word) && strncasecmp(v, word, n) == 0;
}

/* The framing of the body, from the status and the headers. */
static h1_result parse_framing(h1_xfer *x, const char *sect, bool http10) {
        size_t n = 0;
        const char *conn = header_value(sect, "Connection", &n);
        x->keep_alive = http10 ? value_is(conn, n, "keep-alive") : !value_is(conn, n, "close");

        if (x->head || x->status == 204 || x->status == 304) {
                x->fr = FR_NONE;
                return H1_OK;
        }
        const char *te = header_value(sect, "Transfer-Encoding", &n);
        if (te) {
                if (!value_is(te, n, "chunked"))
                        return fail(x, H1_BAD_ANSWER, "Unsupported Transfer-Encoding '%.*s'", (int) MIN(n, 40), te);
                x->fr = FR_CHUNKED;
                x->ch = CH_SIZE;
                return H1_OK;
        }
        const char *cl = header_value(sect, "Content-Length", &n);
        if (!cl) {
                x->fr = FR_CLOSE;
                x->keep_alive = false;
                return H1_OK;
        }
        uint64_t len = 0;
        if (n == 0 || n > 18 || strspn(cl, "0123456789") < n)
                return fail(x, H1_BAD_ANSWER, "Bad Content-Length '%.*s'", (int) MIN(n, 40), cl);
        for (size_t i = 0; i < n; i++)
                len = len * 10 + (uint64_t) (cl[i] - '0');
        if (len > x->max)
                return fail(x, H1_TOO_BIG, "The answer is larger than %zu bytes (Content-Length %llu)", x->max,
                            (unsigned long long) len);
        x->fr = FR_LENGTH;
        x->remaining = len;
        return H1_OK;
}

/* One complete header section (NUL-terminated, ending in its blank line). */
static h1_result parse_head(h1_xfer *x, const char *sect) {
        int minor = -1, status = 0, off = 0;
        if (sscanf(sect, "HTTP/1.%1d %3d%n", &minor, &status, &off) != 2 || status < 100 || status > 999 ||
            (sect[off] != ' ' && sect[off] != '\r' && sect[off] != '\n'))
                return fail(x, H1_BAD_ANSWER, "Not an HTTP/1.x answer");
        x->status = status;
        return parse_framing(x, sect, minor == 0);
}

static h1_result chunk_line(h1_xfer *x, bool *ret_done) {
        x->line[x->line_len] = 0;
        if (x->line_len > 0 && x->line[x->line_len - 1] == '\r')
                x->line[--x->line_len] = 0;
        switch (x->ch) {
        case CH_SIZE: {
                char *end;
                size_t hex = strspn(x->line, "0123456789abcdefABCDEF");
                if (hex == 0 || hex > 15 || (x->line[hex] && x->line[hex] != ';' && x->line[hex] != ' '))
                        return fail(x, H1_BAD_ANSWER, "Bad chunk size line");
                x->remaining = strtoull(x->line, &end, 16);
                x->ch = x->remaining ? CH_DATA : CH_TRAILER;
                break;
        }
        case CH_DATA_END:
                if (x->line_len != 0)
                        return fail(x, H1_BAD_ANSWER, "Bad chunk end");
                x->ch = CH_SIZE;
                break;
        case CH_TRAILER:
                if (x->line_len == 0)
                        *ret_done = true;
                break;
        case CH_DATA:
                break;
        }
        x->line_len = 0;
        return H1_OK;
}

static h1_result feed_chunked(h1_xfer *x, const char *p, size_t n, bool *ret_done) {
        while (n > 0 && !*ret_done) {
                if (x->ch == CH_DATA) {
                        size_t k = (size_t) MIN((uint64_t) n, x->remaining);
                        if (body_append(x, p, k) != H1_OK)
                                return x->result;
                        p += k;
                        n -= k;
                        x->remaining -= k;
                        if (x->remaining == 0)
                                x->ch = CH_DATA_END;
                        continue;
                }
                char ch = *p++;
                n--;
                if (ch == '\n') {
                        if (chunk_line(x, ret_done) != H1_OK)
                                return x->result;
                } else if (x->line_len + 1 < sizeof x->line)
                        x->line[x->line_len++] = ch;
                else
                        return fail(x, H1_BAD_ANSWER, "Chunk line too long");
        }
        if (n > 0)
                x->keep_alive = false; /* bytes after the answer: don't trust the connection */
        return H1_OK;
}

static h1_result feed_body(h1_xfer *x, const char *p, size_t n, bool *ret_done) {
        switch (x->fr) {
        case FR_NONE:
                *ret_done = true;
                if (n > 0)
                        x->keep_alive = false;
                return H1_OK;
        case FR_LENGTH: {
                size_t k = (size_t) MIN((uint64_t) n, x->remaining);
                if (body_append(x, p, k) != H1_OK)
                        return x->result;
                x->remaining -= k;
                if (k < n)
                        x->keep_alive = false;
                *ret_done = x->remaining == 0;
                return H1_OK;
        }
        case FR_CHUNKED:
                return feed_chunked(x, p, n, ret_done);
        case FR_CLOSE:
        default:
                return body_append(x, p, n);
        }
}

/* The end of the header section in in[0..len), or 0. */
static size_t head_end(const char *in, size_t len) {
        for (size_t i = 0; i + 1 < len; i++)
                if (in[i] == '\n' && (in[i + 1] == '\n' || (in[i + 1] == '\r' && i + 2 < len && in[i + 2] == '\n')))
                        return i + (in[i + 1] == '\n' ? 2 : 3);
        return 0;
}

static h1_result feed(h1_xfer *x, const char *p, size_t n, bool *ret_done) {
        while (!x->headers_done) {
                size_t room = H1_HEADER_MAX - x->in_len;
                size_t k = MIN(n, room);
                if (!x->in) {
                        x->in = malloc(H1_HEADER_MAX + 1);
                        if (!x->in)
                                return fail(x, H1_NO_MEMORY, "Out of memory");
                }
                memcpy(x->in + x->in_len, p, k);
                size_t scan_from = x->in_len > 3 ? x->in_len - 3 : 0;
                x->in_len += k;
                size_t end = head_end(x->in + scan_from, x->in_len - scan_from);
                if (end == 0) {
                        if (x->in_len >= H1_HEADER_MAX)
                                return fail(x, H1_BAD_ANSWER, "Header section larger than %u bytes", H1_HEADER_MAX);
                        return H1_OK; /* k == n: all consumed */
                }
                end += scan_from;
                char saved = x->in[end];
                x->in[end] = 0;
                if (parse_head(x, x->in) != H1_OK)
                        return x->result;
                x->in[end] = saved;
                size_t rest = x->in_len - end; /* bytes past the header section: body (or the next head) */
                p = p + k - rest;
                n = n - k + rest;
                x->in_len = 0;
                if (x->status >= 100 && x->status < 200 && x->status != 101)
                        continue; /* an interim answer: the real one follows */
                x->headers_done = true;
        }
        return feed_body(x, p, n, ret_done);
}

/* ---- I/O ---- */

/* A kept-alive connection the server had closed: send the request again,
 * once, on a new one.  Only when no byte of an answer came back. */
static bool retry_stale(h1_xfer *x) {
        if (!x->reused || x->retried || x->received > 0)
                return false;
        x->retried = true;
        x->reused = false;
        close_fd(&x->fd);
        x->out_off = 0;
        return open_fresh(x) == H1_OK;
}

static void on_eof(h1_xfer *x) {
        if (x->received == 0)
                fail(x, H1_EMPTY, "Empty reply from server");
        else if (!x->headers_done)
                fail(x, H1_PARTIAL, "Connection closed in the middle of the answer's headers");
        else if (x->fr == FR_CLOSE)
                x->result = H1_OK;
        else if (x->fr == FR_LENGTH)
                fail(x, H1_PARTIAL, "Transferred a partial file: closed with %llu bytes remaining to read",
                     (unsigned long long) x->remaining);
        else
                fail(x, H1_PARTIAL, "Transferred a partial file: closed in the middle of a chunked answer");
}

/* Returns true when the transfer is finished (result set). */
static bool do_recv(h1_xfer *x) {
        char buf[16384];
        for (;;) {
                ssize_t k = recv(x->fd, buf, sizeof buf, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return false;
                        int err = errno;
                        if (retry_stale(x))
                                return x->result != H1_OK;
                        fail(x, H1_RECV, "Recv failure: %s", strerror(err));
                        return true;
                }
                if (k == 0) {
                        if (x->received == 0 && retry_stale(x))
                                return x->result != H1_OK;
                        on_eof(x);
                        return true;
                }
                bool done = false;
                x->received += (size_t) k;
                if (feed(x, buf, (size_t) k, &done) != H1_OK)
                        return true;
                if (done)
                        return true;
        }
}

static bool do_send(h1_xfer *x) {
        while (x->out_off < x->out_len) {
                ssize_t k = send(x->fd, x->out + x->out_off, x->out_len - x->out_off, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return false;
                        int err = errno;
                        if (retry_stale(x))
                                return x->result != H1_OK;
                        fail(x, H1_SEND, "Send failure: %s", strerror(err));
                        return true;
                }
                x->out_off += (size_t) k;
        }
        x->phase = XP_RECEIVING;
        return false;
}

static bool do_connected(h1_xfer *x) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        if (err == 0) {
                x->phase = XP_SENDING;
                return do_send(x);
        }
        close_fd(&x->fd);
        fail(x, H1_CONNECT, "Failed to connect to %s port %s: %s", x->url.host, x->url.port, strerror(err));
        if (x->ai_next) {
                x->result = H1_OK;
                if (connect_next(x) == H1_OK)
                        return false;
        }
        return true;
}

/* Moves the transfer along; true when it finished. */
static bool progress(h1_xfer *x, short revents) {
        switch (x->phase) {
        case XP_CONNECTING:
                return revents ? do_connected(x) : false;
        case XP_SENDING:
                if (do_send(x))
                        return true;
                if (x->phase != XP_RECEIVING)
                        return false;
                __attribute__((fallthrough));
        case XP_RECEIVING:
                return (revents & (POLLIN | POLLHUP | POLLERR)) ? do_recv(x) : false;
        case XP_DONE:
        default:
                return false;
        }
}

static void check_timeout(h1_client *c, h1_xfer *x, usec_t now) {
        if (x->phase == XP_DONE || now < x->deadline)
                return;
        fail(x, H1_TIMEOUT, "Operation timed out after %llu milliseconds with %zu bytes received",
             (unsigned long long) ((now - x->start) / USEC_PER_MSEC), x->received);
        finish(c, x);
}

int h1_wait(h1_client *c, int timeout_ms) {
        struct pollfd pfd[64];
        h1_xfer *px[64];
        size_t n = 0;
        usec_t now = now_mono_usec();

        for (h1_xfer *x = c->xfers; x; x = x->next) {
                if (x->phase == XP_DONE) {
                        if (!x->reported)
                                timeout_ms = 0; /* something to report already */
                        continue;
                }
                if (n == ELEMENTSOF(pfd))
                        return -E2BIG;
                usec_t left = x->deadline > now ? x->deadline - now : 0;
                timeout_ms = (int) MIN((usec_t) timeout_ms, (left + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
                pfd[n] = (struct pollfd){ .fd = x->fd, .events = x->phase == XP_RECEIVING ? POLLIN : POLLOUT };
                px[n++] = x;
        }
        if (poll(pfd, n, MAX(timeout_ms, 0)) < 0 && errno != EINTR)
                return -errno;
        for (size_t i = 0; i < n; i++)
                if (progress(px[i], pfd[i].revents))
                        finish(c, px[i]);
        now = now_mono_usec();
        for (h1_xfer *x = c->xfers; x; x = x->next)
                check_timeout(c, x, now);
        return 0;
}

h1_xfer *h1_next_done(h1_client *c) {
        for (h1_xfer *x = c->xfers; x; x = x->next)
                if (x->phase == XP_DONE && !x->reported) {
                        x->reported = true;
                        return x;
                }
        return NULL;
}

void h1_xfer_free(h1_client *c, h1_xfer *x) {
        if (!x)
                return;
        for (h1_xfer **p = &c->xfers; *p; p = &(*p)->next)
                if (*p == x) {
                        *p = x->next;
                        break;
                }
        if (x->phase != XP_DONE) {
                x->keep_alive = false;
                finish(c, x);
        }
        free(x->body);
        free(x);
}

/* ---- results ---- */

void *h1_xfer_userdata(const h1_xfer *x) {
        return x->userdata;
}

h1_result h1_xfer_result(const h1_xfer *x) {
        return x->result;
}

int h1_xfer_status(const h1_xfer *x) {
        return x->status;
}

const char *h1_xfer_error(const h1_xfer *x) {
        return x->error;
}

const char *h1_xfer_body(const h1_xfer *x, size_t *ret_len) {
        if (ret_len)
                *ret_len = x->body_len;
        return x->body ? x->body : "";
}

char *h1_xfer_take_body(h1_xfer *x, size_t *ret_len) {
        char *b = x->body ? TAKE_PTR(x->body) : strdup("");
        if (b && ret_len)
                *ret_len = x->body_len;
        x->body_len = x->body_cap = 0;
        return b;
}

unsigned h1_xfer_new_connections(const h1_xfer *x) {
        return x->new_conns;
}
