/* hostname.c — the machine's name: cloud-init's set_hostname,
 * update_hostname and update_etc_hosts in one module.
 *
 * Names come from `hostname`/`fqdn` or the metadata's local-hostname, the
 * way cloud-init derives them (agent/hostnames.h).  The chosen name (short,
 * or the FQDN with prefer_fqdn_over_hostname) goes to /etc/hostname, and on
 * the live system also to the kernel (sethostname(2)) and to
 * systemd-hostnamed when it is already running (never started or waited
 * for: kiln-network runs early in boot and must not pull units in).  Under
 * --root only files below the root change; the machine running kiln keeps
 * its name.
 *
 * Frequency: per boot.  cloud-init sets the name once per instance and
 * re-checks it on every boot; one per-boot module does both, because the
 * decision rests on a record rather than on the semaphore:
 * /var/lib/kiln/data/previous-hostname holds the name kiln last gave.
 *   - the wanted name differs from the record (first boot, new instance,
 *     new user-data): set it, as cloud-init's set_hostname does;
 *   - it equals the record but /etc/hostname now says something else:
 *     someone renamed the machine by hand; leave it (cloud-init's "assuming
 *     user maintained hostname");
 *   - otherwise make sure file and kernel agree with it.
 * preserve_hostname: true leaves the name alone; manage_etc_hosts still
 * applies (as in cloud-init, where they are separate modules).
 *
 * Values may be templates rendered against instance-data
 * ("cortex-{{ v1.instance_id }}"); the result is checked like any name.
 */
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "fileio.h"
#include "hostnames.h"
#include "hosts-file.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "state.h"

#define HOSTNAME_FILE "/etc/hostname"
#define SMALL_FILE_MAX (1024U * 1024U)
#define HOSTNAMED_TIMEOUT_USEC (5 * USEC_PER_SEC)

static const char *const manage_etc_hosts_values[] = { "localhost", "template", NULL };

static const schema_key hostname_keys[] = {
        KEY("hostname", ST_STRING,
            "The machine's host name (default: the short form of the metadata's local-hostname); "
            "a name with dots also sets fqdn, as in cloud-init."),
        KEY("fqdn", ST_STRING, "The fully qualified domain name (default: the metadata's local-hostname)."),
        KEY("prefer_fqdn_over_hostname", ST_BOOLEAN,
            "Give the machine its FQDN rather than the short name (at most 64 characters)."),
        { .name = "manage_etc_hosts",
          .types = ST_BOOLEAN | ST_STRING,
          .enum_values = manage_etc_hosts_values,
          .description = "Map the machine's names to 127.0.1.1 in /etc/hosts: true keeps one managed line "
                         "(other lines are kept), localhost adds the line if missing (cloud-init), false "
                         "(default) leaves /etc/hosts alone; template is a deprecated alias of true." },
        KEY("preserve_hostname", ST_BOOLEAN, "Never change the host name (/etc/hosts is still managed if asked)."),
        {},
};

static int check_name(kiln_ctx *ctx, const char *name, hostname_source from, size_t max, const char *why_max) {
        const char *why = hostname_check(name, max);
        if (!why)
                return 0;
        if (from == HOSTNAME_FROM_METADATA) {
                schema_report(ctx->diags, DIAG_ERROR, NULL, "instance-data", "v1.local_hostname",
                              "the metadata's local-hostname gives '%s', which %s", name, why);
                return -EINVAL;
        }
        return ctx_input_error(ctx, from == HOSTNAME_FROM_FQDN ? "fqdn" : "hostname", "'%s' %s%s", name, why,
                               why_max && strlen(name) > max ? why_max : "");
}

/* One error per bad value: a short name cut from a bad FQDN is not reported again. */
static int validate_names(kiln_ctx *ctx, const hostname_names *n, bool prefer_fqdn) {
        int k = check_name(ctx, n->fqdn, n->fqdn_from, HOSTNAME_FQDN_MAX, NULL);
        if (k < 0 && n->hostname_from == n->fqdn_from)
                return k;
        int r = check_name(ctx, n->hostname, n->hostname_from, HOSTNAME_KERNEL_MAX, NULL);
        if (r >= 0 && k >= 0 && prefer_fqdn)
                k = check_name(ctx, n->fqdn, n->fqdn_from, HOSTNAME_KERNEL_MAX, " (prefer_fqdn_over_hostname is set)");
        return r < 0 ? r : k;
}

/* ---- reading the current state ---- */

static int read_text(const char *abs_path, char **ret) {
        _cleanup_free_ char *p = root_path(abs_path), *text = NULL;
        size_t len;
        int r = p ? read_full_file(p, SMALL_FILE_MAX, &text, &len) : -ENOMEM;
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        if (strlen(text) != len)
                return -EBADMSG; /* a NUL byte: editing it as text would lose what follows */
        *ret = TAKE_PTR(text);
        return 0;
}

