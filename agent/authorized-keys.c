/* authorized-keys.c — see authorized-keys.h. */
#include <stdbool.h>
#include <stdint.h>

#include "authorized-keys.h"
#include "base64.h"
#include "util.h"

/* Key types OpenSSH accepts in authorized_keys (plain keys and certificates). */
static const char *const key_types[] = {
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
        "ssh-dss-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        NULL,
};

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

static const char *skip_blanks(const char *s) {
        while (is_blank(*s))
                s++;
        return s;
}

/* End of a plain token. */
static const char *token_end(const char *s) {
        while (*s && !is_blank(*s))
                s++;
        return s;
}

/* End of an options field: blanks inside double quotes (with \" escapes)
 * don't end it.  NULL when a quote is left open. */
static const char *options_end(const char *s) {
        bool quoted = false;
        for (; *s; s++) {
                if (quoted && s[0] == '\\' && s[1] == '"')
                        s++;
                else if (*s == '"')
                        quoted = !quoted;
                else if (!quoted && is_blank(*s))
                        break;
        }
        return quoted ? NULL : s;
}

static bool is_key_type(const char *s, size_t n) {
        for (const char *const *t = key_types; *t; t++)
                if (strlen(*t) == n && strneq(*t, s, n))
                        return true;
        return false;
}

/* The blob starts with its key type as an SSH string (uint32 length, bytes). */
static bool blob_names_type(const uint8_t *blob, size_t len, const char *type) {
        size_t tl = strlen(type);
        if (len < 4)
                return false;
        uint32_t n = (uint32_t) blob[0] << 24 | (uint32_t) blob[1] << 16 | (uint32_t) blob[2] << 8 | blob[3];
        return n == tl && len - 4 > tl && memcmp(blob + 4, type, tl) == 0;
}

void ssh_key_clear(ssh_key *k) {
        free(k->type);
        free(k->blob);
        free(k->comment);
        *k = (ssh_key){};
}

bool ssh_key_equal(const ssh_key *a, const ssh_key *b) {
        return streq(a->type, b->type) && a->blob_len == b->blob_len && memcmp(a->blob, b->blob, a->blob_len) == 0;
}

/* Finds the type token, skipping an options field first when the line
 * doesn't start with a key type (as sshd does). */
static int find_type(const char *s, const char **ret_type, const char **ret_type_end, const char **ret_reason) {
        const char *e = token_end(s);
        if (is_key_type(s, (size_t) (e - s))) {
                *ret_type = s;
                *ret_type_end = e;
                return 0;
        }
        const char *oe = options_end(s);
        if (!oe) {
                *ret_reason = "unterminated quote in the key options";
                return -EBADMSG;
        }
        const char *t = skip_blanks(oe), *te = token_end(t);
        if (!is_key_type(t, (size_t) (te - t))) {
                *ret_reason = "unknown key type (expected e.g. ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256)";
                return -EBADMSG;
        }
        *ret_type = t;
        *ret_type_end = te;
        return 0;
}

static int parse_blob(const char *b, const char *be, const char *type, ssh_key *k, const char **ret_reason) {
        int r;

        if (b == be) {
                *ret_reason = "the base64 key blob is missing";
                return -EBADMSG;
        }
        r = base64_decode(b, (size_t) (be - b), &k->blob, &k->blob_len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                *ret_reason = "the key blob is not valid base64";
                return -EBADMSG;
        }
        if (!blob_names_type(k->blob, k->blob_len, type)) {
                *ret_reason = "the key blob does not hold a key of the type it is labelled with";
                return -EBADMSG;
        }
        return 0;
}

int ssh_key_parse(const char *line, ssh_key *ret, const char **ret_reason) {
        _cleanup_ssh_key_ ssh_key k = {};
        const char *reason = NULL, *t, *te;
        int r;

        if (strpbrk(line, "\r\n")) {
                reason = "a key must be a single line";
                r = -EBADMSG;
        } else if (*(line = skip_blanks(line)) == 0 || *line == '#') {
                reason = "not a key (empty or a comment)";
                r = -EBADMSG;
        } else
                r = find_type(line, &t, &te, &reason);
        if (r >= 0 && !(k.type = strndup(t, (size_t) (te - t))))
                r = -ENOMEM;
        if (r >= 0) {
                const char *b = skip_blanks(te), *be = token_end(b);
                r = parse_blob(b, be, k.type, &k, &reason);
                if (r >= 0 && *(be = skip_blanks(be)) && !(k.comment = strdup(be)))
                        r = -ENOMEM;
        }
        if (r < 0) {
                if (ret_reason)
                        *ret_reason = reason ? reason : strerror(-r);
                return r;
        }
        if (k.comment)
                strstrip(k.comment);
        *ret = k;
        k = (ssh_key){};
        return 0;
}

