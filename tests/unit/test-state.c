/* Unit tests for state.c (instance switching, frequencies) and status.c
 * (evaluation, exit codes) in a scratch root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fileio.h"
#include "json-util.h"
#include "state.h"
#include "status.h"

static char root[64];

static void set_boot_id(const char *id) {
        _cleanup_free_ char *p = root_path("/proc/sys/kernel/random/boot_id"), *dir = root_path("/proc/sys/kernel/random");
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(write_file_atomic(p, id, strlen(id), NULL), 0);
}

static int setup(void **state) {
        (void) state;
        snprintf(root, sizeof root, "/tmp/kiln-state-XXXXXX");
        assert_non_null(mkdtemp(root));
        assert_int_equal(root_set(root), 0);
        set_boot_id("boot-a\n");
        return 0;
}

static int teardown(void **state) {
        (void) state;
        rm_rf(root);
        return 0;
}

static void test_instance_switch(void **state) {
        (void) state;
        bool is_new;
        _cleanup_free_ char *iid = NULL, *prev = NULL;
        assert_int_equal(state_instance_is_new("i-1", &is_new), 0);
        assert_true(is_new);
        assert_int_equal(state_switch_instance("i-1", &is_new), 0);
        assert_true(is_new);
        assert_int_equal(state_switch_instance("i-1", &is_new), 0);
        assert_false(is_new);
        assert_int_equal(state_switch_instance("i-2", &is_new), 0);
        assert_true(is_new);
        assert_int_equal(state_read_instance_id(&iid), 0);
        assert_string_equal(iid, "i-2");
        _cleanup_free_ char *pp = state_path("data/previous-instance-id");
        assert_int_equal(read_full_file(pp, 100, &prev, NULL), 0);
        assert_string_equal(prev, "i-1\n");
        assert_int_equal(state_switch_instance("../etc", &is_new), -EINVAL);
        assert_int_equal(state_switch_instance("", &is_new), -EINVAL);
        assert_false(instance_id_is_valid("a/b"));
        assert_true(instance_id_is_valid("i-0123456789abcdef0"));
}

static void test_frequencies(void **state) {
        (void) state;
        bool done, is_new;
        assert_int_equal(state_switch_instance("i-1", &is_new), 0);
        for (kiln_freq f = 0; f < _FREQ_MAX; f++) {
                assert_int_equal(state_sem_done("i-1", "m", f, &done), 0);
                assert_false(done);
        }
        assert_int_equal(state_sem_mark("i-1", "inst", FREQ_PER_INSTANCE), 0);
        assert_int_equal(state_sem_mark("i-1", "boot", FREQ_PER_BOOT), 0);
        assert_int_equal(state_sem_mark("i-1", "always", FREQ_ALWAYS), 0);
        assert_int_equal(state_sem_mark("i-1", "once", FREQ_ONCE), 0);

        assert_int_equal(state_sem_done("i-1", "inst", FREQ_PER_INSTANCE, &done), 0), assert_true(done);
        assert_int_equal(state_sem_done("i-1", "boot", FREQ_PER_BOOT, &done), 0), assert_true(done);
        assert_int_equal(state_sem_done("i-1", "always", FREQ_ALWAYS, &done), 0), assert_false(done);
        assert_int_equal(state_sem_done("i-1", "once", FREQ_ONCE, &done), 0), assert_true(done);

        set_boot_id("boot-b\n"); /* reboot */
        assert_int_equal(state_sem_done("i-1", "boot", FREQ_PER_BOOT, &done), 0), assert_false(done);
        assert_int_equal(state_sem_done("i-1", "inst", FREQ_PER_INSTANCE, &done), 0), assert_true(done);

        /* a new instance: per-instance reruns, once does not */
        assert_int_equal(state_sem_done("i-2", "inst", FREQ_PER_INSTANCE, &done), 0), assert_false(done);
        assert_int_equal(state_sem_done("i-2", "once", FREQ_ONCE, &done), 0), assert_true(done);

        assert_int_equal(state_sem_clear("i-1", "inst"), 0);
        assert_int_equal(state_sem_done("i-1", "inst", FREQ_PER_INSTANCE, &done), 0), assert_false(done);

        /* a torn semaphore counts as not done */
        _cleanup_free_ char *p = state_path("instances/i-1/sem/torn");
        assert_int_equal(write_file_atomic(p, "{\"freq", 6, NULL), 0);
        assert_int_equal(state_sem_done("i-1", "torn", FREQ_PER_INSTANCE, &done), 0), assert_false(done);
}

