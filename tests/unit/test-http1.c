/* Unit tests for agent/http1.c, the HTTP/1.1 client IMDS runs on.
 *
 * A scripted server on 127.0.0.1 (a thread of this test) answers each
 * request with canned bytes, so every way an answer can be framed, cut or
 * malformed is checked byte for byte: Content-Length, chunked (with
 * extensions and trailers), close-delimited, interim 1xx, HTTP/1.0, too big
 * (by header and by bytes), truncated, empty, garbage, a silent server (the
 * timeout), a refused port, and a kept-alive connection the server closed
 * (sent again on a fresh one).  The IMDS conversation on top of it is tested
 * against the emulator in tests/integration/test_imds.py.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "http1.h"
#include "macro.h"

/* ---- the scripted server ---- */

typedef struct server {
        int listen_fd;
        int port;
        pthread_t thread;
        const char *answer;    /* sent after each request */
        size_t answer_len;
        bool close_after;      /* close the connection after each answer */
        bool silent;           /* read the request, never answer */
        unsigned connections;  /* accepted so far */
        unsigned requests;
        volatile int conn_fd;  /* the connection being served, -1 when none */
        char last_request[2048];
} server;

static bool read_request(int fd, server *s) {
        size_t n = 0;
        while (n < sizeof s->last_request - 1) {
                ssize_t k = recv(fd, s->last_request + n, sizeof s->last_request - 1 - n, 0);
                if (k <= 0)
                        return false;
                n += (size_t) k;
                s->last_request[n] = 0;
                if (strstr(s->last_request, "\r\n\r\n"))
                        return true;
        }
        return false;
}

static void *serve(void *arg) {
        server *s = arg;
        for (;;) {
                int fd = accept(s->listen_fd, NULL, NULL);
                if (fd < 0)
                        return NULL;
                s->connections++;
                s->conn_fd = fd;
                while (read_request(fd, s)) {
                        s->requests++;
                        if (s->silent)
                                continue;
                        (void) !send(fd, s->answer, s->answer_len, MSG_NOSIGNAL);
                        if (s->close_after)
                                break;
                }
                s->conn_fd = -1;
                close(fd);
        }
}

/* Everything the thread reads is set before it starts. */
static void server_start(server *s, const char *answer, bool close_after, bool silent) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;

        *s = (server){ .answer = answer, .answer_len = strlen(answer), .close_after = close_after, .silent = silent,
                       .conn_fd = -1 };
        s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->listen_fd >= 0);
        assert_int_equal(bind(s->listen_fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(s->listen_fd, 8), 0);
        assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *) &a, &len), 0);
        s->port = ntohs(a.sin_port);
        assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(server *s) {
        int fd = s->conn_fd;
        if (fd >= 0) /* a kept-alive connection: the client may never close it */
                shutdown(fd, SHUT_RDWR);
        shutdown(s->listen_fd, SHUT_RDWR);
        close(s->listen_fd);
        pthread_join(s->thread, NULL);
}

/* ---- one request against it ---- */

typedef struct outcome {
        h1_result result;
        int status;
        char *body;
        size_t len;
        unsigned new_conns;
        char error[H1_ERROR_MAX];
} outcome;

static outcome fetch_with(h1_client *c, const server *s, const char *method, size_t max, usec_t timeout) {
        char url[64];
        const char *headers[] = { "X-Test: yes", NULL };
        h1_xfer *x = NULL, *done = NULL;
        outcome o = { 0 };

        snprintf(url, sizeof url, "http://127.0.0.1:%d/latest/meta-data/x", s->port);
        h1_request req = { .method = method, .url = url, .headers = headers, .timeout = timeout, .max = max };
        assert_int_equal(h1_start(c, &req, &o, &x), 0);
        assert_ptr_equal(h1_xfer_userdata(x), &o);
        for (int i = 0; i < 1000 && !done; i++) {
                assert_int_equal(h1_wait(c, 100), 0);
                done = h1_next_done(c);
        }
        assert_ptr_equal(done, x);
        assert_null(h1_next_done(c));
        o.result = h1_xfer_result(x);
        o.status = h1_xfer_status(x);
        o.new_conns = h1_xfer_new_connections(x);
        snprintf(o.error, sizeof o.error, "%s", h1_xfer_error(x));
        o.body = h1_xfer_take_body(x, &o.len);
        h1_xfer_free(c, x);
        assert_int_equal(h1_active(c), 0);
        return o;
}

