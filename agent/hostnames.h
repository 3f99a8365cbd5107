/* hostnames.h — which hostname and FQDN a machine gets, cloud-init's way,
 * and whether a name is one the kernel and resolvers will accept.
 *
 * Derivation follows cloud-init's util.get_hostname_fqdn() and the
 * datasource's get_hostname(), so user-data written for cloud-init names
 * the machine the same way under kiln:
 *
 *   fqdn set            fqdn = fqdn; hostname = `hostname` or fqdn's first label
 *   hostname has a '.'  fqdn = hostname; hostname = its first label
 *   otherwise           from the metadata's local-hostname: an IPv4 address
 *                       a.b.c.d becomes "ip-a-b-c-d"; the short name is its
 *                       first label and the FQDN the whole name (the short
 *                       name when it has no domain); `hostname`, if set,
 *                       replaces the short name
 *
 * and the name the machine is given (/etc/hostname, the kernel) is the
 * short one, or the FQDN with prefer_fqdn_over_hostname.
 *
 * Validation is RFC 1123: labels of 1..63 letters, digits and '-', not
 * starting or ending with '-'; a name of at most 253 bytes, at most 64 for
 * the one the kernel holds (HOST_NAME_MAX); no trailing dot (cloud-init
 * passes one through and most tools then refuse it: kiln refuses it up
 * front, at the key that set it).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

#define HOSTNAME_KERNEL_MAX 64
#define HOSTNAME_FQDN_MAX 253

/* Where a derived name came from, for diagnostics. */
typedef enum hostname_source {
        HOSTNAME_FROM_HOSTNAME, /* the `hostname` key */
        HOSTNAME_FROM_FQDN,     /* the `fqdn` key */
        HOSTNAME_FROM_METADATA, /* v1.local_hostname */
} hostname_source;

typedef struct hostname_names {
        char *hostname;                 /* short name */
        char *fqdn;                     /* equals hostname when there is no domain */
        hostname_source hostname_from;
        hostname_source fqdn_from;
} hostname_names;

/* Derives the names from the config values and local-hostname (each may be
 * NULL).  -ENODATA when there is nothing to go on (no key and no metadata). */
int hostname_derive(const char *cfg_hostname, const char *cfg_fqdn, const char *local_hostname,
                    hostname_names *ret);
void hostname_names_clear(hostname_names *n);
static inline void hostname_names_clearp(hostname_names *n) {
        hostname_names_clear(n);
}
#define _cleanup_hostname_names_ _cleanup_(hostname_names_clearp)

/* The names the config asks for: hostname and fqdn (templates rendered
 * against instance-data: "cortex-{{ v1.instance_id }}"), else derived from
 * the metadata's local-hostname.  Bad values are input errors in ctx->diags;
 * -ENODATA when there is nothing to go on.  The hostname module and every
 * default that means "this machine's name" (Consul's node_name) use it. */
struct kiln_ctx;
int hostname_names_from_config(struct kiln_ctx *ctx, hostname_names *ret);

/* NULL when name is a valid host name of at most max bytes; otherwise what
 * is wrong with it, for a diagnostic (a static string). */
const char *hostname_check(const char *name, size_t max);

/* The hostname recorded in the text of an /etc/hostname file: its first
 * line that is not blank or a '#' comment, trimmed (malloc'd; NULL when
 * there is none, or on OOM with errno set). */
char *hostname_file_parse(const char *text);
