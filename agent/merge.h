/* merge.h — how config layers add up.
 *
 * Two rules, both cloud-init's (see docs/user-data.md, "Merging"):
 *
 *  - Image defaults (kiln.yaml, then kiln.d/NAME.yaml in lexical order, then
 *    user-data on top of them) merge deeply: mappings recurse, any other
 *    value (scalars *and lists*) is replaced by the later layer.  This is
 *    cloud-init's merge of system config with user config.
 *
 *  - User-data cloud-config parts merge into each other by the later part's
 *    merge policy: its `merge_how`/`merge_type` key, else its X-Merge-Type
 *    MIME header, else cloud-init's default "dict(replace)+list()+str()"
 *    under which a later part replaces a top-level key wholesale (two runcmd
 *    parts do NOT add up).  Terraform users write
 *    "list(append)+dict(recurse_array)+str()" to make lists add up; kiln
 *    warns when a default-policy part silently replaces a key.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "diag.h"
#include "srcmap.h"

typedef enum {
        MERGE_DICT_NO_REPLACE, /* keep the earlier scalar; recurse as the flags say */
        MERGE_DICT_REPLACE,    /* the later value replaces the earlier one wholesale */
        MERGE_DICT_DEEP,       /* kiln's layering: mappings recurse, everything else replaced */
} merge_dict_method;

typedef enum {
        MERGE_LIST_REPLACE,
        MERGE_LIST_APPEND,
        MERGE_LIST_PREPEND,
        MERGE_LIST_NO_REPLACE, /* keep the earlier list */
} merge_list_method;

typedef struct merge_policy {
        merge_dict_method dict;
        bool recurse_array; /* dict(recurse_array|recurse_list): lists go through the list rule */
        bool recurse_str;   /* dict(recurse_str): strings go through the str rule */
        bool allow_delete;  /* dict(allow_delete): a null value removes the key */
        merge_list_method list;
        bool str_append;    /* str(append): strings concatenate */
} merge_policy;

extern const merge_policy merge_policy_deep;          /* image layering */
extern const merge_policy merge_policy_cloud_default; /* dict(replace)+list()+str() */

/* Parses "list(append)+dict(recurse_array,no_replace)+str()" or a YAML
 * merge_how list [{name: list, settings: [append]}, …].  Unknown mergers or
 * settings are errors in d (with `where` as the position text). */
int merge_policy_parse_string(const char *s, merge_policy *ret, diags *d, const char *where);
int merge_policy_parse_json(json_t *how, merge_policy *ret, diags *d, const char *where);

typedef struct merge_note {
        /* Called for every key an overlay replaces under a policy that does
         * not combine it: lets the caller warn about silent replacement. */
        void (*replaced)(void *userdata, const char *path);
        void *userdata;
} merge_note;

/* Merges overlay into base in place (overlay is not modified), keeping the
 * position maps in step.  Both must be JSON objects. */
int merge_into(json_t *base, srcmap *base_map, json_t *overlay, const srcmap *overlay_map, const merge_policy *p,
               const merge_note *note);
