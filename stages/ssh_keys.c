/* ssh_keys.c — cloud-init's ssh_authorized_keys: the instance's SSH public
 * keys (EC2 key pair from the metadata, then `ssh_authorized_keys`) into
 * the authorized_keys of the image's login user.
 *
 * The user is the image's choice, `ssh: {user: NAME}` (root without it),
 * looked up in <root>/etc/passwd by reading the file (agent/accounts.h), never
 * through the live machine's NSS.  Per instance, like cloud-init: a new
 * instance made from the image installs its own key pair; keys are never
 * removed, so keys an admin or another tool added stay.
 *
 * The file is root writing into a directory the user owns, so it is done
 * without following links: ~/.ssh is opened with O_NOFOLLOW (created 0700
 * and chowned to the user when missing), the old file is read with
 * O_NOFOLLOW and must be a regular file with one link owned by the user or
 * root, and the new file is written atomically (0600, owned by the user)
 * through /proc/self/fd/<.ssh fd>, so a .ssh swapped for a symlink after
 * the check can't redirect the write.  A symlinked .ssh or authorized_keys
 * is refused: the module fails, and is retried on the next boot.
 *
 * A key in user-data that is not a valid public key is an input error at
 * its position (nothing of the stage runs); a bad key in the metadata has no
 * position and must not block the boot: it is skipped as a recoverable
 * error.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "authorized-keys.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "accounts.h"

#define KEYS_FILE "authorized_keys"
#define KEYS_FILE_MAX (1024U * 1024U)

static const schema_key ssh_props[] = {
        KEY("user", ST_STRING,
            "The login user whose ~/.ssh/authorized_keys gets the instance's keys (default root); "
            "normally set by the image config."),
        {},
};

static const schema_key ssh_keys_keys[] = {
        KEY_LIST("ssh_authorized_keys", &(const schema_key) KEY(NULL, ST_STRING, NULL),
                 "SSH public keys added to the login user's authorized_keys, after the metadata's key pair."),
        KEY_OBJ("ssh", ssh_props, "SSH settings of the image."),
        {},
};

static const char *login_user(kiln_ctx *ctx) {
        return json_string_value(ctx_config_get(ctx, "ssh.user")) ?: "root";
}

/* ---- the user's files, without following links ---- */

static int open_home(const passwd_entry *pw, int *ret_fd) {
        _cleanup_free_ char *home = root_path(pw->home);
        int fd;

        if (!home)
                return -ENOMEM;
        fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the home itself may be a link: the image's choice */
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

/* ~/.ssh as a directory fd; -ELOOP when it is a symlink (or not a
 * directory), -EPERM when another user owns it. */
static int open_ssh_dir(int hfd, const passwd_entry *pw, bool create, int *ret_fd, bool *ret_created) {
        _cleanup_close_ int fd = -EBADF;
        bool created = false;
        struct stat st;

        fd = openat(hfd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
                if (mkdirat(hfd, ".ssh", 0700) < 0)
                        return negative_errno();
                created = true;
                fd = openat(hfd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0 && (fchown(fd, pw->uid, pw->gid) < 0 || fchmod(fd, 0700) < 0))
                        return negative_errno();
        }
        if (fd < 0)
                return errno == ENOTDIR ? -ELOOP : negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_uid != pw->uid && st.st_uid != 0)
                return -EPERM;
        *ret_fd = TAKE_FD(fd);
        if (ret_created)
                *ret_created = created;
        return 0;
}

