/* runner.c — see runner.h.
 *
 * A stage run is: load (image config, datasource, instance switch,
 * user-data → merged config, all validated) → plan every due module →
 * apply them in table order → record.  Loading happens once per process,
 * so `kiln run --stage all` fetches metadata once; a later stage in a
 * separate process reuses this boot's instance-data from /run/kiln instead
 * of asking the datasource again.  If any plan fails (bad input), nothing
 * of that stage is applied.
 */
#include <fcntl.h>
#include <sys/file.h>

#include "config.h"
#include "datasource.h"
#include "fileio.h"
#include "instance-data.h"
#include "json-util.h"
#include "log.h"
#include "merge.h"
#include "modules.h"
#include "runner.h"
#include "state.h"
#include "status.h"
#include "userdata.h"

typedef struct session {
        const run_opts *o;
        json_t *image_config;
        srcmap image_map;
        const datasource *ds;
        json_t *idata;        /* sensitive tree, vars included */
        json_t *config;       /* image config + user-data */
        srcmap config_map;
        json_t *scripts;
        char *instance_id;
        bool new_instance;
        int loaded;           /* 0 not yet, 1 loaded, <0 the error loading gave (not retried) */
        json_t *status;
        char boot_id[BOOT_ID_MAX];
} session;

static void session_clear(session *s) {
        json_decref(s->image_config);
        json_decref(s->idata);
        json_decref(s->config);
        json_decref(s->scripts);
        json_decref(s->status);
        srcmap_clear(&s->image_map);
        srcmap_clear(&s->config_map);
        free(s->instance_id);
}

/* ---- loading ---- */

static int load_image_config(session *s) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        int r = config_load_image(s->o->config_file, &s->image_config, &s->image_map, &d);
        diags_log(&d);
        if (r < 0)
                return log_error_errno(r, "The image config has errors; nothing was changed.");
        s->ds = datasource_from_config(s->image_config);
        if (!s->ds)
                return log_error_errno(-EINVAL, "Unknown datasource '%s'.",
                                       json_get_string(json_object_get(s->image_config, "datasource"), "name", "?"));
        return 0;
}

/* This boot's instance-data from an earlier stage, with the raw user-data. */
static int load_cached(session *s, char **ret_ud, size_t *ret_len) {
        _cleanup_json_ json_t *id = NULL;
        _cleanup_free_ char *ud_path = NULL;
        int r = instance_data_read(true, &id);
        if (r < 0)
                return r;
        if (!streq(json_get_string(json_object_get(id, "kiln"), "boot_id", ""), s->boot_id) ||
            !streq(json_get_string(json_object_get(id, "kiln"), "datasource", ""), s->ds->name))
                return -ESTALE;
        const char *iid = json_get_string(json_object_get(id, "v1"), "instance_id", NULL);
        if (!iid || !instance_id_is_valid(iid))
                return -ESTALE;
        ud_path = state_path("instances/%s/user-data.txt", iid);
        if (!ud_path)
                return -ENOMEM;
        r = read_full_file(ud_path, CONFIG_MAX, ret_ud, ret_len);
        if (r == -ENOENT) {
                *ret_ud = NULL;
                *ret_len = 0;
        } else if (r < 0)
                return r;
        s->idata = TAKE_PTR(id);
        return 0;
}

static int fetch(session *s, kiln_stage stage, ds_result *res) {
        int r;
        if (s->ds->needs_network && stage == STAGE_LOCAL)
                return -ENODATA;
        r = s->ds->fetch(json_object_get(json_object_get(s->image_config, "datasource"), s->ds->name), res);
        if (r < 0)
                return log_error_errno(r, "Datasource %s failed: %m", s->ds->name);
        r = instance_data_build(s->ds, res, s->boot_id, &s->idata);
        if (r < 0)
                return r;
        if (res->stats && s->status && !s->o->dry_run)
                status_set(s->status, "datasource_stats", json_incref(res->stats));
        return 0;
}

static int switch_instance(session *s, const char *ud, size_t ud_len, bool fetched) {
        const char *iid = json_get_string(json_object_get(s->idata, "v1"), "instance_id", NULL);
        int r;

        if (!instance_id_is_valid(iid))
                return log_error_errno(-EINVAL, "Invalid instance-id from the datasource: '%s'.", iid ? iid : "");
        s->instance_id = strdup(iid);
        if (!s->instance_id)
                return log_oom();
        if (s->o->dry_run)
                return state_instance_is_new(iid, &s->new_instance);
        r = state_switch_instance(iid, &s->new_instance);
        if (r < 0)
                return log_error_errno(r, "Failed to record instance %s under " STATE_DIR ": %m", iid);
        if (s->new_instance)
                log_info("New instance %s: per-instance modules will run.", iid);
        if (fetched) {
                _cleanup_free_ char *p = state_path("instances/%s/user-data.txt", iid);
                write_opts wo = WRITE_OPTS_DEFAULT;
                wo.mode = 0600;
                wo.no_sync = true; /* re-fetched every boot: read back only by this boot's later stages */
                r = p ? write_file_atomic(p, ud ? ud : "", ud_len, &wo) : -ENOMEM;
                if (r < 0)
                        return log_error_errno(r, "Failed to save user-data in " STATE_DIR "/instances/%s: %m", iid);
        }
        return 0;
}