static outcome fetch(const char *answer, size_t max) {
        _cleanup_h1_client_ h1_client *c = NULL;
        server s;
        server_start(&s, answer, true, false); /* closing ends a close-delimited, cut or empty answer */
        assert_int_equal(h1_client_new(&c), 0);
        outcome o = fetch_with(c, &s, "GET", max, 2 * USEC_PER_SEC);
        server_stop(&s);
        return o;
}

static void expect(const char *answer, size_t max, h1_result result, int status, const char *body) {
        outcome o = fetch(answer, max);
        if (o.result != result)
                fail_msg("answer %.40s...: result %s (%s), expected %s", answer, h1_result_to_string(o.result), o.error,
                         h1_result_to_string(result));
        assert_int_equal(o.status, status);
        if (body) {
                assert_int_equal(o.len, strlen(body));
                assert_memory_equal(o.body, body, o.len);
        }
        free(o.body);
}

/* ---- tests ---- */

static void test_parse_url(void **state) {
        (void) state;
        h1_url u;

        assert_int_equal(h1_parse_url("http://169.254.169.254/latest/api/token", &u), 0);
        assert_string_equal(u.host, "169.254.169.254");
        assert_string_equal(u.port, "80");
        assert_string_equal(u.path, "/latest/api/token");
        assert_false(u.ipv6);
        assert_int_equal(h1_parse_url("http://[fd00:ec2::254]:8080", &u), 0);
        assert_string_equal(u.host, "fd00:ec2::254");
        assert_string_equal(u.port, "8080");
        assert_string_equal(u.path, "/");
        assert_true(u.ipv6);
        assert_int_equal(h1_parse_url("http://imds.internal:1/x", &u), 0);
        assert_string_equal(u.host, "imds.internal");

        const char *bad[] = { "https://169.254.169.254/", "http:///x", "http://[]/", "http://[::1/",
                              "http://h:0/", "http://h:65536/", "http://h:/", "http://h:12x/", "ftp://h/",
                              "http://h?q", "http://h#f" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (h1_parse_url(bad[i], &u) != -EINVAL)
                        fail_msg("%s accepted", bad[i]);
}

static void test_request_bytes(void **state) {
        (void) state;
        _cleanup_h1_client_ h1_client *c = NULL;
        server s;

        server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false);
        assert_int_equal(h1_client_new(&c), 0);
        outcome o = fetch_with(c, &s, "PUT", 100, USEC_PER_SEC);
        assert_int_equal(o.result, H1_OK);
        free(o.body);
        server_stop(&s);
        char expected[256];
        snprintf(expected, sizeof expected,
                 "PUT /latest/meta-data/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: kiln/" KILN_VERSION
                 "\r\nAccept: */*\r\nX-Test: yes\r\nContent-Length: 0\r\n\r\n", s.port);
        assert_string_equal(s.last_request, expected);

        /* header injection is refused before anything is sent */
        h1_xfer *x = NULL;
        const char *evil[] = { "X-A: b\r\nX-Injected: 1", NULL };
        h1_request req = { .method = "GET", .url = "http://127.0.0.1:1/", .headers = evil, .timeout = 1, .max = 1 };
        assert_int_equal(h1_start(c, &req, NULL, &x), -EINVAL);
        req.headers = NULL;
        req.url = "http://127.0.0.1:1/a b";
        assert_int_equal(h1_start(c, &req, NULL, &x), -EINVAL);
        req.url = "https://127.0.0.1/";
        assert_int_equal(h1_start(c, &req, NULL, &x), -EINVAL);
}

