/* status.c — see status.h.
 *
 * When status.json is rewritten: when a stage begins and when it ends, when
 * a module fails or records recoverable errors, and otherwise at most once a
 * second while a stage runs (a long module, e.g. a volume still being waited
 * for, still shows the ones before it).  Not after every module: each
 * rewrite serialises the whole document, and a boot runs some twenty
 * modules.  Readers lose nothing they could act on: `kiln status` decides
 * on the stages' start/finished/errors, which are always written, and
 * systemd's STATUS= still follows every module.  The file lives in /run,
 * so it is written without fsync (fileio.h, no_sync). */
#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "state.h"
#include "status.h"

static double epoch(usec_t t) {
        return (double) t / (double) USEC_PER_SEC;
}

static json_t *v1(json_t *st) {
        return json_object_get(st, "v1");
}

static json_t *fresh_stage(void) {
        return json_pack("{s:n, s:n, s:[], s:{}, s:{}}", "start", "finished", "errors", "recoverable_errors",
                         "modules");
}

int status_load(json_t **ret) {
        _cleanup_free_ char *p = run_path("status.json");
        json_t *st = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = json_read_file(p, &st);
        if (r >= 0 && json_is_object(v1(st))) {
                *ret = st;
                return 0;
        }
        json_decref(st);
        if (r < 0 && r != -ENOENT && r != -EBADMSG)
                return r;
        st = json_pack("{s:{s:n, s:n, s:s}}", "v1", "datasource", "stage", "kiln_version", KILN_VERSION);
        if (!st)
                return -ENOMEM;
        for (int s = 0; s < _STAGE_MAX; s++)
                if (json_object_set_new(v1(st), stage_to_string((kiln_stage) s), fresh_stage()) < 0) {
                        json_decref(st);
                        return -ENOMEM;
                }
        *ret = st;
        return 0;
}

void status_notify(const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (!getenv("NOTIFY_SOCKET"))
                return;
        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (msg)
                (void) sd_notifyf(0, "STATUS=%s", msg);
}

#define STATUS_SAVE_INTERVAL USEC_PER_SEC

static usec_t last_save; /* monotonic time of the last successful save; 0: none yet */

int status_save(json_t *st) {
        _cleanup_free_ char *p = run_path("status.json");
        int r;
        if (!p)
                return -ENOMEM;
        r = run_dir_ensure();
        if (r < 0)
                return r;
        r = json_write_file_no_sync(p, st, 0644);
        if (r >= 0)
                last_save = now_mono_usec();
        return r;
}

/* The first STATUS_CHANGES_MAX changes of a module, as a new reference (NULL
 * for none).  Every change is in the journal already (ctx_change() logs it);
 * status.json is read by every later stage and by `kiln status`, and a
 * module writing a thousand templates would make it a thousand lines long,
 * parsed and rewritten by each stage. */