static int merge_userdata(session *s, const char *ud, size_t ud_len) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *layer = NULL;
        _cleanup_srcmap_ srcmap layer_map = SRCMAP_INIT;
        int r;

        r = userdata_process(ud, ud_len, s->idata, &layer, &layer_map, &s->scripts, &d);
        diags_log(&d);
        if (r < 0)
                return log_error_errno(r, "The user-data has errors; nothing was changed.");
        if (json_object_get(layer, "datasource")) {
                log_warning("user-data: 'datasource' is image config and is ignored in user-data.");
                json_object_del(layer, "datasource");
        }
        s->config = json_deep_copy(s->image_config);
        if (!s->config)
                return log_oom();
        r = srcmap_copy_prefix(&s->config_map, &s->image_map, "", "");
        if (r >= 0)
                r = merge_into(s->config, &s->config_map, layer, &layer_map, &merge_policy_deep, NULL);
        if (r < 0)
                return log_oom();
        return instance_data_add_vars(s->idata, s->config) < 0 ? log_oom() : 0;
}

static int load(session *s, kiln_stage stage);

static int session_load(session *s, kiln_stage stage) {
        int r;

        if (s->loaded != 0)
                return s->loaded > 0 ? 0 : s->loaded;
        r = load(s, stage);
        /* Remember a failure (later stages fail the same way without a second
         * fetch or a second copy of the errors); -ENODATA only means "not yet". */
        if (r != -ENODATA)
                s->loaded = r < 0 ? r : 1;
        return r;
}

static int load(session *s, kiln_stage stage) {
        _cleanup_ds_result_ ds_result res = { 0 };
        _cleanup_free_ char *cached_ud = NULL;
        size_t cached_len = 0;
        bool fetched = false;
        int r;

        r = load_cached(s, &cached_ud, &cached_len);
        if (r < 0 && r != -ENOENT && r != -ESTALE && r != -EBADMSG)
                return log_error_errno(r, "Failed to read this boot's instance-data: %m");
        if (r < 0) {
                r = fetch(s, stage, &res);
                if (r < 0)
                        return r;
                fetched = true;
        }
        const char *ud = fetched ? res.user_data : cached_ud;
        size_t ud_len = fetched ? res.user_data_len : cached_len;

        r = switch_instance(s, ud, ud_len, fetched);
        if (r < 0)
                return r;
        r = merge_userdata(s, ud, ud_len);
        if (r < 0)
                return r;
        if (fetched && !s->o->dry_run) {
                r = instance_data_write(s->idata);
                if (r < 0)
                        return log_error_errno(r, "Failed to write instance-data under " RUN_DIR ": %m");
        }
        if (s->status && !s->o->dry_run) {
                status_set(s->status, "datasource", json_string(s->ds->name));
                status_set(s->status, "instance_id", json_string(s->instance_id));
                status_set(s->status, "boot_id", json_string(s->boot_id));
        }
        return 0;
}

/* ---- modules ---- */

#define MAX_MODULES_PER_STAGE 64

typedef struct planned {
        const kiln_module *m;
        kiln_freq freq;
        json_t *plan;
        usec_t start;
} planned;

static kiln_freq effective_freq(const session *s, const kiln_module *m) {
        return s->o->force_freq != _FREQ_INVALID ? s->o->force_freq : m->frequency;
}

static void init_ctx(session *s, kiln_ctx *ctx, kiln_stage stage, const kiln_module *m, diags *d) {
        *ctx = (kiln_ctx){
                .stage = stage,
                .dry_run = s->o->dry_run,
                .config = s->config,
                .config_map = &s->config_map,
                .instance_data = s->idata,
                .instance_id = s->instance_id,
                .new_instance = s->new_instance,
                .scripts = s->scripts,
                .diags = d,
                .module = m,
        };
}

static void record(session *s, kiln_stage stage, const planned *p, const char *result, const char *reason,
                   kiln_ctx *ctx, json_t *errors) {
        if (s->o->dry_run)
                return;
        (void) status_module(s->status, stage, p->m->name, p->freq, p->start, now_usec(), result, reason,
                             ctx ? ctx->changes : NULL, errors, ctx ? ctx->recoverable : NULL);
}