/* ---- merging ---- */

typedef struct key_set {
        ssh_key *v;
        size_t n, cap;
} key_set;

static void key_set_clear(key_set *s) {
        for (size_t i = 0; i < s->n; i++)
                ssh_key_clear(&s->v[i]);
        free(s->v);
}

static bool key_set_has(const key_set *s, const ssh_key *k) {
        for (size_t i = 0; i < s->n; i++)
                if (ssh_key_equal(&s->v[i], k))
                        return true;
        return false;
}

/* Takes ownership of *k on success. */
static int key_set_add(key_set *s, ssh_key *k) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 8;
                ssh_key *v = reallocarray(s->v, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = *k;
        *k = (ssh_key){};
        return 0;
}

/* Every key line of the text; other lines are not keys and are skipped. */
static int key_set_read(key_set *s, const char *text) {
        for (const char *p = text; p && *p;) {
                const char *eol = strchrnul(p, '\n');
                _cleanup_free_ char *line = strndup(p, (size_t) (eol - p));
                _cleanup_ssh_key_ ssh_key k = {};
                if (!line)
                        return -ENOMEM;
                int r = ssh_key_parse(line, &k, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0 && !key_set_has(s, &k) && key_set_add(s, &k) < 0)
                        return -ENOMEM;
                p = *eol ? eol + 1 : eol;
        }
        return 0;
}

static void key_set_clearp(key_set *s) {
        key_set_clear(s);
}

/* Appends line + "\n" to buf, which holds *len bytes. */
static int append_line(char **buf, size_t *len, const char *line) {
        size_t l = strlen(line);
        char *n = realloc(*buf, *len + l + 2);
        if (!n)
                return -ENOMEM;
        memcpy(n + *len, line, l);
        n[*len + l] = '\n';
        n[*len + l + 1] = 0;
        *buf = n;
        *len += l + 1;
        return 0;
}

static int start_text(const char *existing, char **ret, size_t *ret_len) {
        size_t len = existing ? strlen(existing) : 0;
        char *t = malloc(len + 2);
        if (!t)
                return -ENOMEM;
        memcpy(t, existing ? existing : "", len);
        t[len] = 0;
        *ret = t;
        *ret_len = len;
        return 0;
}

int authorized_keys_merge(const char *existing, json_t *keys, char **ret_text, json_t **ret_added) {
        _cleanup_(key_set_clearp) key_set have = {};
        _cleanup_json_ json_t *added = json_array();
        _cleanup_free_ char *text = NULL;
        size_t len, i;
        json_t *v;
        int r;

        if (!added || start_text(existing, &text, &len) < 0 || key_set_read(&have, existing) < 0)
                return -ENOMEM;
        json_array_foreach(keys, i, v) {
                _cleanup_ssh_key_ ssh_key k = {};
                _cleanup_free_ char *line = strdup_or_null(json_string_value(v));
                if (!json_is_string(v) || !line)
                        return json_is_string(v) ? -ENOMEM : -EINVAL;
                r = ssh_key_parse(line, &k, NULL);
                if (r < 0)
                        return r == -ENOMEM ? r : -EINVAL;
                if (key_set_has(&have, &k))
                        continue;
                if (json_array_size(added) == 0 && len > 0 && text[len - 1] != '\n')
                        text[len++] = '\n', text[len] = 0;
                const char *clean = strstrip(line);
                if (append_line(&text, &len, clean) < 0 || json_array_append_new(added, json_string(clean)) < 0 ||
                    key_set_add(&have, &k) < 0)
                        return -ENOMEM;
        }
        *ret_text = TAKE_PTR(text);
        *ret_added = TAKE_PTR(added);
        return 0;
}