static json_t *changes_kept(json_t *changes, size_t *ret_omitted) {
        size_t n = json_array_size(changes);

        *ret_omitted = 0;
        if (n <= STATUS_CHANGES_MAX)
                return json_incref(changes);
        json_t *a = json_array();
        for (size_t i = 0; a && i < STATUS_CHANGES_MAX; i++)
                if (json_array_append(a, json_array_get(changes, i)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        *ret_omitted = n - STATUS_CHANGES_MAX;
        return a;
}

static json_t *stage_obj(json_t *st, kiln_stage s) {
        json_t *o = json_object_get(v1(st), stage_to_string(s));
        if (!o) {
                o = fresh_stage();
                if (!o || json_object_set_new(v1(st), stage_to_string(s), o) < 0)
                        return NULL;
        }
        return o;
}

int status_set(json_t *st, const char *key, json_t *value) {
        return json_object_set_new(v1(st), key, value) < 0 ? -ENOMEM : 0;
}

int status_stage_begin(json_t *st, kiln_stage s) {
        json_t *fresh = fresh_stage();
        if (!fresh || json_object_set_new(fresh, "start", json_real(epoch(now_usec()))) < 0 ||
            json_object_set_new(v1(st), stage_to_string(s), fresh) < 0)
                return -ENOMEM;
        if (s < _STAGE_BOOT_MAX)
                status_set(st, "stage", json_string(stage_to_string(s)));
        status_notify("%s stage running", stage_to_string(s));
        return status_save(st);
}

int status_stage_resume(json_t *st, kiln_stage s) {
        if (!stage_obj(st, s))
                return -ENOMEM;
        if (s < _STAGE_BOOT_MAX)
                status_set(st, "stage", json_string(stage_to_string(s)));
        status_notify("%s stage running (one module again)", stage_to_string(s));
        return status_save(st);
}

int status_stage_error(json_t *st, kiln_stage s, const char *message) {
        json_t *o = stage_obj(st, s);
        if (!o)
                return -ENOMEM;
        return json_array_append_new(json_object_get(o, "errors"), json_string(message)) < 0 ? -ENOMEM : 0;
}

int status_stage_end(json_t *st, kiln_stage s) {
        json_t *o = stage_obj(st, s);
        if (!o || json_object_set_new(o, "finished", json_real(epoch(now_usec()))) < 0)
                return -ENOMEM;
        if (s < _STAGE_BOOT_MAX)
                status_set(st, "stage", json_null());
        size_t n_err = json_array_size(json_object_get(o, "errors"));
        status_notify("%s stage finished%s", stage_to_string(s), n_err ? " with errors" : "");
        return status_save(st);
}

static int add_recoverable(json_t *stage, json_t *recoverable) {
        json_t *rec = json_object_get(stage, "recoverable_errors"), *warn;
        size_t i;
        json_t *m;

        if (json_array_size(recoverable) == 0)
                return 0;
        warn = json_object_get(rec, "WARNING");
        if (!warn) {
                warn = json_array();
                if (!warn || json_object_set_new(rec, "WARNING", warn) < 0)
                        return -ENOMEM;
        }
        json_array_foreach(recoverable, i, m)
                if (json_array_append(warn, m) < 0)
                        return -ENOMEM;
        return 0;
}

/* A module recorded again (`kiln rerun`): the stage-level errors and
 * warnings its previous record contributed go, so they are not counted twice. */
static void forget_module(json_t *stage, const char *module) {
        json_t *old = json_object_get(json_object_get(stage, "modules"), module), *m;
        json_t *errors = json_object_get(stage, "errors");
        json_t *warn = json_object_get(json_object_get(stage, "recoverable_errors"), "WARNING");
        _cleanup_free_ char *prefix = NULL;
        size_t i;

        if (!old || asprintf(&prefix, "%s: ", module) < 0)
                return;
        for (i = json_array_size(errors); i > 0; i--)
                if (startswith(json_string_value(json_array_get(errors, i - 1)), prefix))
                        json_array_remove(errors, i - 1);
        json_array_foreach(json_object_get(old, "recoverable_errors"), i, m)
                for (size_t k = 0; k < json_array_size(warn); k++)
                        if (json_equal(json_array_get(warn, k), m)) {
                                json_array_remove(warn, k);
                                break;
                        }
}

int status_module(json_t *st, kiln_stage s, const char *module, kiln_freq f, usec_t start, usec_t end,
                  const char *result, const char *reason, json_t *changes, json_t *errors, json_t *recoverable) {
        json_t *stage = stage_obj(st, s), *m;
        size_t i, omitted = 0;
        json_t *e, *kept = changes_kept(changes, &omitted);

        if (!stage || (changes && !kept))
                return -ENOMEM;
        forget_module(stage, module);
        m = json_pack("{s:s, s:f, s:f, s:f, s:s, s:s?, s:o?, s:O?, s:O?}", "frequency", freq_to_string(f), "start",
                      epoch(start), "finished", epoch(end), "duration_ms", (double) (end - start) / 1000.0, "result",
                      result, "reason", reason, "changes", kept, "errors", errors, "recoverable_errors",
                      recoverable);
        if (m && omitted > 0 && json_object_set_new(m, "changes_omitted", json_integer((json_int_t) omitted)) < 0) {
                json_decref(m);
                m = NULL;
        }
        if (!m || json_object_set_new(json_object_get(stage, "modules"), module, m) < 0)
                return -ENOMEM;
        json_array_foreach(errors, i, e) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "%s: %s", module, json_string_value(e)) < 0 ||
                    json_array_append_new(json_object_get(stage, "errors"), json_string(msg)) < 0)
                        return -ENOMEM;
        }
        if (add_recoverable(stage, recoverable) < 0)
                return -ENOMEM;
        status_notify("%s: %s %s", stage_to_string(s), module, result);
        if (json_array_size(errors) > 0 || json_array_size(recoverable) > 0 ||
            now_mono_usec() - last_save >= STATUS_SAVE_INTERVAL)
                return status_save(st);
        return 0;
}

