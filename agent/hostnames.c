/* hostnames.c — see hostnames.h. */
#include <arpa/inet.h>
#include <ctype.h>

#include "hostnames.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "util.h"

void hostname_names_clear(hostname_names *n) {
        free(n->hostname);
        free(n->fqdn);
        *n = (hostname_names){};
}

static char *first_label(const char *name) {
        return strndup(name, strcspn(name, "."));
}

/* cloud-init: an IPv4 address as local-hostname becomes "ip-a-b-c-d". */
static char *metadata_fqdn(const char *local_hostname) {
        struct in_addr a;
        char *r;

        if (inet_pton(AF_INET, local_hostname, &a) != 1)
                return strdup(local_hostname);
        if (asprintf(&r, "ip-%s", local_hostname) < 0)
                return NULL;
        for (char *c = r; *c; c++)
                if (*c == '.')
                        *c = '-';
        return r;
}

static int derive_from_metadata(const char *cfg_hostname, const char *local_hostname, hostname_names *n) {
        if (isempty(local_hostname)) {
                if (isempty(cfg_hostname))
                        return -ENODATA;
                /* cloud-init would ask the running system for a domain; kiln
                 * does not look at the live machine: no domain. */
                n->hostname = strdup(cfg_hostname);
                n->fqdn = strdup(cfg_hostname);
                n->hostname_from = n->fqdn_from = HOSTNAME_FROM_HOSTNAME;
                return 0;
        }
        n->fqdn = metadata_fqdn(local_hostname);
        n->fqdn_from = HOSTNAME_FROM_METADATA;
        if (!isempty(cfg_hostname)) {
                n->hostname = strdup(cfg_hostname);
                n->hostname_from = HOSTNAME_FROM_HOSTNAME;
        } else {
                n->hostname = n->fqdn ? first_label(n->fqdn) : NULL;
                n->hostname_from = HOSTNAME_FROM_METADATA;
        }
        return 0;
}

int hostname_derive(const char *cfg_hostname, const char *cfg_fqdn, const char *local_hostname,
                    hostname_names *ret) {
        _cleanup_hostname_names_ hostname_names n = {};
        int r = 0;

        if (!isempty(cfg_fqdn)) {
                n.fqdn = strdup(cfg_fqdn);
                n.fqdn_from = HOSTNAME_FROM_FQDN;
                n.hostname = isempty(cfg_hostname) ? first_label(cfg_fqdn) : strdup(cfg_hostname);
                n.hostname_from = isempty(cfg_hostname) ? HOSTNAME_FROM_FQDN : HOSTNAME_FROM_HOSTNAME;
        } else if (!isempty(cfg_hostname) && strchr(cfg_hostname + 1, '.')) {
                n.fqdn = strdup(cfg_hostname);
                n.hostname = first_label(cfg_hostname);
                n.hostname_from = n.fqdn_from = HOSTNAME_FROM_HOSTNAME;
        } else
                r = derive_from_metadata(cfg_hostname, local_hostname, &n);
        if (r < 0)
                return r;
        if (!n.hostname || !n.fqdn)
                return -ENOMEM;
        *ret = n;
        n = (hostname_names){};
        return 0;
}

static const char *label_check(const char *l, size_t n) {
        if (n == 0)
                return "has an empty label (two dots in a row, or a leading dot)";
        if (n > 63)
                return "has a label longer than 63 characters";
        if (l[0] == '-' || l[n - 1] == '-')
                return "has a label that starts or ends with '-'";
        for (size_t i = 0; i < n; i++)
                if (!isascii((unsigned char) l[i]) || !(isalnum((unsigned char) l[i]) || l[i] == '-'))
                        return "may contain only letters, digits, '-' and '.' (RFC 1123)";
        return NULL;
}

const char *hostname_check(const char *name, size_t max) {
        size_t len = name ? strlen(name) : 0;

        if (len == 0)
                return "is empty";
        if (name[len - 1] == '.')
                return "ends with a dot: give the name without the trailing dot";
        for (const char *l = name;;) {
                size_t n = strcspn(l, ".");
                const char *why = label_check(l, n);
                if (why)
                        return why;
                if (!l[n])
                        break;
                l += n + 1;
        }
        if (len > max)
                return max == HOSTNAME_KERNEL_MAX ? "is longer than the 64 characters the kernel allows"
                                                  : "is longer than 253 characters";
        return NULL;
}

char *hostname_file_parse(const char *text) {
        for (const char *p = text; p && *p;) {
                const char *eol = strchrnul(p, '\n');
                _cleanup_free_ char *line = strndup(p, (size_t) (eol - p));
                if (!line)
                        return NULL;
                char *s = strstrip(line);
                if (*s && *s != '#')
                        return strdup(s);
                p = *eol ? eol + 1 : eol;
        }
        errno = 0;
        return NULL;
}

/* A hostname or fqdn value, rendered when it is a template.  NULL when the
 * key is unset. */
static int config_name(kiln_ctx *ctx, const char *key, char **ret) {
        int r = ctx_config_render(ctx, key, ret);
        if (r < 0 || !*ret)
                return r;
        if (isempty(*ret)) {
                free(*ret);
                *ret = NULL;
                return ctx_input_error(ctx, key, "is empty; remove the key to use the metadata's name");
        }
        return 0;
}

int hostname_names_from_config(kiln_ctx *ctx, hostname_names *ret) {
        _cleanup_free_ char *h = NULL, *f = NULL;
        int r = config_name(ctx, "hostname", &h), k = config_name(ctx, "fqdn", &f);
        if (r < 0 || k < 0)
                return r < 0 ? r : k;
        r = hostname_derive(h, f, json_string_value(json_get_path(ctx->instance_data, "v1.local_hostname")), ret);
        if (r == -ENODATA)
                log_info("No hostname, fqdn or metadata local-hostname: the host name is left as it is.");
        return r;
}
