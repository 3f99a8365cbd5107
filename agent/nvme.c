/* nvme.c — see nvme.h.
 *
 * The identify page is untrusted bytes: every text field is bounded by its
 * fixed width, must be printable ASCII (NUL or space padded), and is copied
 * into a NUL-terminated buffer one byte larger than the field, so a page
 * without padding can't run a string off its end.
 */
#include <ctype.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <linux/nvme_ioctl.h>

#include "log.h"
#include "macro.h"
#include "nvme.h"

#define NVME_ADMIN_IDENTIFY 0x06
#define NVME_IDENTIFY_CNS_CTRL 1
#define ID_SERIAL_OFF 4
#define ID_SERIAL_LEN 20
#define ID_MODEL_OFF 24
#define ID_MODEL_LEN 40
#define EBS_NAME_OFF 3072
#define EBS_NAME_LEN 32
#define NAME_RETRY_USEC (100 * USEC_PER_MSEC)

/* Copies a fixed-width, space/NUL padded ASCII field into dst (len + 1
 * bytes) without the padding.  Text stops at the first NUL. */
static int copy_field(char *dst, const uint8_t *src, size_t len) {
        size_t n = 0;

        while (n < len && src[n] != 0) {
                if (src[n] < 0x20 || src[n] > 0x7e)
                        return -EBADMSG;
                n++;
        }
        memcpy(dst, src, n);
        dst[n] = 0;
        /* strstrip() trims the end in place and returns the first
         * non-blank character; move the text to the start of dst. */
        const char *t = strstrip(dst);
        if (t != dst)
                memmove(dst, t, strlen(t) + 1);
        return 0;
}

int nvme_parse_identify(const uint8_t page[static NVME_IDENTIFY_SIZE], nvme_ctrl_info *ret) {
        nvme_ctrl_info info = {};
        int r;

        info.vendor_id = (uint16_t) (page[0] | page[1] << 8);
        r = copy_field(info.serial, page + ID_SERIAL_OFF, ID_SERIAL_LEN);
        if (r < 0)
                return r;
        r = copy_field(info.model, page + ID_MODEL_OFF, ID_MODEL_LEN);
        if (r < 0)
                return r;
        r = copy_field(info.device_name, page + EBS_NAME_OFF, EBS_NAME_LEN);
        if (r < 0)
                return r;
        *ret = info;
        return 0;
}

bool nvme_info_is_ebs(const nvme_ctrl_info *info) {
        return info->vendor_id == EBS_PCI_VENDOR_ID && streq(info->model, EBS_NVME_MODEL);
}

static int identify_ioctl(int fd, uint8_t page[static NVME_IDENTIFY_SIZE]) {
        struct nvme_admin_cmd cmd = {
                .opcode = NVME_ADMIN_IDENTIFY,
                .addr = (uint64_t) (uintptr_t) page,
                .data_len = NVME_IDENTIFY_SIZE,
                .cdw10 = NVME_IDENTIFY_CNS_CTRL,
        };
        int r = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);

        if (r < 0)
                return negative_errno();
        /* A positive value is an NVMe status code: the command failed. */
        return r > 0 ? -EIO : 0;
}

static int identify_from_file(int fd, uint8_t page[static NVME_IDENTIFY_SIZE]) {
        size_t got = 0;

        while (got < NVME_IDENTIFY_SIZE) {
                ssize_t k = read(fd, page + got, NVME_IDENTIFY_SIZE - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        return -EBADMSG; /* a captured page is exactly 4096 bytes */
                got += (size_t) k;
        }
        return 0;
}

int nvme_read_identify(const char *path, uint8_t ret_page[static NVME_IDENTIFY_SIZE]) {
        uint8_t page[NVME_IDENTIFY_SIZE] = {};
        struct stat st;
        int r;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISREG(st.st_mode))
                r = identify_from_file(fd, page);
        else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
                r = identify_ioctl(fd, page);
        else
                r = -ENOTTY;
        if (r < 0)
                return r;
        memcpy(ret_page, page, NVME_IDENTIFY_SIZE);
        return 0;
}

static void sleep_usec(usec_t u) {
        struct timespec ts = { .tv_sec = (time_t) (u / USEC_PER_SEC), .tv_nsec = (long) (u % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int nvme_read_ebs_info(const char *path, usec_t timeout, nvme_ctrl_info *ret) {
        usec_t deadline = deadline_in(timeout);
        uint8_t page[NVME_IDENTIFY_SIZE];
        nvme_ctrl_info info;
        unsigned attempts = 0;

        for (;;) {
                int r = nvme_read_identify(path, page);
                if (r < 0)
                        return r;
                r = nvme_parse_identify(page, &info);
                if (r < 0)
                        return r;
                attempts++;
                if (info.device_name[0] || !nvme_info_is_ebs(&info) || deadline_passed(deadline))
                        break;
                if (attempts == 1)
                        log_debug("%s: EBS device name not filled in yet, retrying.", path);
                sleep_usec(NAME_RETRY_USEC);
        }
        if (attempts > 1)
                log_debug("%s: identify read %u times, device name \"%s\".", path, attempts, info.device_name);
        *ret = info;
        return 0;
}

static bool all_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

/* Points *ret_hex at the hex digits of "vol-…"/"vol…"; -EINVAL otherwise. */
static int volume_id_hex(const char *s, const char **ret_hex) {
        if (!s || strncasecmp(s, "vol", 3) != 0)
                return -EINVAL;
        s += 3;
        if (*s == '-')
                s++;
        size_t n = strlen(s);
        if (n < 8 || n > 17 || !all_hex(s, n))
                return -EINVAL;
        *ret_hex = s;
        return 0;
}

static int volume_id_format(const char *s, const char *sep, char **ret) {
        const char *hex;
        char *out;
        int r = volume_id_hex(s, &hex);

        if (r < 0)
                return r;
        if (asprintf(&out, "vol%s%s", sep, hex) < 0)
                return -ENOMEM;
        for (char *c = out; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        *ret = out;
        return 0;
}

int ebs_volume_id_normalize(const char *s, char **ret) {
        return volume_id_format(s, "-", ret);
}

int ebs_volume_id_to_serial(const char *volume_id, char **ret) {
        return volume_id_format(volume_id, "", ret);
}

int ebs_serial_to_volume_id(const char *serial, char **ret) {
        /* Serials never carry the dash; insisting on that keeps an
         * instance-store serial ("AWS…") or a typo from passing. */
        if (!serial || strncmp(serial, "vol", 3) != 0 || serial[3] == '-')
                return -EINVAL;
        return volume_id_format(serial, "-", ret);
}

int ebs_device_name_normalize(const char *name, char **ret) {
        const char *s = name;
        char *out;

        if (!s)
                return -EINVAL;
        if (startswith(s, "/dev/"))
                s += 5;
        if (isempty(s) || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(s))
                return -EINVAL;
        if (startswith(s, "xvd") && s[3]) {
                if (asprintf(&out, "sd%s", s + 3) < 0)
                        return -ENOMEM;
        } else {
                out = strdup(s);
                if (!out)
                        return -ENOMEM;
        }
        *ret = out;
        return 0;
}

bool ebs_device_names_equal(const char *a, const char *b) {
        _cleanup_free_ char *na = NULL, *nb = NULL;

        if (ebs_device_name_normalize(a, &na) < 0 || ebs_device_name_normalize(b, &nb) < 0)
                return false;
        return streq(na, nb);
}
