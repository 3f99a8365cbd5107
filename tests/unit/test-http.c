/* Unit tests for http.c against a tiny HTTP server on a loopback port, run
 * in a thread of the test: what goes over the wire (method, headers, body,
 * no Expect: 100-continue, no proxy even when http_proxy says so), what
 * comes back (status and body), keep-alive reuse, and each failure mapped
 * to its errno (refused, reset, truncated, too big, timed out, bad URL). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

#include "http.h"

typedef enum mode {
        MODE_OK,        /* 200 "hello" (keep-alive) */
        MODE_STATUS,    /* 503 with a body */
        MODE_BIG,       /* 200 with 64 KiB */
        MODE_RESET,     /* close without a byte */
        MODE_TRUNCATE,  /* promise 100 bytes, send 10, close */
        MODE_SLOW,      /* answer after 1.5 s */
} mode;

typedef struct server {
        int fd;
        int port;
        mode mode;
        int accepts;
        char buf[8192];
        char request[8192]; /* the last complete request */
        pthread_t thread;
} server;

static server srv;

static void send_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                s += k;
                n -= (size_t) k;
        }
}

/* Reads one request (headers + Content-Length body), then copies it to
 * srv.request before answering; false at EOF. */
static bool read_request(int fd) {
        size_t len = 0;
        char *end = NULL;
        memset(srv.buf, 0, sizeof srv.buf);
        while (!(end = strstr(srv.buf, "\r\n\r\n"))) {
                ssize_t k = recv(fd, srv.buf + len, sizeof srv.buf - 1 - len, 0);
                if (k <= 0)
                        return false;
                len += (size_t) k;
        }
        const char *cl = strcasestr(srv.buf, "Content-Length:");
        size_t want = (size_t) (end + 4 - srv.buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
        while (len < want) {
                ssize_t k = recv(fd, srv.buf + len, sizeof srv.buf - 1 - len, 0);
                if (k <= 0)
                        return false;
                len += (size_t) k;
        }
        memcpy(srv.request, srv.buf, sizeof srv.request);
        return true;
}

/* Answers one request; false when the connection must close. */
static bool answer(int fd) {
        static char big[64 * 1024 + 128];
        switch (srv.mode) {
        case MODE_OK:
                send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 43);
                return true;
        case MODE_STATUS:
                send_all(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", 59);
                return true;
        case MODE_BIG: {
                int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 64 * 1024);
                memset(big + n, 'x', 64 * 1024);
                send_all(fd, big, (size_t) n + 64 * 1024);
                return false;
        }
        case MODE_RESET:
                return false;
        case MODE_TRUNCATE:
                send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 50);
                return false;
        case MODE_SLOW:
                usleep(1500 * 1000);
                send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
                return false;
        }
        return false;
}

static void *serve(void *arg) {
        (void) arg;
        for (;;) {
                int c = accept(srv.fd, NULL, NULL);
                if (c < 0)
                        return NULL;
                srv.accepts++;
                while (read_request(c) && answer(c))
                        ;
                close(c);
        }
}

