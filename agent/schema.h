/* schema.h — the config schema, declared in C next to the code that owns it.
 *
 * Each module (a file in stages/) lists the top-level keys it owns as a
 * NULL-terminated array of schema_key; the module table puts them together
 * into the one schema every config and user-data document is checked
 * against before anything runs.  A schema in C (rather than a JSON Schema
 * file) is type-checked by the compiler, costs nothing to load at boot, and
 * can't drift from the code that reads the keys.  docs/reference.md is
 * generated from it (`kiln validate --schema-markdown`).
 *
 * Rules: a key not in the schema is a warning with a "did you mean"
 * suggestion; a value of the wrong type, a string outside its enum, or a
 * missing required key is an error with FILE:LINE:COL.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "srcmap.h"

enum {
        ST_STRING = 1 << 0,
        ST_INTEGER = 1 << 1,
        ST_REAL = 1 << 2,
        ST_NUMBER = ST_INTEGER | ST_REAL,
        ST_BOOLEAN = 1 << 3,
        ST_OBJECT = 1 << 4,
        ST_ARRAY = 1 << 5,
        ST_NULL = 1 << 6,
        ST_ANY = 0x7f,
};

typedef struct schema_key schema_key;
struct schema_key {
        const char *name;               /* NULL terminates a list of keys */
        unsigned types;                 /* ST_* bitmask of accepted JSON types */
        const char *description;        /* one line, for docs/reference.md and "did you mean" */
        const schema_key *props;        /* ST_OBJECT: known keys; NULL = free-form map */
        const schema_key *values;       /* free-form map: schema of every value (optional) */
        const schema_key *items;        /* ST_ARRAY: schema of every element (optional) */
        const char *const *enum_values; /* ST_STRING: allowed values (NULL-terminated) */
        bool required;
        bool secret;                    /* never logged, never in world-readable output */
};

/* Declaring keys reads like a table:
 *     static const schema_key hostname_keys[] = {
 *             KEY("hostname", ST_STRING, "The hostname to set ..."),
 *             KEY_OBJ("consul", consul_props, "Consul agent ..."),
 *             KEY_LIST("runcmd", ST_STRING | ST_ARRAY, &runcmd_item, "..."),
 *             {}
 *     };
 */
#define KEY(n, t, d) { .name = (n), .types = (t), .description = (d) }
#define KEY_OBJ(n, p, d) { .name = (n), .types = ST_OBJECT, .props = (p), .description = (d) }
#define KEY_MAP(n, v, d) { .name = (n), .types = ST_OBJECT, .values = (v), .description = (d) }
#define KEY_LIST(n, it, d) { .name = (n), .types = ST_ARRAY, .items = (it), .description = (d) }
#define KEY_ENUM(n, e, d) { .name = (n), .types = ST_STRING, .enum_values = (e), .description = (d) }

/* Checks doc against the top-level keys.  Positions come from map (falling
 * back to `file` alone).  Returns 0 when there are no errors (warnings may
 * have been added), -EINVAL otherwise. */
int schema_validate(const schema_key *top, json_t *doc, const srcmap *map, const char *file, diags *d);

/* Adds "<path>: message" with the position of path's value (or of its key,
 * for messages about the key itself). */
void schema_report(diags *d, diag_level level, const srcmap *map, const char *file, const char *path,
                   const char *format, ...) _printf_(6, 7);
void schema_report_key(diags *d, diag_level level, const srcmap *map, const char *file, const char *path,
                       const char *format, ...) _printf_(6, 7);

/* "string", "integer or list" … for messages. */
const char *schema_type_name(unsigned types, char *buf, size_t size);
/* The secret keys' paths with wildcards ("consul.token", "consul.agent.encrypt"), for redaction. */
bool schema_path_is_secret(const schema_key *top, const char *path);
/* Writes the markdown reference of every key. */
void schema_print_markdown(const schema_key *top, FILE *f);
