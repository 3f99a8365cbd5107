/* consul-api.c — see consul-api.h. */
#include <stdio.h>
#include <time.h>

#include "consul-api.h"
#include "fileio.h"
#include "http.h"
#include "json-util.h"
#include "log.h"

#define BACKOFF_FIRST (250 * USEC_PER_MSEC)
#define BACKOFF_MAX (2 * USEC_PER_SEC)
#define REQUEST_TIMEOUT (5 * USEC_PER_SEC)
#define REQUEST_TIMEOUT_MIN (1 * USEC_PER_SEC)
#define TOKEN_HEADER "X-Consul-Token: "

struct consul_api {
        http_client *http;
        char *base_url;
        char *token;
        char *token_header; /* "X-Consul-Token: <token>" */
        uint64_t rng;
};

int consul_api_new(const char *base_url, const char *token, consul_api **ret) {
        consul_api *a = calloc(1, sizeof *a);
        int r;

        if (!a)
                return -ENOMEM;
        a->rng = now_usec() ^ ((uint64_t) getpid() << 32) ^ (uint64_t) (uintptr_t) a;
        a->base_url = strdup(base_url);
        a->token = strdup_or_null(isempty(token) ? NULL : token);
        r = a->base_url && (isempty(token) || a->token) ? http_client_new(&a->http) : -ENOMEM;
        if (r >= 0 && a->token && asprintf(&a->token_header, TOKEN_HEADER "%s", a->token) < 0)
                r = -ENOMEM;
        if (r < 0) {
                consul_api_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

consul_api *consul_api_free(consul_api *a) {
        if (!a)
                return NULL;
        http_client_free(a->http);
        free(a->base_url);
        if (a->token)
                explicit_bzero(a->token, strlen(a->token));
        if (a->token_header)
                explicit_bzero(a->token_header, strlen(a->token_header));
        free(a->token);
        free(a->token_header);
        free(a);
        return NULL;
}

void consul_result_clear(consul_result *r) {
        free(r->message);
        *r = (consul_result){};
}

/* ---- answers ---- */

/* The token is starred out of the whole answer first, then the answer is
 * made one line and cut: cut first, a token straddling the cut would have
 * left its prefix behind. */
char *consul_message_clean(const char *body, const char *token) {
        _cleanup_free_ char *m = strdup(body);
        if (!m)
                return NULL;
        if (!isempty(token))
                for (char *p = m, *hit; (hit = strstr(p, token)); p = hit + strlen(token))
                        memset(hit, '*', strlen(token));
        if (strlen(m) > CONSUL_MESSAGE_MAX)
                m[CONSUL_MESSAGE_MAX] = 0;
        for (char *c = m; *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        *c = ' ';
        return strdup(strstrip(m));
}

char *consul_result_describe(const consul_result *r) {
        char *s = NULL;
        int k;
        if (r->status > 0)
                k = asprintf(&s, "%ld %s", r->status, isempty(r->message) ? "(no message)" : r->message);
        else
                k = asprintf(&s, "no answer: %s", strerror(r->error < 0 ? -r->error : EIO));
        return k < 0 ? NULL : s;
}

static bool status_is_transient(long status) {
        return status == 429 || status >= 500;
}

static int status_error(long status) {
        return status == 403 ? -EACCES : status == 400 ? -EBADMSG : -EPROTO;
}

/* ---- retrying ---- */

static usec_t jitter(consul_api *a, usec_t step) {
        a->rng ^= a->rng << 13;
        a->rng ^= a->rng >> 7;
        a->rng ^= a->rng << 17;
        return step / 2 + a->rng % (step / 2 + 1);
}

static void sleep_usec(usec_t t) {
        struct timespec ts = { .tv_sec = (time_t) (t / USEC_PER_SEC), .tv_nsec = (long) (t % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* One attempt: 1 when it is worth another, 0 when done, <0 when final. */
static int attempt(consul_api *a, const http_request *req, const char *what, consul_result *res) {
        _cleanup_http_response_ http_response resp = {};
        int r = http_client_send(a->http, req, &resp);

        res->attempts++;
        free(res->message);
        res->message = NULL;
        res->status = r < 0 ? 0 : resp.status;
        res->error = r < 0 ? r : 0;
        if (r < 0) {
                log_debug("%s: %s", what, strerror(-r));
                return http_error_is_transient(r) ? 1 : r == -ENOMEM ? r : -EPROTO;
        }
        if (resp.status == 200)
                return 0;
        res->message = consul_message_clean(resp.body, a->token);
        if (!res->message)
                return -ENOMEM;
        log_debug("%s: %ld %s", what, resp.status, res->message);
        return status_is_transient(resp.status) ? 1 : status_error(resp.status);
}

static int call(consul_api *a, const char *method, const char *path, const char *body, usec_t deadline,
                consul_result *res) {
        _cleanup_free_ char *url = NULL, *what = NULL;
        const char *headers[] = { "Content-Type: application/json", a->token_header, NULL };
        usec_t step = BACKOFF_FIRST;

        *res = (consul_result){};
        if (asprintf(&url, "%s%s", a->base_url, path) < 0 ||
            asprintf(&what, "%s %s (X-Consul-Token: %s)", method, url, a->token ? "set" : "none") < 0)
                return -ENOMEM;
        log_debug("%s", what);
        for (;;) {
                usec_t now = now_mono_usec(), left = deadline > now ? deadline - now : 0;
                http_request req = {
                        .method = method, .url = url, .headers = headers, .body = body,
                        .body_len = body ? strlen(body) : 0,
                        .timeout = MIN(REQUEST_TIMEOUT, MAX(left, REQUEST_TIMEOUT_MIN)),
                        .connect_timeout = MIN(REQUEST_TIMEOUT_MIN, MAX(left, 100 * USEC_PER_MSEC)),
                };
                int r = attempt(a, &req, what, res);
                if (r <= 0)
                        return r;
                now = now_mono_usec();
                if (now >= deadline)
                        return -ETIME;
                sleep_usec(MIN(jitter(a, step), deadline - now));
                step = MIN(step * 2, BACKOFF_MAX);
                if (now_mono_usec() >= deadline)
                        return -ETIME;
        }
}

int consul_api_register(consul_api *a, json_t *definition, usec_t deadline, consul_result *ret_result) {
        _cleanup_free_ char *body = json_dumps(definition, JSON_COMPACT | JSON_SORT_KEYS);
        if (!body) {
                *ret_result = (consul_result){};
                return -ENOMEM;
        }
        return call(a, "PUT", "/v1/agent/service/register?replace-existing-checks=true", body, deadline, ret_result);
}

/* Nothing a URL path segment would need escaped. */
static bool segment_ok(const char *s) {
        if (isempty(s))
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == 0x7f || strchr("/?#%\\\"<>", *c))
                        return false;
        return true;
}

int consul_api_deregister(consul_api *a, const char *id, usec_t deadline, consul_result *ret_result) {
        _cleanup_free_ char *path = NULL;

        *ret_result = (consul_result){};
        if (!segment_ok(id))
                return -EINVAL;
        if (asprintf(&path, "/v1/agent/service/deregister/%s", id) < 0)
                return -ENOMEM;
        return call(a, "PUT", path, NULL, deadline, ret_result);
}

/* ---- the record ---- */

int consul_registered_read(json_t **ret) {
        _cleanup_free_ char *p = root_path(CONSUL_REGISTERED_FILE);
        _cleanup_json_ json_t *doc = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = json_read_file(p, &doc);
        if (r == -ENOENT) {
                *ret = json_array();
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        json_t *list = json_object_get(doc, "services"), *it;
        size_t i;
        if (!json_is_array(list))
                return -EBADMSG;
        json_array_foreach(list, i, it)
                if (!json_is_string(json_object_get(it, "id")))
                        return -EBADMSG;
        *ret = json_incref(list);
        return 0;
}

int consul_registered_write(json_t *services) {
        _cleanup_free_ char *p = root_path(CONSUL_REGISTERED_FILE), *dir = root_path(CONSUL_REGISTERED_DIR);
        _cleanup_json_ json_t *doc = NULL;
        int r;

        if (!p || !dir)
                return -ENOMEM;
        doc = json_pack("{s:O}", "services", services);
        if (!doc)
                return -ENOMEM;
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;
        return json_write_file_atomic(p, doc, 0644);
}
