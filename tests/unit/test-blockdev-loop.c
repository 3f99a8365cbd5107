/* Tests of the block-device layer on real loop devices (root only; skipped
 * otherwise).
 *
 * Safety: for each foreign signature — ext2, ext3, ext4 with another label,
 * xfs, btrfs, swap, vfat, LUKS, LVM PV, GPT, MBR, non-zero data without a
 * signature at either end — plan, apply, mkfs and relabel must all refuse,
 * and a SHA-256 of the whole device taken before and after proves not one
 * byte changed.  Then the happy paths: mkfs on blank, relabel, mount with
 * owner/mode, grow after enlarging the backing file (losetup -c), a device
 * that appears only after the wait started, and a wait that times out.
 *
 * Loop devices and mounts are global and shared with other users of the
 * machine, so everything here lives under one work directory
 * /tmp/kiln-bdloop-<pid>-XXXXXX, and cleanup touches only loop devices whose
 * backing file and mounts whose target lie under it — or under such a
 * directory of a test process that no longer exists (a crashed run).
 * Teardown runs after every test, passed or failed.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "blockdev.h"
#include "test-blockdev.h"

#define WORK_PREFIX "/tmp/kiln-bdloop-"
#define MiB (1024ULL * 1024ULL)

static char workdir[128];

/* ---- work directory, loop devices, mounts ---- */

/* Whether path belongs to this run, or to a run whose process is gone. */
static bool ours_or_stale(const char *path) {
        if (workdir[0] && startswith(path, workdir))
                return true;
        if (!startswith(path, WORK_PREFIX))
                return false;
        int pid = atoi(path + strlen(WORK_PREFIX));
        return pid > 0 && pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH;
}

static void unmount_ours(void) {
        for (int pass = 0; pass < 8; pass++) {
                _cleanup_free_ char *info = NULL;
                bool any = false;
                if (read_full_file("/proc/self/mountinfo", 1 << 22, &info, NULL) < 0)
                        return;
                /* Field 5 of each line is the mount point; deepest mounts come last. */
                for (char *line = strtok(info, "\n"); line; line = strtok(NULL, "\n")) {
                        char target[4096];
                        if (sscanf(line, "%*s %*s %*s %*s %4095s", target) == 1 && ours_or_stale(target)) {
                                if (umount2(target, 0) < 0)
                                        (void) umount2(target, MNT_DETACH);
                                any = true;
                        }
                }
                if (!any)
                        return;
        }
}

static void detach_ours(void) {
        _cleanup_closedir_ DIR *d = opendir("/sys/block");
        struct dirent *de;

        while (d && (de = readdir(d))) {
                _cleanup_free_ char *bf_path = NULL, *bf = NULL, *dev = NULL;
                if (!startswith(de->d_name, "loop"))
                        continue;
                if (asprintf(&bf_path, "/sys/block/%s/loop/backing_file", de->d_name) < 0 ||
                    read_full_file(bf_path, 4096, &bf, NULL) < 0 || !ours_or_stale(strstrip(bf)))
                        continue;
                if (asprintf(&dev, "/dev/%s", de->d_name) < 0)
                        continue;
                char *argv[] = { "losetup", "-d", dev, NULL };
                (void) bdt_run(argv, NULL, NULL);
        }
}

static void cleanup_all(void) {
        unmount_ours();
        detach_ours();
}

static int group_setup(void **state) {
        (void) state;
        bdt_init();
        if (geteuid() != 0)
                return 0;
        cleanup_all(); /* leftovers of crashed earlier runs */
        snprintf(workdir, sizeof workdir, WORK_PREFIX "%d-XXXXXX", (int) getpid());
        return mkdtemp(workdir) ? 0 : -1;
}

static int group_teardown(void **state) {
        (void) state;
        if (geteuid() != 0)
                return 0;
        cleanup_all();
        (void) rm_rf(workdir);
        return 0;
}

static int test_setup(void **state) {
        (void) state;
        return 0;
}

static int test_teardown(void **state) {
        (void) state;
        if (geteuid() == 0)
                cleanup_all();
        return 0;
}

static void need_root(void) {
        if (geteuid() != 0) {
                print_message("not root: loop-device test skipped\n");
                skip();
        }
}

static char *image(const char *name, uint64_t size) {
        return bdt_image(workdir, name, size);
}

