/* write_files.c — cloud-init's write_files: files written once per instance
 * from user-data, in the config stage (entries with `defer: true` wait for
 * the final stage, see write_files_deferred.c).
 *
 * Keys as cloud-init: path, content, encoding (b64, base64, gz, gzip,
 * gz+b64, gz+base64, gzip+b64, gzip+base64, text/plain), owner
 * ("user:group"; a bare user means the user's primary group, where cloud-init
 * leaves the group as root; default root:root), permissions ("0644" or a YAML octal
 * int; default 0644), append, defer.  Differences, all on the safe side: a
 * bad encoding or content, an unknown owner, or a decimal-looking mode such
 * as `permissions: 644` (which cloud-init silently takes as 0o1204) is an
 * input error before anything is written; a target that is a symlink is
 * refused; unchanged files are not rewritten.  Every write is atomic with
 * owner and mode set before the file appears (agent/fileio.h); `append`
 * rewrites the whole file atomically with the old content plus the new.
 * Plans never show content: it may be secret.
 */
#include <libgen.h>
#include <sys/stat.h>

#include "base64.h"
#include "fileio.h"
#include "gzip.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "accounts.h"
#include "write_files.h"

#define WRITE_FILES_MAX (64U * 1024U * 1024U) /* a decoded file, gzip bombs included */

static const char *const encodings[] = {
        "text/plain", "b64", "base64", "gz", "gzip", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64", NULL,
};

static const schema_key entry_keys[] = {
        { .name = "path", .types = ST_STRING, .required = true, .description = "Absolute path of the file." },
        KEY("content", ST_STRING, "The content (after decoding `encoding`); default empty."),
        KEY_ENUM("encoding", encodings, "How content is encoded (default text/plain)."),
        KEY("owner", ST_STRING, "user[:group] by name or id (default root:root)."),
        KEY("permissions", ST_STRING | ST_INTEGER, "Mode: \"0644\" or a YAML octal int (default 0644)."),
        KEY("append", ST_BOOLEAN, "Append content to the existing file (default false)."),
        KEY("defer", ST_BOOLEAN, "Write in the final stage, after services started (default false)."),
        {},
};
static const schema_key entry = { .types = ST_OBJECT, .props = entry_keys };

const schema_key write_files_keys[] = {
        KEY_LIST("write_files", &entry, "Files to write once per instance (cloud-init's write_files)."),
        {},
};

typedef struct wf_entry {
        const char *path;
        void *data;
        size_t len;
        mode_t mode;
        uid_t uid;
        gid_t gid;
        bool append;
} wf_entry;

static void wf_entry_clear(wf_entry *e) {
        free(e->data);
        *e = (wf_entry){ 0 };
}

static int decode_content(const char *content, const char *encoding, void **ret, size_t *ret_len) {
        _cleanup_free_ void *raw = NULL;
        size_t n = strlen(content);
        bool b64 = strstr(encoding, "b64") || strstr(encoding, "base64");
        bool gz = startswith(encoding, "gz");
        int r;

        if (b64) {
                r = base64_decode(content, n, &raw, &n);
                if (r < 0)
                        return r;
        } else if (!(raw = strdup(content)))
                return -ENOMEM;
        if (!gz) {
                *ret = TAKE_PTR(raw);
                *ret_len = n;
                return 0;
        }
        return gzip_decompress(raw, n, WRITE_FILES_MAX, ret, ret_len);
}

/* Reads and checks entry i; every problem is an input error at its key. */
static int parse_entry(kiln_ctx *ctx, json_t *item, size_t i, wf_entry *ret) {
        _cleanup_free_ char *at = NULL;
        const char *path = json_get_string(item, "path", NULL);
        const char *owner = json_get_string(item, "owner", "root:root");
        json_t *perm = json_object_get(item, "permissions");
        wf_entry e = { .path = path, .mode = 0644, .append = json_get_bool(item, "append", false) };
        int r;

        if (asprintf(&at, "write_files[%zu]", i) < 0)
                return -ENOMEM;
#define FAIL(key, ...)                                                                   \
        do {                                                                             \
                _cleanup_free_ char *k_ = NULL;                                          \
                wf_entry_clear(&e);                                                      \
                if (asprintf(&k_, "%s.%s", at, key) < 0)                                 \
                        return -ENOMEM;                                                  \
                return ctx_input_error(ctx, k_, __VA_ARGS__);                            \
        } while (0)

        if (!path_is_safe_absolute(path))
                FAIL("path", "'%s' is not an absolute path without '..'", path ? path : "");
        if (perm && mode_is_lost_octal(perm))
                FAIL("permissions", "%lld is a decimal number; write it as \"0%lld\" (a string) or 0%lld",
                     (long long) json_integer_value(perm), (long long) json_integer_value(perm),
                     (long long) json_integer_value(perm));
        if (perm && mode_from_json(perm, &e.mode) < 0)
                FAIL("permissions", "not a file mode (\"0644\" or an octal integer)");
        _cleanup_free_ char *owner_error = NULL;
        r = accounts_resolve_owner(owner, &e.uid, &e.gid, &owner_error);
        if (r == -EINVAL)
                FAIL("owner", "%s", owner_error);
        if (r < 0)
                FAIL("owner", "cannot resolve '%s': %s", owner, strerror(-r));
        r = decode_content(json_get_string(item, "content", ""), json_get_string(item, "encoding", "text/plain"),
                           &e.data, &e.len);
        if (r == -EFBIG)
                FAIL("content", "decodes to more than %u bytes", WRITE_FILES_MAX);
        if (r < 0)
                FAIL("content", "cannot be decoded as %s: %s", json_get_string(item, "encoding", "text/plain"),
                     strerror(-r));
#undef FAIL
        *ret = e;
        return 0;
}

