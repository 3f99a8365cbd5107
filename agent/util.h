/* util.h — small shared helpers: paths under --root, time, strings.
 *
 * Use these rather than open-coding: `duplicates` flags copies.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t usec_t;
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL

usec_t now_usec(void);      /* CLOCK_REALTIME */
usec_t now_mono_usec(void); /* CLOCK_MONOTONIC: for deadlines and durations */
#define FORMAT_TIMESTAMP_MAX 64
/* "2026-11-22T10:00:00.123456Z" into a buffer of FORMAT_TIMESTAMP_MAX bytes. */
char *format_timestamp(usec_t t, char buf[static FORMAT_TIMESTAMP_MAX]);

/* The --root prefix every path kiln reads or writes goes under; "/" or
 * NULL means the live system.  Set once at start-up by the CLI. */
int root_set(const char *root);
const char *root_get(void);           /* never NULL; "/" for the live system */
bool root_is_live(void);
/* root + abs_path, newly allocated; NULL only on OOM. */
char *root_path(const char *abs_path);

char *path_join(const char *a, const char *b);
/* True when the path is absolute, has no "..", no "//" oddities that
 * matter, and no NUL: safe to put under the root. */
bool path_is_safe_absolute(const char *p);

bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
/* strdup that treats NULL as NULL. */
char *strdup_or_null(const char *s);
/* Strips trailing ASCII whitespace in place and returns the first
 * non-blank character of s. */
char *strstrip(char *s);
/* Offset of the first byte that does not start a valid UTF-8 sequence
 * (overlong forms, surrogates and code points past U+10FFFF are invalid),
 * len when all is well.  NUL is valid UTF-8: check for it separately. */
size_t utf8_first_invalid(const void *data, size_t len);

/* Monotonic-clock deadline helpers. */
static inline usec_t deadline_in(usec_t usec) {
        return now_mono_usec() + usec;
}
static inline bool deadline_passed(usec_t deadline) {
        return now_mono_usec() >= deadline;
}