static char *attach(const char *file) {
        char *argv[] = { "losetup", "--find", "--show", (char *) file, NULL };
        char *out = NULL;
        assert_int_equal(bdt_run(argv, NULL, &out), 0);
        char *dev = strdup(strstrip(out));
        free(out);
        assert_true(startswith(dev, "/dev/loop"));
        return dev;
}

static char *sha256(const char *dev) {
        char *argv[] = { "sha256sum", (char *) dev, NULL };
        char *out = NULL;
        assert_int_equal(bdt_run(argv, NULL, &out), 0);
        out[strcspn(out, " ")] = 0;
        return out;
}

/* ---- foreign signatures stay byte-identical ---- */

typedef struct signature {
        const char *name;
        uint64_t size;
        blockdev_content content; /* how kiln must classify it */
        const char *type;         /* blkid type kiln must report */
        char *cmd[12];            /* "@" stands for the device */
        const char *input;        /* stdin for cmd */
        int pattern_at;           /* instead of cmd: non-zero bytes at 0 (head) or 1 (tail) */
} signature;

static const signature signatures[] = {
        { "ext2", 32 * MiB, BLOCKDEV_FILESYSTEM, "ext2", { "mkfs.ext2", "-q", "-F", "@" } },
        { "ext3", 32 * MiB, BLOCKDEV_FILESYSTEM, "ext3", { "mkfs.ext3", "-q", "-F", "@" } },
        { "ext4-other-label", 32 * MiB, BLOCKDEV_FILESYSTEM, "ext4", { "mkfs.ext4", "-q", "-F", "-L", "other", "@" } },
        { "xfs", 320 * MiB, BLOCKDEV_FILESYSTEM, "xfs", { "mkfs.xfs", "-q", "-f", "-L", "data", "@" } },
        { "btrfs", 128 * MiB, BLOCKDEV_FILESYSTEM, "btrfs", { "mkfs.btrfs", "-q", "-f", "-L", "data", "@" } },
        { "swap", 32 * MiB, BLOCKDEV_FOREIGN, "swap", { "mkswap", "-L", "data", "@" } },
        { "vfat", 32 * MiB, BLOCKDEV_FILESYSTEM, "vfat", { "mkfs.vfat", "-n", "DATA", "@" } },
        { "luks", 32 * MiB, BLOCKDEV_FOREIGN, "crypto_LUKS",
          { "cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
            "--pbkdf-force-iterations", "1000", "@", "-" },
          "not-a-secret" },
        { "lvm-pv", 32 * MiB, BLOCKDEV_FOREIGN, "LVM2_member",
          { "pvcreate", "-q", "--config", "devices { use_devicesfile=0 }", "@" } },
        { "gpt", 32 * MiB, BLOCKDEV_FOREIGN, "gpt", { "sgdisk", "-o", "-n", "1:2048:0", "@" } },
        { "mbr", 32 * MiB, BLOCKDEV_FOREIGN, "dos", { "sfdisk", "-q", "@" }, "label: dos\n,,83\n" },
        { "data-head", 32 * MiB, BLOCKDEV_FOREIGN, "unknown", {}, NULL, 0 },
        { "data-tail", 32 * MiB, BLOCKDEV_FOREIGN, "unknown", {}, NULL, 1 },
};

static void make_signature(const signature *s, const char *dev) {
        if (!s->cmd[0]) {
                bdt_pattern(dev, s->pattern_at ? s->size - 4096 : 64 * 1024, 512);
                return;
        }
        char *argv[ELEMENTSOF(s->cmd) + 1] = {};
        for (size_t i = 0; i < ELEMENTSOF(s->cmd) && s->cmd[i]; i++)
                argv[i] = streq(s->cmd[i], "@") ? (char *) dev : s->cmd[i];
        assert_int_equal(bdt_run(argv, s->input, NULL), 0);
}

