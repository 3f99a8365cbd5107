/* json-util.h — small jansson helpers shared by every module. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Value at a dotted path with optional indices: "ds.meta_data.placement",
 * "consul.services[0].name" (borrowed, NULL when absent). */
json_t *json_get_path(json_t *root, const char *path);
/* Sets the value at a dotted path, creating objects on the way (steals v). */
int json_set_path_new(json_t *root, const char *path, json_t *v);

/* Typed getters with defaults for optional config keys. */
const char *json_get_string(json_t *obj, const char *key, const char *def);
bool json_get_bool(json_t *obj, const char *key, bool def);
long long json_get_int(json_t *obj, const char *key, long long def);
double json_get_number(json_t *obj, const char *key, double def);

/* Serialises with sorted keys, 2-space indent and a trailing newline. */
char *json_dump_pretty(const json_t *v);
/* Loads a JSON file (bounded); -ENOENT when absent, -EBADMSG when invalid. */
int json_read_file(const char *path, json_t **ret);
/* Writes v atomically as pretty JSON with the given mode. */
int json_write_file_atomic(const char *path, const json_t *v, unsigned mode);
/* The same, not fsync'd (write_opts.no_sync: only for files whose loss is harmless). */
int json_write_file_no_sync(const char *path, const json_t *v, unsigned mode);