/* Returns 1 when the module is due, 0 when skipped (recorded), <0 on error. */
static int is_due(session *s, kiln_stage stage, planned *p) {
        bool done = false;
        int r;

        if (modules_disabled_by_config(s->config, p->m->name)) {
                record(s, stage, p, "skipped", "disabled by kiln.disable_modules", NULL, NULL);
                return 0;
        }
        r = state_sem_done(s->instance_id, p->m->name, p->freq, &done);
        if (r < 0)
                return log_error_errno(r, "Failed to read the semaphore of %s: %m", p->m->name);
        if (!done)
                return 1;
        _cleanup_free_ char *reason = NULL;
        if (asprintf(&reason, "already ran (%s)", freq_to_string(p->freq)) < 0)
                return log_oom();
        log_debug("%s: skipped, %s", p->m->name, reason);
        record(s, stage, p, "skipped", reason, NULL, NULL);
        if (s->o->dry_run && s->o->plan_out)
                fprintf(s->o->plan_out, "%s: %s: skipped, %s\n", stage_to_string(stage), p->m->name, reason);
        return 0;
}

static void print_plan(const session *s, kiln_stage stage, const planned *p) {
        FILE *f = s->o->plan_out;
        json_t *item;
        size_t i;

        if (!f)
                return;
        if (json_array_size(p->plan) == 0) {
                fprintf(f, "%s: %s: nothing to do\n", stage_to_string(stage), p->m->name);
                return;
        }
        fprintf(f, "%s: %s (%s):\n", stage_to_string(stage), p->m->name, freq_to_string(p->freq));
        json_array_foreach(p->plan, i, item) {
                const char *detail = json_get_string(item, "detail", NULL);
                fprintf(f, "  %s %s%s%s%s\n", json_get_string(item, "action", "?"), json_get_string(item, "target", ""),
                        detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
        }
}

/* The diagnostics a failed plan added, as status errors ("file:line:col: error: …"). */
static json_t *diag_messages(const diags *d, size_t first, int r) {
        json_t *a = json_array();
        for (size_t i = first; a && i < d->n; i++) {
                _cleanup_free_ char *m = diag_format(&d->v[i]);
                if (m && d->v[i].level == DIAG_ERROR)
                        json_array_append_new(a, json_string(m));
        }
        if (a && json_array_size(a) == 0)
                json_array_append_new(a, json_string(strerror(-r)));
        return a;
}

static int plan_stage(session *s, kiln_stage stage, planned *out, size_t *n_out, diags *d) {
        int failed = 0, r;

        *n_out = 0;
        for (const kiln_module *const *m = modules_all(); *m; m++) {
                if ((*m)->stage != stage || (s->o->only_module && !streq(s->o->only_module, (*m)->name)))
                        continue;
                planned p = { .m = *m, .freq = effective_freq(s, *m), .start = now_usec() };
                log_set_module(p.m->name);
                r = is_due(s, stage, &p);
                if (r <= 0) {
                        log_set_module(NULL);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (*n_out >= MAX_MODULES_PER_STAGE)
                        return log_error_errno(-E2BIG, "More than %d modules in one stage.", MAX_MODULES_PER_STAGE);
                kiln_ctx ctx;
                size_t first_diag = d->n;
                init_ctx(s, &ctx, stage, p.m, d);
                r = p.m->plan(&ctx, &p.plan);
                log_set_module(NULL);
                if (r < 0) {
                        json_decref(p.plan);
                        _cleanup_json_ json_t *errs = diag_messages(d, first_diag, r);
                        record(s, stage, &p, "failed", "plan failed", NULL, errs);
                        failed++;
                        continue;
                }
                if (s->o->dry_run)
                        print_plan(s, stage, &p);
                out[(*n_out)++] = p;
        }
        return failed ? -EINVAL : 0;
}

static int apply_one(session *s, kiln_stage stage, planned *p) {
        _cleanup_json_ json_t *errors = NULL;
        kiln_ctx ctx;
        int r = 0;

        init_ctx(s, &ctx, stage, p->m, NULL);
        log_set_module(p->m->name);
        p->start = now_usec();
        if (json_array_size(p->plan) > 0)
                r = p->m->apply(&ctx, p->plan);
        if (r >= 0 && json_array_size(ctx.errors) > 0)
                r = -EIO;
        if (r >= 0) {
                int k = state_sem_mark(s->instance_id, p->m->name, p->freq);
                if (k < 0)
                        log_warning_errno(k, "Failed to write the semaphore of %s: %m", p->m->name);
        }
        if (r < 0)
                errors = json_array_size(ctx.errors) > 0 ? json_incref(ctx.errors) : json_pack("[s]", strerror(-r));
        record(s, stage, p, r < 0 ? "failed" : "ok", json_array_size(p->plan) == 0 ? "nothing to do" : NULL, &ctx,
               errors);
        log_set_module(NULL);
        json_decref(ctx.changes);
        json_decref(ctx.recoverable);
        json_decref(ctx.errors);
        return r;
}

/* ---- stages ---- */

static int stage_body(session *s, kiln_stage stage) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        planned plans[MAX_MODULES_PER_STAGE];
        size_t n = 0;
        int r, failed = 0;

        r = session_load(s, stage);
        if (r == -ENODATA) {
                log_info("Datasource %s needs the network: its work waits for the network stage.", s->ds->name);
                return 0;
        }
        if (r < 0)
                return r;
        r = plan_stage(s, stage, plans, &n, &d);
        diags_log(&d);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        json_decref(plans[i].plan);
                if (r == -EINVAL)
                        return log_error_errno(r, "Input errors in the %s stage; nothing of it was changed.",
                                               stage_to_string(stage));
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                if (!s->o->dry_run && apply_one(s, stage, &plans[i]) < 0)
                        failed++;
                json_decref(plans[i].plan);
        }
        return failed ? -EIO : 0;
}