/* The name in a hostname-style file (NULL when missing or empty). */
static int read_name(const char *abs_path, char **ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_text(abs_path, &text);
        if (r < 0)
                return r;
        *ret = text ? hostname_file_parse(text) : NULL;
        return *ret || !text || errno == 0 ? 0 : -ENOMEM;
}

static bool kernel_differs(const char *name) {
        char cur[HOSTNAME_KERNEL_MAX + 1] = "";
        if (!root_is_live())
                return false;
        if (gethostname(cur, sizeof cur) < 0)
                return true;
        return !streq(cur, name);
}

/* ---- plan ---- */

static int plan_name(const char *name, json_t **plan) {
        _cleanup_free_ char *record = NULL, *current = NULL;
        int r;

        r = read_name(STATE_DIR "/data/previous-hostname", &record);
        if (r >= 0)
                r = read_name(HOSTNAME_FILE, &current);
        if (r < 0)
                return log_error_errno(r, "Failed to read the current host name: %m");
        if (record && streq(record, name) && current && !streq(current, record)) {
                log_info("/etc/hostname says '%s', not '%s' as kiln set it: assuming the host name is maintained "
                         "by hand; leaving it.", current, record);
                return 0;
        }
        bool file = !current || !streq(current, name), kernel = kernel_differs(name);
        bool remember = !record || !streq(record, name);
        if (!file && !kernel && !remember)
                return 0;
        json_t *item = plan_add(plan, "set", "hostname", "%s%s%s", name, file ? ", " HOSTNAME_FILE : "",
                                kernel ? ", kernel" : "");
        if (!item || json_object_set_new(item, "_name", json_string(name)) < 0)
                return -ENOMEM;
        return 0;
}

static hosts_mode hosts_mode_of(kiln_ctx *ctx) {
        json_t *v = ctx_config_get(ctx, "manage_etc_hosts");
        if (json_is_true(v))
                return HOSTS_MANAGED;
        if (json_is_string(v) && streq(json_string_value(v), "template")) {
                schema_report(ctx->diags, DIAG_WARNING, ctx->config_map, "config", "manage_etc_hosts",
                              "'template' is deprecated (as in cloud-init): use true");
                return HOSTS_MANAGED;
        }
        if (json_is_string(v) && streq(json_string_value(v), "localhost"))
                return HOSTS_LOCALHOST;
        return HOSTS_UNMANAGED;
}

/* The hosts file's new text, or NULL in *ret when it is up to date. */
static int hosts_new_text(hosts_mode mode, const char *fqdn, const char *hostname, char **ret) {
        _cleanup_free_ char *old = NULL, *text = NULL;
        int r = read_text(HOSTS_FILE, &old);
        if (r < 0)
                return r;
        r = hosts_file_update(old, mode, fqdn, hostname, &text);
        if (r < 0)
                return r;
        *ret = old && streq(old, text) ? NULL : TAKE_PTR(text);
        return 0;
}

static int plan_hosts(hosts_mode mode, const hostname_names *n, json_t **plan) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (mode == HOSTS_UNMANAGED)
                return 0;
        r = hosts_new_text(mode, n->fqdn, n->hostname, &text);
        if (r < 0)
                return log_error_errno(r, "Failed to read " HOSTS_FILE ": %m");
        if (!text)
                return 0;
        json_t *item = plan_add(plan, "update", HOSTS_FILE, HOSTS_SELF_ADDRESS " %s %s (%s)", n->fqdn, n->hostname,
                                mode == HOSTS_MANAGED ? "managed" : "localhost");
        if (!item || json_object_set_new(item, "_mode", json_integer(mode)) < 0 ||
            json_object_set_new(item, "_fqdn", json_string(n->fqdn)) < 0 ||
            json_object_set_new(item, "_hostname", json_string(n->hostname)) < 0)
                return -ENOMEM;
        return 0;
}

static int hostname_plan(kiln_ctx *ctx, json_t **ret_plan) {
        _cleanup_hostname_names_ hostname_names n = {};
        bool prefer_fqdn = json_is_true(ctx_config_get(ctx, "prefer_fqdn_over_hostname"));
        bool preserve = json_is_true(ctx_config_get(ctx, "preserve_hostname"));
        hosts_mode mode = hosts_mode_of(ctx);
        int r;

        if (preserve && mode == HOSTS_UNMANAGED) {
                log_info("preserve_hostname is set and manage_etc_hosts is not: nothing to do.");
                return 0;
        }
        r = hostname_names_from_config(ctx, &n);
        if (r == -ENODATA)
                return 0;
        if (r < 0)
                return r;
        r = validate_names(ctx, &n, prefer_fqdn && !preserve);
        if (r < 0)
                return r;
        if (preserve)
                log_info("preserve_hostname is set: the host name is left as it is.");
        else if (n.hostname_from == HOSTNAME_FROM_METADATA && streq(n.hostname, "localhost"))
                log_info("The metadata names the machine 'localhost': the host name is left to the system.");
        else {
                r = plan_name(prefer_fqdn ? n.fqdn : n.hostname, ret_plan);
                if (r < 0)
                        return r;
        }
        return plan_hosts(mode, &n, ret_plan);
}

