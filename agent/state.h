/* state.h — what kiln remembers between runs, under /var/lib/kiln:
 *
 *   instances/<instance-id>/sem/<module>   per-instance and per-boot semaphores
 *   instances/<instance-id>/user-data.txt  the raw user-data (0600)
 *   instance -> instances/<instance-id>    the current instance
 *   data/instance-id, data/previous-instance-id
 *   data/sem/<module>                      "once" semaphores (per image)
 *   seed/                                  a local seed; kept by `kiln clean` unless --seed
 *
 * A semaphore is written only after a module's apply succeeded, so a module
 * that failed runs again next time.  A per-boot semaphore records the
 * kernel's boot id; a new boot id makes it stale.  The instance-id comes
 * from metadata, so it is validated before it becomes a path component.
 */
#pragma once

#include <stdbool.h>

#include "module.h"

#define STATE_DIR "/var/lib/kiln"
#define RUN_DIR "/run/kiln"
#define BOOT_ID_MAX 64

/* root_path(STATE_DIR "/" fmt…), newly allocated. */
char *state_path(const char *fmt, ...) _printf_(1, 2);
char *run_path(const char *fmt, ...) _printf_(1, 2);
/* Creates /run/kiln (under --root) when missing. */
int run_dir_ensure(void);

/* The kernel's boot id; under --root, <root>/proc/sys/kernel/random/boot_id
 * wins when it exists (tests simulate reboots with it). */
int state_boot_id(char ret[static BOOT_ID_MAX]);

bool instance_id_is_valid(const char *iid);
/* The cached instance-id (data/instance-id), -ENOENT on a first boot. */
int state_read_instance_id(char **ret);
/* Would this instance-id be a new instance?  Touches nothing. */
int state_instance_is_new(const char *iid, bool *ret_new);
/* Makes iid the current instance: previous-instance-id, instance-id, the
 * instance link and its directory.  *ret_new tells whether it changed. */
int state_switch_instance(const char *iid, bool *ret_new);

/* Has module already run with frequency f (for this instance / boot / image)? */
int state_sem_done(const char *iid, const char *module, kiln_freq f, bool *ret_done);
int state_sem_mark(const char *iid, const char *module, kiln_freq f);
int state_sem_clear(const char *iid, const char *module);
