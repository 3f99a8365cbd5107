/* srcmap.h — where each value of a JSON tree came from.
 *
 * Config and user-data are parsed into plain jansson trees (the one data
 * model), so positions can't live on the nodes.  A srcmap is a side table
 * from a node's key path ("consul.services[0].port") to the file, line and
 * column it was read from.  Merging layers merges their maps, so an error
 * found in the merged config still points at the file that set the value.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

typedef struct srcpos {
        const char *file; /* borrowed from the map; valid while the map lives */
        unsigned line, column;
} srcpos;

/* Each path has the position of its value and, for mapping members, of its
 * key: type errors point at the value, "unknown key" at the key. */

typedef struct srcmap_table srcmap_table; /* path → file, line, column, key line, key column */

typedef struct srcmap {
        srcmap_table *t; /* NULL: empty */
} srcmap;

#define SRCMAP_INIT ((srcmap){ NULL })

int srcmap_set(srcmap *m, const char *path, const char *file, unsigned line, unsigned column);
/* Adds the key's position to an existing entry. */
int srcmap_set_key(srcmap *m, const char *path, unsigned line, unsigned column);
/* Returns true and fills *ret when the path (or, failing that, its nearest
 * ancestor) has a position. */
bool srcmap_get(const srcmap *m, const char *path, srcpos *ret);
/* Like srcmap_get() but prefers the key's position. */
bool srcmap_get_key(const srcmap *m, const char *path, srcpos *ret);
/* Copies every entry of src whose path starts with src_prefix to the same
 * path with dst_prefix instead (list append shifts indices this way). */
int srcmap_copy_prefix(srcmap *dst, const srcmap *src, const char *src_prefix, const char *dst_prefix);
void srcmap_clear(srcmap *m);

/* Path helpers: "a" + key "b" → "a.b"; "a" + index 2 → "a[2]"; "" + key "b" → "b". */
char *keypath_key(const char *parent, const char *key);
char *keypath_index(const char *parent, size_t index);

static inline void srcmap_clearp(srcmap *m) {
        srcmap_clear(m);
}
#define _cleanup_srcmap_ _cleanup_(srcmap_clearp)