/* Everything kiln could be asked to do to a device that must stay intact. */
static void try_everything(const signature *s, const char *dev, const char *found_label) {
        static const blockdev_want wants[] = {
                { .fstype = "ext4", .label = "data" },
                { .fstype = "xfs", .label = "data", .relabel = true },
                { .fstype = "ext4" },
        };
        for (size_t i = 0; i < ELEMENTSOF(wants); i++) {
                blockdev_decision d = {};
                assert_int_equal(blockdev_plan(dev, &wants[i], &d), 0);
                bool label_ok = !wants[i].label || (found_label && streq(found_label, wants[i].label));
                bool may_use = s->content == BLOCKDEV_FILESYSTEM && streq(s->type, wants[i].fstype) && label_ok;
                if (may_use) {
                        /* The very filesystem asked for: "use", which writes nothing either. */
                        assert_int_equal(d.action, BLOCKDEV_ACTION_USE);
                        assert_int_equal(blockdev_apply(dev, &wants[i], &d, NULL), 0);
                } else {
                        if (d.action != BLOCKDEV_ACTION_REFUSE)
                                fail_msg("%s: planned %s: %s", s->name, blockdev_action_to_string(d.action), d.reason);
                        assert_int_equal(blockdev_apply(dev, &wants[i], &d, NULL), -EEXIST);
                }
                blockdev_decision_done(&d);
        }
        assert_int_equal(blockdev_mkfs(dev, "ext4", "data"), -EEXIST);
        assert_int_equal(blockdev_mkfs(dev, "xfs", "data"), -EEXIST);
        if (!streq(s->type, "xfs"))
                assert_int_equal(blockdev_relabel(dev, "xfs", "data"), -EEXIST);
        if (!streq(s->type, "ext4"))
                assert_int_equal(blockdev_relabel(dev, "ext4", "data"), -EEXIST);
}

static void test_foreign_signatures_untouched(void **state) {
        (void) state;
        need_root();
        for (size_t i = 0; i < ELEMENTSOF(signatures); i++) {
                const signature *s = &signatures[i];
                _cleanup_free_ char *file = image(s->name, s->size), *dev = attach(file);
                blockdev_probe p = {};

                make_signature(s, dev);
                _cleanup_free_ char *before = sha256(dev);
                assert_int_equal(blockdev_probe_device(dev, &p), 0);
                print_message("%-17s %s\n", s->name, p.summary);
                if (p.content != s->content || !p.type || !streq(p.type, s->type))
                        fail_msg("%s classified as %s/%s (%s)", s->name, blockdev_content_to_string(p.content),
                                 p.type ? p.type : "-", p.summary);
                try_everything(s, dev, p.label);
                blockdev_probe_done(&p);
                _cleanup_free_ char *after = sha256(dev);
                if (!streq(before, after))
                        fail_msg("%s: device changed (%s → %s)", s->name, before, after);
                char *argv[] = { "losetup", "-d", dev, NULL };
                bdt_run_ok(argv);
        }
}

/* ---- mkfs, relabel ---- */

static void prepare(const char *dev, blockdev_want w, blockdev_action expect_action, blockdev_probe *after) {
        blockdev_decision d = {};
        assert_int_equal(blockdev_plan(dev, &w, &d), 0);
        if (d.action != expect_action)
                fail_msg("%s: planned %s (%s)", dev, blockdev_action_to_string(d.action), d.reason);
        assert_int_equal(blockdev_apply(dev, &w, &d, after), 0);
        blockdev_decision_done(&d);
}

static void test_mkfs_blank(void **state) {
        (void) state;
        need_root();
        static const struct {
                const char *fstype;
                uint64_t size;
        } cases[] = { { "ext4", 64 * MiB }, { "xfs", 320 * MiB } };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *file = image(cases[i].fstype, cases[i].size), *dev = attach(file);
                blockdev_want w = { .fstype = cases[i].fstype, .label = "kiln-data" };
                blockdev_probe after = {};

                prepare(dev, w, BLOCKDEV_ACTION_MKFS, &after);
                assert_int_equal(after.content, BLOCKDEV_FILESYSTEM);
                assert_string_equal(after.type, cases[i].fstype);
                assert_string_equal(after.label, "kiln-data");
                assert_non_null(after.uuid);
                blockdev_probe_done(&after);
                /* Second boot: the same filesystem is simply used. */
                prepare(dev, w, BLOCKDEV_ACTION_USE, &after);
                blockdev_probe_done(&after);
        }
}

