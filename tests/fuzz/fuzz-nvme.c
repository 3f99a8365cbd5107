/* fuzz-nvme.c — an NVMe identify-controller page, as a device (or a
 * malicious one: a volume someone attached, a hostile hypervisor) returns it.
 *
 * nvme_parse_identify() takes exactly 4096 bytes; the input is cut or
 * zero-padded to that, so short inputs explore the header fields and long
 * ones the vendor area at byte 3072 where EBS keeps the device name.  What
 * the agent does next with the fields is fuzzed too: the EBS check, serial →
 * volume id, device-name normalisation and comparison, and volume-id
 * normalisation of the raw input (it also comes from user-data).
 *
 * Invariants: parsed fields are NUL-terminated printable ASCII without
 * trailing blanks; derived names round-trip (a normalised device name
 * normalises to itself and equals the original; a volume id from a serial
 * converts back to the same serial).
 */
#include <ctype.h>

#include "fuzz-common.h"
#include "nvme.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        return 0;
}

static void check_field(const char *s, size_t size) {
        size_t n = strnlen(s, size);
        if (n == size)
                abort(); /* not terminated */
        for (size_t i = 0; i < n; i++)
                if (!isprint((unsigned char) s[i]))
                        abort();
        if (n > 0 && s[n - 1] == ' ')
                abort();
}

static void device_name(const char *name) {
        _cleanup_free_ char *canon = NULL, *again = NULL;
        if (ebs_device_name_normalize(name, &canon) < 0)
                return;
        if (ebs_device_name_normalize(canon, &again) < 0 || !streq(canon, again) ||
            !ebs_device_names_equal(name, canon))
                abort();
}

static void serial(const char *s) {
        _cleanup_free_ char *vol = NULL, *back = NULL, *canon = NULL;
        if (ebs_serial_to_volume_id(s, &vol) < 0)
                return;
        if (ebs_volume_id_normalize(vol, &canon) < 0 || !streq(canon, vol) ||
            ebs_volume_id_to_serial(vol, &back) < 0)
                abort();
}

static void page(const uint8_t *data, size_t size) {
        uint8_t p[NVME_IDENTIFY_SIZE] = { 0 };
        nvme_ctrl_info info;

        memcpy(p, data, MIN(size, sizeof p));
        if (nvme_parse_identify(p, &info) < 0)
                return;
        check_field(info.serial, sizeof info.serial);
        check_field(info.model, sizeof info.model);
        check_field(info.device_name, sizeof info.device_name);
        (void) nvme_info_is_ebs(&info);
        serial(info.serial);
        device_name(info.device_name);
}

static void strings(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL, *vol = NULL, *ser = NULL;
        if (size > 128)
                return;
        s = fuzz_strndup(data, size);
        device_name(s);
        (void) ebs_device_names_equal(s, "sdf");
        if (ebs_volume_id_normalize(s, &vol) >= 0 && ebs_volume_id_to_serial(vol, &ser) < 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        page(data, size);
        strings(data, size);
        return 0;
}