/* The current file's text, or NULL when there is none. */
static int read_keys_file(int dfd, const passwd_entry *pw, char **ret) {
        _cleanup_close_ int fd = openat(dfd, KEYS_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t len;
        int r;

        if (fd < 0 && errno == ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
                return -ELOOP; /* a device, a FIFO or a hard link: not ours to read or replace */
        if (st.st_uid != pw->uid && st.st_uid != 0)
                return -EPERM;
        r = read_full_fd(fd, KEYS_FILE_MAX, &text, &len);
        if (r < 0)
                return r;
        if (strlen(text) != len)
                return -EBADMSG; /* a NUL byte: rewriting it as text would lose what follows */
        *ret = TAKE_PTR(text);
        return 0;
}

static int write_keys_file(int dfd, const passwd_entry *pw, const char *text) {
        char path[64];
        write_opts o = { .mode = 0600, .uid = pw->uid, .gid = pw->gid };

        /* The directory is the one we opened and checked, whatever its path
         * points to by now. */
        snprintf(path, sizeof path, "/proc/self/fd/%d/" KEYS_FILE, dfd);
        return write_file_atomic(path, text, strlen(text), &o);
}

/* ---- plan ---- */

static int lookup_user(kiln_ctx *ctx, passwd_entry *ret) {
        const char *user = login_user(ctx);
        int r;

        if (!passwd_name_is_valid(user))
                return ctx_input_error(ctx, "ssh.user", "'%s' is not a valid user name", user);
        r = passwd_lookup(user, ret);
        if (r == -ENOENT)
                return ctx_input_error(ctx, "ssh.user", "no user '%s' in " PASSWD_FILE "%s", user,
                                       json_string_value(ctx_config_get(ctx, "ssh.user")) ? "" : " (ssh.user unset)");
        if (r == -EBADMSG)
                return ctx_input_error(ctx, "ssh.user", "the " PASSWD_FILE " line of '%s' is malformed", user);
        if (r < 0)
                return log_error_errno(r, "Failed to read " PASSWD_FILE ": %m");
        return 0;
}

/* A bad key from the metadata: a plan item apply turns into a recoverable error. */
static int skip_metadata_key(size_t i, const char *why, json_t **plan) {
        _cleanup_free_ char *path = keypath_index("v1.public_ssh_keys", i);
        return path && plan_add(plan, "skip", path, "not an SSH public key: %s", why) ? 0 : -ENOMEM;
}

/* Metadata keys first, then ssh_authorized_keys, as cloud-init orders them. */
static int collect_keys(kiln_ctx *ctx, json_t *keys, json_t **plan) {
        json_t *md = json_get_path(ctx->instance_data, "v1.public_ssh_keys"), *v;
        const char *why;
        size_t i;
        int r = 0;

        json_array_foreach(md, i, v) {
                _cleanup_ssh_key_ ssh_key k = {};
                if (!json_is_string(v) || ssh_key_parse(json_string_value(v), &k, &why) < 0) {
                        if (skip_metadata_key(i, json_is_string(v) ? why : "not a string", plan) < 0)
                                return -ENOMEM;
                } else if (json_array_append(keys, v) < 0)
                        return -ENOMEM;
        }
        json_array_foreach(ctx_config_get(ctx, "ssh_authorized_keys"), i, v) {
                _cleanup_free_ char *path = keypath_index("ssh_authorized_keys", i);
                _cleanup_ssh_key_ ssh_key k = {};
                if (ssh_key_parse(json_string_value(v) ?: "", &k, &why) < 0)
                        r = ctx_input_error(ctx, path, "not an SSH public key: %s", why);
                else if (json_array_append(keys, v) < 0)
                        return -ENOMEM;
        }
        return r;
}

/* The file's path on the machine (not re-rooted), for messages and status. */
static char *keys_file_path(const passwd_entry *pw) {
        return path_join(pw->home, ".ssh/" KEYS_FILE);
}

/* "type comment" for messages: the blob says nothing to a reader. */
static char *key_label(const char *line) {
        _cleanup_ssh_key_ ssh_key k = {};
        char *r;
        if (ssh_key_parse(line, &k, NULL) < 0)
                return strdup("?");
        if (asprintf(&r, "%s %s", k.type, k.comment ? k.comment : "(no comment)") < 0)
                return NULL;
        return r;
}

/* The keys the file lacks, as far as it can be read now (apply checks again). */
static int plan_additions(const passwd_entry *pw, json_t *keys, json_t **plan) {
        _cleanup_free_ char *old = NULL, *text = NULL, *target = keys_file_path(pw);
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_json_ json_t *added = NULL;
        json_t *v;
        size_t i;

        if (!target)
                return -ENOMEM;
        _cleanup_close_ int hfd = -EBADF;
        if (open_home(pw, &hfd) >= 0 && open_ssh_dir(hfd, pw, false, &dfd, NULL) >= 0)
                (void) read_keys_file(dfd, pw, &old);
        if (authorized_keys_merge(old, keys, &text, &added) < 0)
                return -ENOMEM;
        json_array_foreach(added, i, v) {
                _cleanup_free_ char *label = key_label(json_string_value(v));
                json_t *item = label ? plan_add(plan, "add key", target, "%s", label) : NULL;
                if (!item || json_object_set(item, "_line", v) < 0 ||
                    json_object_set_new(item, "_user", json_string(pw->name)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int ssh_keys_plan(kiln_ctx *ctx, json_t **ret_plan) {
        _cleanup_passwd_entry_ passwd_entry pw = {};
        _cleanup_json_ json_t *keys = json_array();
        int r;

        if (!keys)
                return -ENOMEM;
        r = collect_keys(ctx, keys, ret_plan);
        if (r < 0 || json_array_size(keys) == 0)
                return r;
        r = lookup_user(ctx, &pw);
        if (r < 0)
                return r;
        return plan_additions(&pw, keys, ret_plan);
}

/* ---- apply ---- */

static int install(kiln_ctx *ctx, const passwd_entry *pw, json_t *lines) {
        _cleanup_free_ char *old = NULL, *text = NULL, *target = keys_file_path(pw);
        _cleanup_json_ json_t *added = NULL;
        _cleanup_close_ int hfd = -EBADF, dfd = -EBADF;
        bool created = false;
        json_t *v;
        size_t i;
        int r;

        if (!target)
                return log_oom();
        r = open_home(pw, &hfd);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to open %s, the home directory of %s: %s", pw->home, pw->name,
                                 strerror(-r));
        r = open_ssh_dir(hfd, pw, true, &dfd, &created);
        if (r < 0)
                return ctx_error(ctx, r, "Refusing to write %s: its directory is a symlink, not a directory or "
                                 "another user's: %s", target, strerror(-r));
        if (created) {
                _cleanup_free_ char *dir = path_join(pw->home, ".ssh");
                if (!dir || ctx_change(ctx, "created", dir, "0700, owner %s", pw->name) < 0)
                        return log_oom();
        }
        r = read_keys_file(dfd, pw, &old);
        if (r < 0)
                return ctx_error(ctx, r, "Refusing to update %s (a symlink, a hard link, another user's file or "
                                 "not text): %s", target, strerror(-r));
        if (authorized_keys_merge(old, lines, &text, &added) < 0)
                return log_oom();
        if (json_array_size(added) == 0)
                return 0;
        r = write_keys_file(dfd, pw, text);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to write %s: %s", target, strerror(-r));
        json_array_foreach(added, i, v) {
                _cleanup_free_ char *label = key_label(json_string_value(v));
                if (!label || ctx_change(ctx, "added key", target, "%s", label) < 0)
                        return log_oom();
        }
        return 0;
}

static int ssh_keys_apply(kiln_ctx *ctx, json_t *plan) {
        _cleanup_passwd_entry_ passwd_entry pw = {};
        _cleanup_json_ json_t *lines = json_array();
        const char *user = NULL;
        json_t *item;
        size_t i;
        int r;

        if (!lines)
                return log_oom();
        json_array_foreach(plan, i, item) {
                if (streq(json_get_string(item, "action", ""), "skip"))
                        ctx_recoverable(ctx, "%s: %s; skipped", json_get_string(item, "target", "?"),
                                        json_get_string(item, "detail", "?"));
                else if (json_array_append(lines, json_object_get(item, "_line")) < 0)
                        return log_oom();
                user = json_get_string(item, "_user", user);
        }
        if (json_array_size(lines) == 0)
                return 0;
        r = passwd_lookup(user, &pw);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to look up user %s in " PASSWD_FILE ": %s", user, strerror(-r));
        return install(ctx, &pw, lines);
}

const kiln_module module_ssh_keys = {
        .name = "ssh_keys",
        .stage = STAGE_NETWORK,
        .frequency = FREQ_PER_INSTANCE,
        .description = "Install the instance's SSH public keys for the image's login user.",
        .keys = ssh_keys_keys,
        .plan = ssh_keys_plan,
        .apply = ssh_keys_apply,
};