/* The bytes the file should hold: for append, the current content + ours. */
static int final_content(const wf_entry *e, const char *path, char **ret, size_t *ret_len) {
        _cleanup_free_ char *old = NULL;
        size_t old_len = 0;
        if (e->append) {
                int r = read_full_file(path, WRITE_FILES_MAX, &old, &old_len);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        char *buf = malloc(old_len + e->len + 1);
        if (!buf)
                return -ENOMEM;
        if (old_len)
                memcpy(buf, old, old_len);
        if (e->len)
                memcpy(buf + old_len, e->data, e->len);
        buf[old_len + e->len] = 0;
        *ret = buf;
        *ret_len = old_len + e->len;
        return 0;
}

/* 1 when the file already has this content, mode and owner. */
static int unchanged(const wf_entry *e, const char *path) {
        struct stat st;
        if (e->append || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        if ((st.st_mode & 07777) != e->mode || (e->uid != (uid_t) -1 && st.st_uid != e->uid) ||
            (e->gid != (gid_t) -1 && st.st_gid != e->gid))
                return 0;
        return file_content_equals(path, e->data, e->len);
}

int write_files_plan_part(kiln_ctx *ctx, bool deferred, json_t **ret_plan) {
        json_t *list = ctx_config_get(ctx, "write_files"), *item;
        size_t i;
        int r = 0;

        json_array_foreach(list, i, item) {
                wf_entry e;
                if (json_get_bool(item, "defer", false) != deferred)
                        continue;
                if (parse_entry(ctx, item, i, &e) < 0) {
                        r = -EINVAL;
                        continue;
                }
                _cleanup_free_ char *p = root_path(e.path);
                if (p && unchanged(&e, p) == 1) {
                        wf_entry_clear(&e);
                        continue;
                }
                json_t *pi = plan_add(ret_plan, e.append ? "append" : "write", e.path, "%zu bytes, mode %04o", e.len,
                                      (unsigned) e.mode);
                wf_entry_clear(&e);
                if (!pi || json_object_set_new(pi, "_index", json_integer((json_int_t) i)) < 0)
                        return -ENOMEM;
        }
        return r;
}

static int write_one(kiln_ctx *ctx, const wf_entry *e) {
        _cleanup_free_ char *p = root_path(e->path), *dir = NULL, *data = NULL;
        write_opts o = { .mode = e->mode, .uid = e->uid, .gid = e->gid };
        size_t len;
        int r;

        if (!p || !(dir = strdup(p)))
                return -ENOMEM;
        r = mkdir_p(dirname(dir), 0755);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to create the directory of %s: %s", e->path, strerror(-r));
        r = final_content(e, p, &data, &len);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to read %s to append to it: %s", e->path, strerror(-r));
        r = write_file_atomic(p, data, len, &o);
        if (r == -ELOOP)
                return ctx_error(ctx, r, "Refusing to write %s: it is a symlink.", e->path);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to write %s: %s", e->path, strerror(-r));
        return ctx_change(ctx, e->append ? "appended" : "wrote", e->path, "%zu bytes, mode %04o", e->len,
                          (unsigned) e->mode);
}

int write_files_apply(kiln_ctx *ctx, json_t *plan) {
        json_t *list = ctx_config_get(ctx, "write_files"), *pi;
        size_t i;
        int failed = 0;

        json_array_foreach(plan, i, pi) {
                wf_entry e;
                json_t *item = json_array_get(list, (size_t) json_get_int(pi, "_index", -1));
                _cleanup_diags_ diags d = DIAGS_INIT;
                kiln_ctx c = *ctx;
                c.diags = &d;
                if (!item || parse_entry(&c, item, 0, &e) < 0)
                        return log_error_errno(-EINVAL, "write_files changed between plan and apply.");
                if (write_one(ctx, &e) < 0)
                        failed++;
                wf_entry_clear(&e);
        }
        /* one file failing does not stop the others; the module runs again next time */
        return failed ? -EIO : 0;
}

static int write_files_plan(kiln_ctx *ctx, json_t **ret_plan) {
        return write_files_plan_part(ctx, false, ret_plan);
}

const kiln_module module_write_files = {
        .name = "write_files",
        .stage = STAGE_CONFIG,
        .frequency = FREQ_PER_INSTANCE,
        .description = "Write files from user-data (cloud-init's write_files).",
        .keys = write_files_keys,
        .plan = write_files_plan,
        .apply = write_files_apply,
};