static void test_relabel(void **state) {
        (void) state;
        need_root();
        _cleanup_free_ char *f1 = image("re-ext4", 32 * MiB), *d1 = attach(f1);
        _cleanup_free_ char *f2 = image("re-xfs", 320 * MiB), *d2 = attach(f2);
        char *mk1[] = { "mkfs.ext4", "-q", "-L", "old", d1, NULL };
        char *mk2[] = { "mkfs.xfs", "-q", "-L", "old", d2, NULL };
        blockdev_want w1 = { .fstype = "ext4", .label = "new", .relabel = true };
        blockdev_want w2 = { .fstype = "xfs", .label = "new", .relabel = true };
        blockdev_probe after = {};

        bdt_run_ok(mk1);
        bdt_run_ok(mk2);
        prepare(d1, w1, BLOCKDEV_ACTION_RELABEL, &after);
        assert_string_equal(after.label, "new");
        blockdev_probe_done(&after);
        prepare(d2, w2, BLOCKDEV_ACTION_RELABEL, &after);
        assert_string_equal(after.label, "new");
        blockdev_probe_done(&after);

        /* Mounted xfs: relabelled online through xfs_io. */
        _cleanup_free_ char *mnt = path_join(workdir, "mnt-relabel"), *label = NULL, *uuid = NULL;
        blockdev_mount_opts o = BLOCKDEV_MOUNT_OPTS_DEFAULT;
        blockdev_probe p = {};
        o.fstype = "xfs";
        assert_int_equal(blockdev_probe_device(d2, &p), 0);
        assert_int_equal(blockdev_mount(d2, p.uuid, mnt, &o), 1);
        blockdev_probe_done(&p);
        assert_int_equal(blockdev_relabel(d2, "xfs", "online"), 0);
        assert_int_equal(blockdev_probe_device(d2, &p), 0);
        assert_string_equal(p.label, "online");
        blockdev_probe_done(&p);
}

/* ---- mount ---- */

static void test_mount(void **state) {
        (void) state;
        need_root();
        _cleanup_free_ char *file = image("mount", 64 * MiB), *dev = attach(file), *root = path_join(workdir, "root");
        _cleanup_free_ char *target = path_join(root, "srv/data"), *fstab = path_join(root, "etc/fstab");
        _cleanup_free_ char *other_file = image("mount-other", 32 * MiB), *other = attach(other_file);
        blockdev_want w = { .fstype = "ext4", .label = "kiln-mnt" };
        blockdev_mount_opts o = BLOCKDEV_MOUNT_OPTS_DEFAULT;
        blockdev_probe after = {};
        struct stat st;

        prepare(dev, w, BLOCKDEV_ACTION_MKFS, &after);
        o.fstype = "ext4";
        o.options = "noatime";
        o.mode = 0750;
        o.uid = 1234;
        o.gid = 4321;
        o.fresh_fs = true;
        assert_int_equal(blockdev_mount(dev, after.uuid, target, &o), 1);
        _cleanup_free_ char *where = NULL;
        assert_int_equal(blockdev_find_mountpoint(dev, &where), 0);
        assert_string_equal(where, target);
        /* The new filesystem's root carries the requested owner and mode. */
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_uid, 1234);
        assert_int_equal(st.st_gid, 4321);
        assert_int_equal(st.st_mode & 07777, 0750);
        /* Idempotent; a different device can't take the mountpoint; the
         * UUID is checked before mounting. */
        assert_int_equal(blockdev_mount(dev, after.uuid, target, &o), 0);
        char *mk[] = { "mkfs.ext4", "-q", other, NULL };
        bdt_run_ok(mk);
        assert_int_equal(blockdev_mount(other, after.uuid, target, &o), -EBUSY);
        _cleanup_free_ char *t2 = path_join(root, "srv/other");
        assert_int_equal(blockdev_mount(other, after.uuid, t2, &o), -ESTALE);
        assert_int_equal(blockdev_find_mountpoint(other, &(char *){ NULL }), -ENOENT);

        /* Persist for the next boot, under the test's root. */
        assert_int_equal(mkdir_p(root, 0755), 0);
        _cleanup_free_ char *etc = path_join(root, "etc");
        assert_int_equal(mkdir_p(etc, 0755), 0);
        blockdev_fstab_entry e = { .uuid = after.uuid, .mountpoint = "/srv/data", .fstype = "ext4",
                                   .options = "noatime" };
        assert_int_equal(blockdev_fstab_ensure(fstab, &e), 1);
        assert_int_equal(blockdev_fstab_ensure(fstab, &e), 0);
        _cleanup_free_ char *content = NULL, *line = NULL, *expect = NULL;
        assert_int_equal(read_full_file(fstab, 4096, &content, NULL), 0);
        assert_int_equal(blockdev_fstab_line(&e, &line), 0);
        assert_true(asprintf(&expect, "%s\n", line) > 0);
        assert_string_equal(content, expect);
        blockdev_probe_done(&after);
}

/* Existing data is never chowned: an existing filesystem mounted on an
 * existing directory keeps every owner and mode. */