static int setup(void **state) {
        (void) state;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t n = sizeof a;
        srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(srv.fd >= 0);
        assert_int_equal(bind(srv.fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(srv.fd, 8), 0);
        assert_int_equal(getsockname(srv.fd, (struct sockaddr *) &a, &n), 0);
        srv.port = ntohs(a.sin_port);
        return pthread_create(&srv.thread, NULL, serve, NULL);
}

static int teardown(void **state) {
        (void) state;
        shutdown(srv.fd, SHUT_RDWR);
        close(srv.fd);
        pthread_join(srv.thread, NULL);
        return 0;
}

static char *url(const char *path) {
        char *u = NULL;
        assert_true(asprintf(&u, "http://127.0.0.1:%d%s", srv.port, path) > 0);
        return u;
}

static void test_put_with_headers_and_body(void **state) {
        (void) state;
        _cleanup_http_client_ http_client *c = NULL;
        _cleanup_http_response_ http_response r = {};
        _cleanup_free_ char *u = url("/v1/agent/service/register?replace-existing-checks=true");
        const char *headers[] = { "X-Consul-Token: tok", "Content-Type: application/json", NULL };
        http_request req = { .method = "PUT", .url = u, .headers = headers, .body = "{\"Name\":\"x\"}", .body_len = 12 };

        srv.mode = MODE_OK;
        setenv("http_proxy", "http://127.0.0.1:1", 1); /* must be ignored */
        assert_int_equal(http_client_new(&c), 0);
        assert_int_equal(http_client_send(c, &req, &r), 0);
        unsetenv("http_proxy");
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello");
        assert_int_equal(r.body_len, 5);
        assert_true(startswith(srv.request, "PUT /v1/agent/service/register?replace-existing-checks=true HTTP/1.1\r\n"));
        assert_non_null(strstr(srv.request, "\r\nX-Consul-Token: tok\r\n"));
        assert_non_null(strstr(srv.request, "\r\nContent-Type: application/json\r\n"));
        assert_non_null(strstr(srv.request, "\r\nContent-Length: 12\r\n"));
        assert_null(strcasestr(srv.request, "Expect:"));
        assert_true(endswith(srv.request, "\r\n\r\n{\"Name\":\"x\"}"));
}

static void test_keep_alive_and_status(void **state) {
        (void) state;
        _cleanup_http_client_ http_client *c = NULL;
        _cleanup_free_ char *u = url("/a");
        int before = srv.accepts;

        assert_int_equal(http_client_new(&c), 0);
        srv.mode = MODE_OK;
        for (int i = 0; i < 3; i++) {
                _cleanup_http_response_ http_response r = {};
                http_request req = { .url = u };
                assert_int_equal(http_client_send(c, &req, &r), 0);
                assert_int_equal(r.status, 200);
                assert_true(startswith(srv.request, "GET /a HTTP/1.1\r\n"));
        }
        assert_int_equal(srv.accepts - before, 1);
        /* a PUT without a body says Content-Length: 0 and no form content type */
        _cleanup_http_response_ http_response e = {};
        http_request put = { .method = "PUT", .url = u };
        assert_int_equal(http_client_send(c, &put, &e), 0);
        assert_non_null(strstr(srv.request, "\r\nContent-Length: 0\r\n"));
        assert_null(strstr(srv.request, "x-www-form-urlencoded"));
        /* a 503 is an answer, not an error */
        _cleanup_http_response_ http_response s = {};
        srv.mode = MODE_STATUS;
        assert_int_equal(http_client_send(c, &put, &s), 0);
        assert_int_equal(s.status, 503);
        assert_string_equal(s.body, "busy");
}

static void expect_error(mode m, const http_request *req, int want) {
        _cleanup_http_client_ http_client *c = NULL;
        http_response r = { .status = 42 };
        srv.mode = m;
        assert_int_equal(http_client_new(&c), 0);
        assert_int_equal(http_client_send(c, req, &r), want);
        assert_int_equal(r.status, 42); /* untouched on failure */
}

static void test_errors(void **state) {
        (void) state;
        _cleanup_free_ char *u = url("/x");
        http_request req = { .url = u };

        expect_error(MODE_RESET, &req, -ECONNRESET);
        expect_error(MODE_TRUNCATE, &req, -EPROTO);
        http_request small = { .url = u, .response_max = 1024 };
        expect_error(MODE_BIG, &small, -EFBIG);
        http_request fine = { .url = u };
        _cleanup_http_client_ http_client *c = NULL;
        _cleanup_http_response_ http_response r = {};
        srv.mode = MODE_BIG;
        assert_int_equal(http_client_new(&c), 0);
        assert_int_equal(http_client_send(c, &fine, &r), 0);
        assert_int_equal(r.body_len, 64 * 1024);
        http_request slow = { .url = u, .timeout = 300 * USEC_PER_MSEC };
        expect_error(MODE_SLOW, &slow, -ETIMEDOUT);
        http_request ftp = { .url = "ftp://127.0.0.1/x" };
        expect_error(MODE_OK, &ftp, -EINVAL);
        http_request garbage = { .url = "http://" };
        expect_error(MODE_OK, &garbage, -EINVAL);
        /* a CR or LF in a header line would inject headers (a token from user-data): refused, nothing sent */
        static const char *const injected[] = { "X-Consul-Token: abc\r\nX-Injected: yes", NULL };
        static const char *const bare_lf[] = { "X-Consul-Token: abc\nX-Injected: yes", NULL };
        http_request inj = { .url = u, .headers = injected };
        expect_error(MODE_OK, &inj, -EINVAL);
        http_request lf = { .url = u, .headers = bare_lf };
        expect_error(MODE_OK, &lf, -EINVAL);
}

static void test_refused(void **state) {
        (void) state;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t n = sizeof a;
        _cleanup_free_ char *u = NULL;

        /* a port that was just free: bound, never listening, then closed */
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &n), 0);
        close(fd);
        assert_true(asprintf(&u, "http://127.0.0.1:%d/", ntohs(a.sin_port)) > 0);
        http_request req = { .url = u };
        expect_error(MODE_OK, &req, -ECONNREFUSED);
        assert_true(http_error_is_transient(-ECONNREFUSED));
        assert_true(http_error_is_transient(-ETIMEDOUT));
        assert_false(http_error_is_transient(-EINVAL));
        assert_false(http_error_is_transient(-EFBIG));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_put_with_headers_and_body),
                cmocka_unit_test(test_keep_alive_and_status),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_refused),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