static void test_status_evaluate(void **state) {
        (void) state;
        _cleanup_json_ json_t *st = NULL;
        int code;
        assert_int_equal(status_load(&st), 0);
        assert_int_equal(status_evaluate(st, &code), STATUS_NOT_STARTED);
        assert_int_equal(status_stage_begin(st, STAGE_LOCAL), 0);
        assert_int_equal(status_evaluate(st, &code), STATUS_RUNNING);
        assert_int_equal(status_stage_end(st, STAGE_LOCAL), 0);
        assert_int_equal(status_stage_begin(st, STAGE_FINAL), 0);
        assert_int_equal(status_evaluate(st, &code), STATUS_RUNNING);
        _cleanup_json_ json_t *rec = json_pack("[s]", "a command failed");
        assert_int_equal(status_module(st, STAGE_FINAL, "runcmd", FREQ_PER_INSTANCE, 1, 2, "ok", NULL, NULL, NULL, rec), 0);
        assert_int_equal(status_stage_end(st, STAGE_FINAL), 0);
        assert_int_equal(status_evaluate(st, &code), STATUS_DONE);
        assert_int_equal(code, STATUS_EXIT_RECOVERABLE);
        assert_int_equal(status_stage_error(st, STAGE_FINAL, "boom"), 0);
        status_evaluate(st, &code);
        assert_int_equal(code, STATUS_EXIT_ERROR);
        /* the shutdown stage never makes a boot "not done" or failed */
        _cleanup_json_ json_t *st2 = NULL;
        assert_int_equal(status_load(&st2), 0); /* reads back what was saved */
        assert_int_equal(status_evaluate(st2, &code), STATUS_DONE);
        assert_int_equal(status_stage_begin(st2, STAGE_SHUTDOWN), 0);
        assert_int_equal(status_evaluate(st2, &code), STATUS_DONE);
        assert_int_equal(status_write_result(st2), 0);
}

/* status.json keeps the first STATUS_CHANGES_MAX changes of a module and
 * counts the rest; it is rewritten at stage boundaries and when a module
 * has errors, not after every module. */
static void test_status_changes_and_saves(void **state) {
        (void) state;
        _cleanup_json_ json_t *st = NULL, *many = json_array(), *few = json_array(), *errors = NULL, *back = NULL;
        _cleanup_free_ char *path = run_path("status.json");

        for (int i = 0; i < STATUS_CHANGES_MAX + 50; i++)
                json_array_append_new(many, json_pack("{s:s, s:i}", "action", "wrote", "n", i));
        json_array_append_new(few, json_pack("{s:s}", "action", "set"));
        assert_int_equal(status_load(&st), 0);
        assert_int_equal(status_stage_begin(st, STAGE_CONFIG), 0);
        assert_int_equal(status_module(st, STAGE_CONFIG, "write_files", FREQ_PER_INSTANCE, 1, 2, "ok", NULL, many,
                                       NULL, NULL), 0);
        assert_int_equal(status_module(st, STAGE_CONFIG, "hostname", FREQ_PER_BOOT, 1, 2, "ok", NULL, few, NULL,
                                       NULL), 0);
        json_t *wf = json_object_get(json_object_get(json_object_get(json_object_get(st, "v1"), "config"), "modules"),
                                     "write_files");
        assert_int_equal(json_array_size(json_object_get(wf, "changes")), STATUS_CHANGES_MAX);
        assert_int_equal(json_integer_value(json_object_get(wf, "changes_omitted")), 50);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(wf, "changes"), 99), "n")),
                         99);
        json_t *hn = json_object_get(json_object_get(json_object_get(json_object_get(st, "v1"), "config"), "modules"),
                                     "hostname");
        assert_int_equal(json_array_size(json_object_get(hn, "changes")), 1);
        assert_null(json_object_get(hn, "changes_omitted"));
        /* a module with errors is saved at once */
        errors = json_pack("[s]", "boom");
        assert_int_equal(status_module(st, STAGE_CONFIG, "runcmd", FREQ_PER_INSTANCE, 1, 2, "failed", NULL, NULL,
                                       errors, NULL), 0);
        assert_int_equal(json_read_file(path, &back), 0);
        assert_non_null(json_object_get(json_object_get(json_object_get(json_object_get(back, "v1"), "config"),
                                                        "modules"), "runcmd"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_instance_switch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_frequencies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status_evaluate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status_changes_and_saves, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
