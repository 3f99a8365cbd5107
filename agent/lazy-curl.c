/* lazy-curl.c — libcurl, loaded when kiln first makes an HTTP request
 * (the ec2 datasource, Consul).  Why and how: dlib.h.
 *
 * Every libcurl function kiln calls is defined here under its own name.
 * curl_easy_setopt and curl_easy_getinfo are variadic: the type of the one
 * argument is known from the option number's range, as libcurl itself
 * decodes it (CURLOPTTYPE_*: long, object pointer, function pointer,
 * curl_off_t, blob pointer; getinfo always takes a pointer).
 */
#define CURL_DISABLE_TYPECHECK /* the type-checking macros would hide the definitions below */
#include <curl/curl.h>
#include <stdarg.h>

#include "dlib.h"

static dlib curl = DLIB_INIT("libcurl.so.4", "HTTP: IMDS and Consul");

DLIB_FORWARD(curl, CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT)
DLIB_FORWARD_FREE(curl, void, curl_global_cleanup, (void), (), )
DLIB_FORWARD(curl, CURL *, curl_easy_init, (void), (), NULL)
DLIB_FORWARD_FREE(curl, void, curl_easy_cleanup, (CURL *h), (h), )
DLIB_FORWARD_FREE(curl, void, curl_easy_reset, (CURL *h), (h), )
DLIB_FORWARD(curl, CURLcode, curl_easy_perform, (CURL *h), (h), CURLE_FAILED_INIT)
DLIB_FORWARD(curl, struct curl_slist *, curl_slist_append, (struct curl_slist *l, const char *s), (l, s), NULL)
DLIB_FORWARD_FREE(curl, void, curl_slist_free_all, (struct curl_slist *l), (l), )
DLIB_FORWARD(curl, CURLM *, curl_multi_init, (void), (), NULL)
DLIB_FORWARD_FREE(curl, CURLMcode, curl_multi_cleanup, (CURLM *m), (m), CURLM_OK)
DLIB_FORWARD(curl, CURLMcode, curl_multi_add_handle, (CURLM *m, CURL *h), (m, h), CURLM_INTERNAL_ERROR)
DLIB_FORWARD(curl, CURLMcode, curl_multi_remove_handle, (CURLM *m, CURL *h), (m, h), CURLM_INTERNAL_ERROR)
DLIB_FORWARD(curl, CURLMcode, curl_multi_perform, (CURLM *m, int *running), (m, running), CURLM_INTERNAL_ERROR)
DLIB_FORWARD(curl, CURLMcode, curl_multi_poll,
             (CURLM *m, struct curl_waitfd extra[], unsigned n, int timeout_ms, int *ret),
             (m, extra, n, timeout_ms, ret), CURLM_INTERNAL_ERROR)
DLIB_FORWARD(curl, CURLMsg *, curl_multi_info_read, (CURLM *m, int *left), (m, left), NULL)
DLIB_FORWARD(curl, const char *, curl_easy_strerror, (CURLcode c), (c), "libcurl could not be loaded")

CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...) {
        static __typeof__(curl_easy_setopt) *fn;
        CURLcode r;
        va_list ap;

        if (!fn)
                fn = (__typeof__(curl_easy_setopt) *) dlib_sym(&curl, "curl_easy_setopt");
        if (!fn)
                return CURLE_FAILED_INIT;
        va_start(ap, option);
        if (option < CURLOPTTYPE_OBJECTPOINT)
                r = fn(h, option, va_arg(ap, long));
        else if (option < CURLOPTTYPE_FUNCTIONPOINT)
                r = fn(h, option, va_arg(ap, void *));
        else if (option < CURLOPTTYPE_OFF_T)
                r = fn(h, option, va_arg(ap, void (*)(void)));
        else if (option < CURLOPTTYPE_BLOB)
                r = fn(h, option, va_arg(ap, curl_off_t));
        else
                r = fn(h, option, va_arg(ap, void *));
        va_end(ap);
        return r;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...) {
        static __typeof__(curl_easy_getinfo) *fn;
        CURLcode r;
        va_list ap;

        if (!fn)
                fn = (__typeof__(curl_easy_getinfo) *) dlib_sym(&curl, "curl_easy_getinfo");
        if (!fn)
                return CURLE_FAILED_INIT;
        va_start(ap, info);
        r = fn(h, info, va_arg(ap, void *));
        va_end(ap);
        return r;
}