int status_write_result(json_t *st) {
        _cleanup_json_ json_t *errors = json_array(), *rec = json_array(), *res = NULL;
        _cleanup_free_ char *p = run_path("result.json");

        if (!errors || !rec || !p)
                return -ENOMEM;
        for (int s = 0; s < _STAGE_BOOT_MAX; s++) {
                json_t *o = json_object_get(v1(st), stage_to_string((kiln_stage) s));
                json_array_extend(errors, json_object_get(o, "errors"));
                json_array_extend(rec, json_object_get(json_object_get(o, "recoverable_errors"), "WARNING"));
        }
        res = json_pack("{s:{s:O, s:O, s:{s:O}}}", "v1", "datasource", json_object_get(v1(st), "datasource"),
                        "errors", errors, "recoverable_errors", "WARNING", rec);
        if (!res)
                return -ENOMEM;
        return json_write_file_no_sync(p, res, 0644);
}

status_state status_evaluate(json_t *st, int *ret_exit) {
        bool any_started = false, errors = false, recoverable = false;
        json_t *final = json_object_get(v1(st), stage_to_string(STAGE_FINAL));

        for (int s = 0; s < _STAGE_BOOT_MAX; s++) {
                json_t *o = json_object_get(v1(st), stage_to_string((kiln_stage) s));
                any_started = any_started || json_is_number(json_object_get(o, "start"));
                errors = errors || json_array_size(json_object_get(o, "errors")) > 0;
                recoverable = recoverable ||
                              json_array_size(json_object_get(json_object_get(o, "recoverable_errors"), "WARNING")) > 0;
        }
        *ret_exit = errors ? STATUS_EXIT_ERROR : recoverable ? STATUS_EXIT_RECOVERABLE : STATUS_EXIT_OK;
        if (json_is_number(json_object_get(final, "finished")))
                return STATUS_DONE;
        return any_started ? STATUS_RUNNING : STATUS_NOT_STARTED;
}

static bool cmdline_disables(void) {
        _cleanup_free_ char *rooted = root_is_live() ? NULL : root_path("/proc/cmdline"), *text = NULL;
        int r = -ENOENT;
        if (rooted)
                r = read_full_file(rooted, 65536, &text, NULL);
        if (r == -ENOENT)
                r = read_full_file("/proc/cmdline", 65536, &text, NULL);
        if (r < 0)
                return false;
        for (char *save = NULL, *w = strtok_r(text, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
                if (streq(w, "kiln=disabled"))
                        return true;
        return false;
}

bool kiln_is_disabled(const char **ret_reason) {
        _cleanup_free_ char *p = root_path("/etc/kiln/kiln-disabled");
        if (p && access(p, F_OK) == 0) {
                *ret_reason = "/etc/kiln/kiln-disabled exists";
                return true;
        }
        if (cmdline_disables()) {
                *ret_reason = "kiln=disabled on the kernel command line";
                return true;
        }
        return false;
}