static int run_stage(session *s, kiln_stage stage) {
        int r;

        log_set_stage(stage_to_string(stage));
        if (!s->o->dry_run &&
            (r = s->o->only_module ? status_stage_resume(s->status, stage) : status_stage_begin(s->status, stage)) < 0)
                log_warning_errno(r, "Failed to write " RUN_DIR "/status.json: %m");
        r = stage_body(s, stage);
        if (!s->o->dry_run) {
                int k = fileio_sync_deferred();
                if (k < 0) {
                        log_error_errno(k, "Failed to sync the %s stage's files to disk: %m", stage_to_string(stage));
                        status_stage_error(s->status, stage, "failed to sync the stage's files to disk");
                        r = r < 0 ? r : k;
                }
                if (r < 0 && r != -EIO) {
                        _cleanup_free_ char *msg = NULL;
                        if (asprintf(&msg, "%s stage failed: %s", stage_to_string(stage),
                                     r == -EINVAL ? "invalid input, nothing was changed" : strerror(-r)) > 0)
                                status_stage_error(s->status, stage, msg);
                }
                status_stage_end(s->status, stage);
                if (stage == STAGE_FINAL)
                        status_write_result(s->status);
        }
        log_set_stage(NULL);
        return r;
}

static int take_lock(int *ret_fd) {
        _cleanup_free_ char *p = run_path(".lock");
        int r;
        if (!p)
                return -ENOMEM;
        r = run_dir_ensure();
        if (r < 0)
                return r;
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        if (flock(fd, LOCK_EX) < 0) {
                r = negative_errno();
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

int runner_run(const run_opts *o) {
        _cleanup_close_ int lock_fd = -EBADF;
        session s = { .o = o };
        int r, errors = 0;

        r = state_boot_id(s.boot_id);
        if (r < 0)
                return log_error_errno(r, "Failed to read the kernel's boot id: %m");
        if (!o->dry_run) {
                /* a rename reaches the disk with its stage's end, not one fsync each (fileio.h) */
                fileio_defer_dir_sync(true);
                r = take_lock(&lock_fd);
                if (r < 0)
                        return log_error_errno(r, "Failed to lock " RUN_DIR "/.lock: %m");
                r = status_load(&s.status);
                if (r < 0)
                        return log_error_errno(r, "Failed to read " RUN_DIR "/status.json: %m");
        }
        r = load_image_config(&s);
        if (r < 0) {
                kiln_stage st = o->stage == _STAGE_INVALID ? STAGE_LOCAL : o->stage;
                if (!o->dry_run) {
                        status_stage_begin(s.status, st);
                        status_stage_error(s.status, st, "the image config has errors; nothing was changed");
                        status_stage_end(s.status, st);
                }
                session_clear(&s);
                return 1;
        }
        if (o->only_module) {
                const kiln_module *m = modules_find(o->only_module);
                errors += run_stage(&s, m->stage) < 0;
        } else if (o->stage != _STAGE_INVALID)
                errors += run_stage(&s, o->stage) < 0;
        else
                for (int st = 0; st < _STAGE_BOOT_MAX; st++)
                        errors += run_stage(&s, (kiln_stage) st) < 0;
        session_clear(&s);
        if (fileio_sync_deferred() < 0) /* each stage synced already; this is only a net */
                errors++;
        fileio_defer_dir_sync(false);
        return errors ? 1 : 0;
}
