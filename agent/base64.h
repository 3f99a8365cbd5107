/* base64.h — RFC 4648 base64, the standard alphabet (what Terraform's
 * base64encode and cloudinit_config emit).  Decoding tolerates line breaks
 * and surrounding whitespace; anything else that is not base64 is -EBADMSG. */
#pragma once

#include <stddef.h>

int base64_encode(const void *data, size_t len, char **ret);
int base64_decode(const char *text, size_t len, void **ret, size_t *ret_len);
/* Heuristic for user-data detection: non-empty, only base64 characters and
 * whitespace, padding only at the end, length (without whitespace) % 4 == 0. */
int base64_looks_like(const char *text, size_t len);