static void test_framing(void **state) {
        (void) state;
        expect("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 100, H1_OK, 200, "hello");
        expect("HTTP/1.1 200 OK\r\ncontent-length:   3  \r\nServer: EC2ws\r\n\r\nabc", 100, H1_OK, 200, "abc");
        expect("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 100, H1_OK, 404, "");
        expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3;ext=1\r\nabc\r\n0a\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n", 100, H1_OK, 200, "abc0123456789");
        expect("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", 100, H1_OK, 200, "until the end");
        expect("HTTP/1.0 200 OK\r\n\r\nold", 100, H1_OK, 200, "old");
        expect("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 100, H1_OK, 200, "ok");
        expect("HTTP/1.1 204 No Content\r\n\r\n", 100, H1_OK, 204, "");
        expect("HTTP/1.1 200 OK\nContent-Length: 2\n\nlf", 100, H1_OK, 200, "lf"); /* bare LF lines */
        /* exactly max is fine, one byte more is not */
        expect("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfour", 4, H1_OK, 200, "four");
        expect("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfive!", 4, H1_TOO_BIG, 200, NULL);
        expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfive!\r\n0\r\n\r\n", 4, H1_TOO_BIG, 200,
               NULL);
        expect("HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\n0123456789", 4, H1_TOO_BIG, 503, NULL);
}

static void test_broken_answers(void **state) {
        (void) state;
        expect("", 100, H1_EMPTY, 0, NULL);
        expect("HTTP/1.1 200 OK\r\nContent-Len", 100, H1_PARTIAL, 0, NULL);
        expect("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhalf", 100, H1_PARTIAL, 200, NULL);
        expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nab", 100, H1_PARTIAL,
               200, NULL);
        expect("SSH-2.0-OpenSSH_9.2\r\n\r\n", 100, H1_BAD_ANSWER, 0, NULL);
        expect("HTTP/2 200\r\n\r\n", 100, H1_BAD_ANSWER, 0, NULL);
        expect("HTTP/1.1 20 OK\r\n\r\n", 100, H1_BAD_ANSWER, 0, NULL);
        expect("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 100, H1_BAD_ANSWER, 200, NULL);
        expect("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 100, H1_BAD_ANSWER, 200, NULL);
        expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 100, H1_BAD_ANSWER, 200, NULL);
        expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100, H1_BAD_ANSWER, 200, NULL);
}

static void test_header_bound(void **state) {
        (void) state;
        size_t n = H1_HEADER_MAX + 100;
        _cleanup_free_ char *big = malloc(n + 1);
        assert_non_null(big);
        memset(big, 'a', n);
        memcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
        big[n] = 0;
        expect(big, 100, H1_BAD_ANSWER, 0, NULL);
}

static void test_keep_alive_and_stale(void **state) {
        (void) state;
        _cleanup_h1_client_ h1_client *c = NULL;
        server s;

        assert_int_equal(h1_client_new(&c), 0);
        server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1", false, false);
        outcome a = fetch_with(c, &s, "GET", 10, USEC_PER_SEC), b = fetch_with(c, &s, "GET", 10, USEC_PER_SEC);
        assert_int_equal(a.result, H1_OK);
        assert_int_equal(b.result, H1_OK);
        assert_int_equal(a.new_conns, 1);
        assert_int_equal(b.new_conns, 0); /* the same connection */
        free(a.body);
        free(b.body);
        server_stop(&s);
        assert_int_equal(s.connections, 1);

        /* the server closes after each answer, though it did not say so: the
         * second request finds the kept connection dead and goes again on a new one */
        server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2", true, false);
        a = fetch_with(c, &s, "GET", 10, USEC_PER_SEC);
        b = fetch_with(c, &s, "GET", 10, USEC_PER_SEC);
        assert_int_equal(a.result, H1_OK);
        assert_int_equal(b.result, H1_OK);
        assert_string_equal(b.body, "2");
        assert_int_equal(b.new_conns, 1);
        free(a.body);
        free(b.body);
        server_stop(&s);
        assert_int_equal(s.connections, 2);
}

static void test_timeout_and_refused(void **state) {
        (void) state;
        _cleanup_h1_client_ h1_client *c = NULL;
        server s;

        assert_int_equal(h1_client_new(&c), 0);
        server_start(&s, "", false, true);
        usec_t t0 = now_mono_usec();
        outcome o = fetch_with(c, &s, "GET", 10, 200 * USEC_PER_MSEC);
        usec_t took = now_mono_usec() - t0;
        assert_int_equal(o.result, H1_TIMEOUT);
        assert_non_null(strstr(o.error, "timed out after"));
        assert_true(took >= 200 * USEC_PER_MSEC && took < 1500 * USEC_PER_MSEC);
        free(o.body);
        server_stop(&s);

        /* nothing listens there any more */
        o = fetch_with(c, &s, "GET", 10, USEC_PER_SEC);
        assert_int_equal(o.result, H1_CONNECT);
        assert_non_null(strstr(o.error, "refused"));
        free(o.body);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_url),      cmocka_unit_test(test_request_bytes),
                cmocka_unit_test(test_framing),        cmocka_unit_test(test_broken_answers),
                cmocka_unit_test(test_header_bound),   cmocka_unit_test(test_keep_alive_and_stale),
                cmocka_unit_test(test_timeout_and_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