static void test_mount_existing_data_untouched(void **state) {
        (void) state;
        need_root();
        _cleanup_free_ char *file = image("existing", 32 * MiB), *dev = attach(file);
        _cleanup_free_ char *target = path_join(workdir, "mnt-existing"), *f = path_join(target, "payload");
        blockdev_mount_opts o = BLOCKDEV_MOUNT_OPTS_DEFAULT;
        blockdev_probe p = {};
        struct stat st;

        char *mk[] = { "mkfs.ext4", "-q", "-L", "kiln-ex", dev, NULL };
        bdt_run_ok(mk);
        assert_int_equal(blockdev_probe_device(dev, &p), 0);
        o.fstype = "ext4";
        assert_int_equal(blockdev_mount(dev, p.uuid, target, &o), 1);
        assert_int_equal(chmod(target, 0711), 0);
        assert_int_equal(chown(target, 7, 8), 0);
        assert_int_equal(write_file_atomic(f, "x", 1, &(write_opts){ .mode = 0600, .uid = 5, .gid = 6 }), 0);
        assert_int_equal(umount2(target, 0), 0);

        o.mode = 0755;
        o.uid = 1000;
        o.gid = 1000;
        assert_int_equal(blockdev_mount(dev, p.uuid, target, &o), 1);
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0711);
        assert_int_equal(st.st_uid, 7);
        assert_int_equal(stat(f, &st), 0);
        assert_int_equal(st.st_uid, 5);
        assert_int_equal(st.st_mode & 07777, 0600);
        blockdev_probe_done(&p);
}

/* ---- grow ---- */

/* capable(CAP_SYS_RESOURCE), from /proc/self/status like `capsh` reads it. */
static bool have_cap_sys_resource(void) {
        _cleanup_free_ char *st = NULL;
        unsigned long long eff = 0;
        if (read_full_file("/proc/self/status", 1 << 16, &st, NULL) < 0)
                return false;
        const char *l = strstr(st, "CapEff:");
        return l && sscanf(l, "CapEff: %llx", &eff) == 1 && (eff & (1ULL << 24));
}

/* expect: 1 when the grow must happen, -EPERM when the kernel won't allow
 * it (ext4 without CAP_SYS_RESOURCE): then nothing may change. */
static void grow_case(const char *fstype, uint64_t size, uint64_t new_size, int expect) {
        _cleanup_free_ char *name = NULL, *mnt = NULL;
        assert_true(asprintf(&name, "grow-%s", fstype) > 0);
        _cleanup_free_ char *file = image(name, size), *dev = attach(file);
        assert_true(asprintf(&mnt, "%s/%s-mnt", workdir, name) > 0);
        blockdev_want w = { .fstype = fstype, .label = "grow" };
        blockdev_mount_opts o = BLOCKDEV_MOUNT_OPTS_DEFAULT;
        blockdev_probe after = {};
        uint64_t old_sz = 0, new_sz = 0, fs_sz = 0;
        struct statvfs before_vfs, after_vfs;

        prepare(dev, w, BLOCKDEV_ACTION_MKFS, &after);
        o.fstype = fstype;
        assert_int_equal(blockdev_mount(dev, after.uuid, mnt, &o), 1);
        /* Not larger yet: nothing to do. */
        assert_int_equal(blockdev_grow(dev, fstype, mnt, &old_sz, &new_sz), 0);
        assert_int_equal(old_sz, new_sz);
        assert_int_equal(statvfs(mnt, &before_vfs), 0);

        assert_int_equal(truncate(file, (off_t) new_size), 0);
        char *argv[] = { "losetup", "-c", dev, NULL };
        bdt_run_ok(argv);
        assert_int_equal(blockdev_grow(dev, fstype, mnt, &old_sz, &new_sz), expect);
        if (expect < 0) {
                assert_int_equal(blockdev_fs_size(dev, fstype, &fs_sz), 0);
                assert_true(fs_sz <= size);
                blockdev_probe_done(&after);
                return;
        }
        print_message("%s: %llu → %llu bytes\n", fstype, (unsigned long long) old_sz, (unsigned long long) new_sz);
        assert_true(old_sz <= size);
        assert_true(new_sz > old_sz);
        assert_true(new_sz <= new_size && new_sz + MiB > new_size);
        assert_int_equal(statvfs(mnt, &after_vfs), 0);
        assert_true((uint64_t) after_vfs.f_blocks * after_vfs.f_frsize >
                    (uint64_t) before_vfs.f_blocks * before_vfs.f_frsize + (new_size - size) / 2);
        /* Once grown, nothing more to do. */
        assert_int_equal(blockdev_grow(dev, fstype, mnt, NULL, NULL), 0);
        blockdev_probe_done(&after);
}

