/* http.c — see http.h.
 *
 * One CURL easy handle per http_client: curl_easy_reset() between requests
 * clears every option but keeps the connection cache, so a second request
 * to the same host:port reuses the connection.  Options are set afresh for
 * each request, so nothing one request asked for leaks into the next. */
#include <curl/curl.h>
#include <stdlib.h>
#include <strings.h>

#include "http.h"

struct http_client {
        CURL *curl;
};

typedef struct sink {
        char *buf;
        size_t len, cap, max;
        bool too_big;
} sink;

static void global_cleanup(void) {
        curl_global_cleanup();
}

static int global_init(void) {
        static int done; /* 1 ok, <0 failed */
        if (done == 0) {
                done = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 1 : -EIO;
                if (done > 0)
                        (void) atexit(global_cleanup);
        }
        return done < 0 ? done : 0;
}

int http_client_new(http_client **ret) {
        int r = global_init();
        if (r < 0)
                return r;
        http_client *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->curl = curl_easy_init();
        if (!c->curl) {
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

http_client *http_client_free(http_client *c) {
        if (c) {
                curl_easy_cleanup(c->curl);
                free(c);
        }
        return NULL;
}

void http_response_clear(http_response *r) {
        free(r->body);
        *r = (http_response){};
}

static size_t sink_write(char *data, size_t size, size_t n, void *userdata) {
        sink *s = userdata;
        size_t len = size * n;

        if (len > s->max - s->len) {
                s->too_big = true;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        if (s->len + len + 1 > s->cap) {
                size_t cap = MAX(s->cap * 2, s->len + len + 1);
                char *b = realloc(s->buf, MIN(cap, s->max + 1));
                if (!b)
                        return 0;
                s->buf = b;
                s->cap = MIN(cap, s->max + 1);
        }
        memcpy(s->buf + s->len, data, len);
        s->len += len;
        s->buf[s->len] = 0;
        return len;
}

static bool has_header(const char *const *headers, const char *name) {
        size_t n = strlen(name);
        for (const char *const *h = headers; h && *h; h++)
                if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
                        return true;
        return false;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

static int append_header(struct curl_slist **list, const char *h) {
        /* curl sends a header line as given: a CR or LF inside (a token from
         * user-data, say) would add headers of its own to the request. */
        if (strpbrk(h, "\r\n"))
                return -EINVAL;
        struct curl_slist *t = curl_slist_append(*list, h);
        if (!t)
                return -ENOMEM;
        *list = t;
        return 0;
}

/* The caller's headers, plus "Expect:" (no 100-continue round trip) and an
 * empty Content-Type (not curl's form default) for requests with a body. */
static int build_headers(const http_request *req, bool body, struct curl_slist **ret) {
        _cleanup_(curl_slist_free_allp) struct curl_slist *list = NULL;
        int r = 0;

        for (const char *const *h = req->headers; r >= 0 && h && *h; h++)
                r = append_header(&list, *h);
        if (r >= 0 && body)
                r = append_header(&list, "Expect:");
        if (r >= 0 && body && !has_header(req->headers, "Content-Type"))
                r = append_header(&list, "Content-Type:");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(list);
        return 0;
}

static long ms_of(usec_t t) {
        return (long) MAX(t / USEC_PER_MSEC, 1ULL);
}

static int set_options(CURL *curl, const http_request *req, struct curl_slist *headers, sink *s) {
        const char *method = req->method ? req->method : "GET";
        usec_t timeout = req->timeout ? req->timeout : HTTP_TIMEOUT_DEFAULT;
        usec_t connect = MIN(req->connect_timeout ? req->connect_timeout : HTTP_CONNECT_TIMEOUT_DEFAULT, timeout);
        bool get = streq(method, "GET"), head = streq(method, "HEAD");
        CURLcode e = CURLE_OK;

#define SET(opt, val) (e = e != CURLE_OK ? e : curl_easy_setopt(curl, opt, val))
        SET(CURLOPT_URL, req->url);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_PROXY, "");       /* "" switches proxies off, whatever the environment says */
        SET(CURLOPT_NOPROXY, "*");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_TIMEOUT_MS, ms_of(timeout));
        SET(CURLOPT_CONNECTTIMEOUT_MS, ms_of(connect));
        SET(CURLOPT_USERAGENT, "kiln/" KILN_VERSION);
        SET(CURLOPT_HTTPHEADER, headers);
        SET(CURLOPT_WRITEFUNCTION, sink_write);
        SET(CURLOPT_WRITEDATA, s);
        if (head)
                SET(CURLOPT_NOBODY, 1L);
        else if (!get) {
                SET(CURLOPT_CUSTOMREQUEST, method);
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
                SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        }
#undef SET
        if (e == CURLE_UNKNOWN_OPTION || e == CURLE_NOT_BUILT_IN || e == CURLE_UNSUPPORTED_PROTOCOL)
                return -EINVAL;
        return e == CURLE_OK ? 0 : -ENOMEM;
}

static int error_of(CURL *curl, CURLcode e, const sink *s) {
        long os_errno = 0;

        switch (e) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
                return -EINVAL;
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
                (void) curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
                return os_errno > 0 ? (int) -os_errno : -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
                return -ECONNRESET;
        case CURLE_PARTIAL_FILE:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_BAD_CONTENT_ENCODING:
                return -EPROTO;
        case CURLE_WRITE_ERROR:
                return s->too_big ? -EFBIG : -ENOMEM;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -EIO;
        }
}

int http_client_send(http_client *c, const http_request *req, http_response *ret) {
        sink s = { .max = req->response_max ? req->response_max : HTTP_RESPONSE_MAX_DEFAULT };
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        long status = 0;
        int r;

        if (!c || !req->url || !(startswith(req->url, "http://") || startswith(req->url, "https://")))
                return -EINVAL;
        curl_easy_reset(c->curl);
        r = build_headers(req, !streq(req->method ? req->method : "GET", "GET"), &headers);
        if (r >= 0)
                r = set_options(c->curl, req, headers, &s);
        if (r >= 0) {
                CURLcode e = curl_easy_perform(c->curl);
                r = e == CURLE_OK ? 0 : error_of(c->curl, e, &s);
        }
        if (r >= 0 && curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
                r = -EPROTO;
        if (r >= 0 && !s.buf && !(s.buf = strdup("")))
                r = -ENOMEM;
        if (r < 0) {
                free(s.buf);
                return r;
        }
        *ret = (http_response){ .status = status, .body = s.buf, .body_len = s.len };
        return 0;
}

bool http_error_is_transient(int error) {
        switch (error) {
        case -ECONNREFUSED:
        case -ETIMEDOUT:
        case -ECONNRESET:
        case -EPROTO:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -EIO:
                return true;
        default:
                return false;
        }
}
