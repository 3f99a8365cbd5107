/* hosts-file.h — the machine's own names in /etc/hosts (manage_etc_hosts).
 *
 * cloud-init on Debian maps the machine's names to 127.0.1.1 (so that
 * `hostname --fqdn` and `ping $(hostname)` work without DNS) in one of two
 * ways, and kiln keeps both meanings, with one deliberate difference:
 *
 *   true / "template"  cloud-init rewrites the whole file from its template
 *                      on every boot, losing any line put there by the image
 *                      or an admin.  kiln owns only the 127.0.1.1 lines: the
 *                      first one becomes "127.0.1.1 FQDN HOSTNAME", other
 *                      127.0.1.1 lines are dropped, every other line is kept
 *                      byte for byte.  With no 127.0.1.1 line, the new line
 *                      goes before the first entry.  A missing file gets the
 *                      content of cloud-init's Debian template.
 *   "localhost"        as cloud-init's update_etc_hosts(): if a 127.0.1.1
 *                      line already names FQDN with HOSTNAME as an alias,
 *                      nothing changes; otherwise "127.0.1.1 FQDN HOSTNAME"
 *                      is added after the last 127.0.1.1 line (earlier ones,
 *                      e.g. for a previous name, stay); a missing file gets
 *                      a comment line and that line.
 *
 * When FQDN and HOSTNAME are the same (no domain) the line names it once.
 * Only a change rebuilds the text, so an up-to-date file is returned as is.
 */
#pragma once

#include "macro.h"

#define HOSTS_FILE "/etc/hosts"
#define HOSTS_SELF_ADDRESS "127.0.1.1"

typedef enum hosts_mode {
        HOSTS_UNMANAGED,
        HOSTS_MANAGED,   /* manage_etc_hosts: true (or "template") */
        HOSTS_LOCALHOST, /* manage_etc_hosts: localhost */
} hosts_mode;

/* The new text of the hosts file given its current text (NULL when the file
 * is missing).  *ret is malloc'd and equals existing when nothing changes.
 * HOSTS_UNMANAGED returns a copy of existing (or "" for none). */
int hosts_file_update(const char *existing, hosts_mode mode, const char *fqdn, const char *hostname, char **ret);