static void test_grow(void **state) {
        (void) state;
        need_root();
        grow_case("xfs", 320 * MiB, 448 * MiB, 1);
        if (have_cap_sys_resource())
                grow_case("ext4", 64 * MiB, 128 * MiB, 1);
        else {
                print_message("no CAP_SYS_RESOURCE here: the kernel refuses ext4 online resize, so only the "
                              "clear refusal is checked\n");
                grow_case("ext4", 64 * MiB, 128 * MiB, -EPERM);
        }
}

/* ---- waiting for real devices ---- */

typedef struct late_attach {
        const char *file;
        usec_t delay;
        char *dev;
} late_attach;

static void *attach_later(void *p) {
        late_attach *l = p;
        usleep((useconds_t) l->delay);
        char *argv[] = { "losetup", "--find", "--show", (char *) l->file, NULL };
        char *out = NULL;
        if (bdt_run(argv, NULL, &out) == 0)
                l->dev = strdup(strstrip(out));
        free(out);
        return NULL;
}

static void test_wait_appears_late(void **state) {
        (void) state;
        need_root();
        _cleanup_free_ char *file = image("late", 32 * MiB), *label = NULL, *path = NULL, *how = NULL;
        assert_true(asprintf(&label, "late%d", (int) getpid() % 100000) > 0);
        char *mk[] = { "mkfs.ext4", "-q", "-F", "-L", label, file, NULL };
        bdt_run_ok(mk);

        blockdev_query q = { .label = label };
        late_attach l = { .file = file, .delay = 1500 * USEC_PER_MSEC };
        pthread_t t;
        usec_t start = now_mono_usec();
        assert_int_equal(pthread_create(&t, NULL, attach_later, &l), 0);
        int r = blockdev_wait(&q, 20 * USEC_PER_SEC, &path, &how);
        usec_t took = now_mono_usec() - start;
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(r, 0);
        assert_non_null(l.dev);
        assert_string_equal(path, l.dev);
        print_message("found %s after %.2f s (%s)\n", path, (double) took / USEC_PER_SEC, how);
        assert_true(took >= 1400 * USEC_PER_MSEC && took < 10 * USEC_PER_SEC);
        free(l.dev);
}

static void test_wait_never_appears(void **state) {
        (void) state;
        need_root();
        _cleanup_free_ char *label = NULL, *expect = NULL;
        char *path = NULL, *how = NULL;
        int saved;
        assert_true(asprintf(&label, "never%d", (int) getpid() % 100000) > 0);
        blockdev_query q = { .label = label };

        char *logpath = bdt_stderr_begin(&saved);
        usec_t start = now_mono_usec();
        int r = blockdev_wait(&q, 2 * USEC_PER_SEC, &path, &how);
        usec_t took = now_mono_usec() - start;
        _cleanup_free_ char *log = bdt_stderr_end(logpath, saved);
        assert_int_equal(r, -ETIMEDOUT);
        assert_null(path);
        assert_true(took >= 2 * USEC_PER_SEC && took < 5 * USEC_PER_SEC);
        assert_true(asprintf(&expect, "Gave up waiting for volume labelled '%s' after 2.", label) > 0);
        assert_non_null(strstr(log, expect));
}

/* A loop device's node outlives `losetup -d`: by name it is found only
 * while something is attached (size > 0), so a wait for it keeps waiting. */
static void test_detached_node_is_not_found(void **state) {
        (void) state;
        need_root();
        _cleanup_free_ char *file = image("gone", 8 * MiB), *dev = attach(file), *path = NULL, *how = NULL;
        blockdev_query q = { .device = dev };

        assert_int_equal(blockdev_find(&q, &path, &how), 0);
        assert_string_equal(path, dev);
        char *argv[] = { "losetup", "-d", dev, NULL };
        bdt_run_ok(argv);
        assert_int_equal(access(dev, F_OK), 0);
        char *p2 = NULL, *h2 = NULL;
        assert_int_equal(blockdev_find(&q, &p2, &h2), -ENOENT);
        assert_null(p2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_foreign_signatures_untouched),
                T(test_mkfs_blank),
                T(test_relabel),
                T(test_mount),
                T(test_mount_existing_data_untouched),
                T(test_grow),
                T(test_wait_appears_late),
                T(test_wait_never_appears),
                T(test_detached_node_is_not_found),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
