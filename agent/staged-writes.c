/* staged-writes.c — see staged-writes.h. */
#include <libgen.h>

#include "json-util.h"
#include "log.h"
#include "staged-writes.h"

int staged_writes_init(staged_writes *w) {
        *w = (staged_writes){ .staged = json_array(), .landed = json_array() };
        if (!w->staged || !w->landed || write_batch_new(&w->batch) < 0) {
                staged_writes_done(w);
                return -ENOMEM;
        }
        return 0;
}

void staged_writes_done(staged_writes *w) {
        write_batch_free(w->batch); /* removes the temporary files of anything not committed */
        json_decref(w->staged);
        json_decref(w->landed);
        *w = (staged_writes){ 0 };
}

int staged_writes_commit(kiln_ctx *ctx, staged_writes *w) {
        json_t *s;
        size_t i;

        if (json_array_size(w->staged) == 0)
                return w->failed;
        (void) write_batch_commit(w->batch);
        json_array_foreach(w->staged, i, s) {
                const char *path = json_get_string(s, "path", "");
                int r = write_batch_result(w->batch, i);
                if (r < 0) {
                        ctx_error(ctx, r, "Failed to write %s: %s", path, strerror(-r));
                        w->failed++;
                        continue;
                }
                json_array_append(w->landed, json_object_get(s, "tag"));
                if (ctx_change(ctx, json_get_string(s, "action", ""), path, "%s", json_get_string(s, "detail", "")) < 0)
                        w->failed++;
        }
        json_array_clear(w->staged);
        return w->failed;
}

int staged_writes_add(kiln_ctx *ctx, staged_writes *w, const char *path, const void *data, size_t len,
                      const write_opts *opts, long tag, const char *action, const char *detail) {
        _cleanup_free_ char *p = root_path(path), *dir = NULL;
        int r;

        if (!p || !(dir = strdup(p)))
                return log_oom();
        staged_writes_flush_path(ctx, w, path);
        r = mkdir_p(dirname(dir), 0755);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to create the directory of %s: %s", path, strerror(-r));
        r = write_batch_add(w->batch, p, data, len, opts);
        if (r == -ELOOP)
                return ctx_error(ctx, r, "Refusing to write %s: it is a symlink.", path);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to write %s: %s", path, strerror(-r));
        json_t *s = json_pack("{s:s, s:s, s:s, s:I}", "path", path, "action", action, "detail", detail, "tag",
                              (json_int_t) tag);
        if (!s || json_array_append_new(w->staged, s) < 0)
                return log_oom();
        return 0;
}

bool staged_writes_landed(const staged_writes *w, long tag) {
        json_t *t;
        size_t i;
        json_array_foreach(w->landed, i, t)
                if (json_integer_value(t) == tag)
                        return true;
        return false;
}

void staged_writes_flush_path(kiln_ctx *ctx, staged_writes *w, const char *path) {
        _cleanup_free_ char *p = root_path(path);
        if (p && write_batch_contains(w->batch, p) > 0)
                staged_writes_commit(ctx, w);
}
