/* authorized-keys.h — OpenSSH authorized_keys lines: checking a key before
 * it is installed, and merging keys into a file other people also edit.
 *
 * A line is `[options] type base64-blob [comment]` (sshd(8) AUTHORIZED_KEYS
 * FILE FORMAT).  A key is checked the way sshd would read it: a known type,
 * a blob that is valid base64 and that names the same type inside (the
 * blob starts with the type as an SSH string), one line only — a key with
 * an embedded newline could smuggle a second, unchecked line into the file.
 *
 * Two lines hold the same key when type and decoded blob are equal; options
 * and comments don't matter.  Merging keeps every existing line byte for
 * byte (keys someone else put there, comments, even lines sshd would
 * ignore) and appends only the keys not present, so running it twice
 * changes nothing and the file never gets duplicate keys from kiln.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct ssh_key {
        char *type;      /* "ssh-ed25519" */
        void *blob;      /* decoded blob */
        size_t blob_len;
        char *comment;   /* NULL when none */
} ssh_key;

/* Parses one line (without its newline).  -EBADMSG when it is not a key;
 * *ret_reason (optional) then says why in a few words, for a diagnostic. */
int ssh_key_parse(const char *line, ssh_key *ret, const char **ret_reason);
void ssh_key_clear(ssh_key *k);
bool ssh_key_equal(const ssh_key *a, const ssh_key *b);

static inline void ssh_key_clearp(ssh_key *k) {
        ssh_key_clear(k);
}
#define _cleanup_ssh_key_ _cleanup_(ssh_key_clearp)

/* Appends to `existing` (a file's text, or NULL for none) every key of
 * `keys` (a JSON array of strings, each already accepted by ssh_key_parse)
 * that neither the file nor an earlier entry of `keys` holds.  *ret_text is
 * the new text (equal to existing when nothing was added); *ret_added the
 * lines appended, in order (an array, maybe empty). */
int authorized_keys_merge(const char *existing, json_t *keys, char **ret_text, json_t **ret_added);