/* ---- apply ---- */

/* SetStaticHostname on systemd-hostnamed, only if it is running already:
 * asking NameHasOwner first means the call never bus-activates it. */
static int hostnamed_set_static(const char *name) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has_owner = 0, r;

        if (sd_bus_open_system(&bus) < 0)
                return 0; /* no system bus: nothing to tell */
        (void) sd_bus_set_method_call_timeout(bus, HOSTNAMED_TIMEOUT_USEC);
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &err, &reply, "s", "org.freedesktop.hostname1");
        if (r < 0 || sd_bus_message_read(reply, "b", &has_owner) < 0 || !has_owner)
                return 0;
        r = sd_bus_call_method(bus, "org.freedesktop.hostname1", "/org/freedesktop/hostname1",
                               "org.freedesktop.hostname1", "SetStaticHostname", &err, NULL, "sb", name, 0);
        if (r < 0)
                return log_warning_errno(r, "systemd-hostnamed refused SetStaticHostname: %s",
                                         err.message ? err.message : "(no message)");
        return 1;
}

static int apply_kernel(kiln_ctx *ctx, const char *name) {
        if (!kernel_differs(name))
                return 0;
        if (sethostname(name, strlen(name)) < 0) {
                int r = negative_errno();
                return ctx_error(ctx, r, "Failed to set the kernel host name to %s: %s", name, strerror(-r));
        }
        return ctx_change(ctx, "set", "kernel hostname", "%s", name);
}

static int write_name_file(const char *abs_path, const char *name) {
        _cleanup_free_ char *p = root_path(abs_path), *content = NULL;
        write_opts o = WRITE_OPTS_DEFAULT;

        o.keep_existing_mode = true;
        if (!p || asprintf(&content, "%s\n", name) < 0)
                return -ENOMEM;
        return write_file_atomic(p, content, strlen(content), &o);
}

static int apply_name(kiln_ctx *ctx, const char *name) {
        _cleanup_free_ char *current = NULL;
        int r;

        r = read_name(HOSTNAME_FILE, &current);
        if (r >= 0 && (!current || !streq(current, name))) {
                r = write_name_file(HOSTNAME_FILE, name);
                if (r < 0)
                        return ctx_error(ctx, r, "Failed to write " HOSTNAME_FILE ": %s", strerror(-r));
                r = ctx_change(ctx, "wrote", HOSTNAME_FILE, "%s", name);
                if (r >= 0 && root_is_live() && hostnamed_set_static(name) > 0)
                        r = ctx_change(ctx, "set", "systemd-hostnamed static hostname", "%s", name);
        }
        if (r >= 0)
                r = apply_kernel(ctx, name);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = root_path(STATE_DIR "/data");
        r = dir ? mkdir_p(dir, 0755) : -ENOMEM;
        if (r >= 0)
                r = write_name_file(STATE_DIR "/data/previous-hostname", name);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to record the host name under " STATE_DIR "/data: %s", strerror(-r));
        return 0;
}

static int apply_hosts(kiln_ctx *ctx, json_t *item) {
        _cleanup_free_ char *text = NULL, *p = root_path(HOSTS_FILE);
        write_opts o = WRITE_OPTS_DEFAULT;
        int r;

        o.keep_existing_mode = true;
        if (!p)
                return log_oom();
        r = hosts_new_text((hosts_mode) json_integer_value(json_object_get(item, "_mode")),
                           json_get_string(item, "_fqdn", ""), json_get_string(item, "_hostname", ""), &text);
        if (r >= 0 && text)
                r = write_file_atomic(p, text, strlen(text), &o);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to update " HOSTS_FILE ": %s", strerror(-r));
        return text ? ctx_change(ctx, "updated", HOSTS_FILE, "%s", json_get_string(item, "detail", "")) : 0;
}

static int hostname_apply(kiln_ctx *ctx, json_t *plan) {
        json_t *item;
        size_t i;
        int r = 0;

        json_array_foreach(plan, i, item) {
                const char *name = json_get_string(item, "_name", NULL);
                int k = name ? apply_name(ctx, name) : apply_hosts(ctx, item);
                if (k < 0 && r >= 0)
                        r = k;
        }
        return r;
}

const kiln_module module_hostname = {
        .name = "hostname",
        .stage = STAGE_NETWORK,
        .frequency = FREQ_PER_BOOT,
        .description = "Set the host name and FQDN, and the 127.0.1.1 line of /etc/hosts.",
        .keys = hostname_keys,
        .plan = hostname_plan,
        .apply = hostname_apply,
};
