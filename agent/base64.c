/* base64.c — see base64.h. */
#include <stdbool.h>
#include <stdint.h>

#include "base64.h"
#include "macro.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int value_of(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

static bool is_space(char c) {
        return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

int base64_encode(const void *data, size_t len, char **ret) {
        const uint8_t *p = data;
        char *out = malloc((len + 2) / 3 * 4 + 1), *w = out;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;
                if (i + 1 < len)
                        v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < len)
                        v |= p[i + 2];
                *w++ = alphabet[(v >> 18) & 63];
                *w++ = alphabet[(v >> 12) & 63];
                *w++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
                *w++ = i + 2 < len ? alphabet[v & 63] : '=';
        }
        *w = 0;
        *ret = out;
        return 0;
}

int base64_decode(const char *text, size_t len, void **ret, size_t *ret_len) {
        _cleanup_free_ uint8_t *out = malloc(len / 4 * 3 + 4);
        uint32_t acc = 0;
        size_t n = 0, olen = 0, pad = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                char c = text[i];
                if (is_space(c))
                        continue;
                if (c == '=') {
                        pad++;
                        continue;
                }
                int v = value_of(c);
                if (v < 0 || pad > 0)
                        return -EBADMSG;
                acc = acc << 6 | (uint32_t) v;
                if (++n % 4 == 0) {
                        out[olen++] = (uint8_t) (acc >> 16);
                        out[olen++] = (uint8_t) (acc >> 8);
                        out[olen++] = (uint8_t) acc;
                        acc = 0;
                }
        }
        switch (n % 4) {
        case 0:
                if (pad != 0)
                        return -EBADMSG;
                break;
        case 2:
                if (pad != 0 && pad != 2)
                        return -EBADMSG;
                out[olen++] = (uint8_t) (acc >> 4);
                break;
        case 3:
                if (pad != 0 && pad != 1)
                        return -EBADMSG;
                out[olen++] = (uint8_t) (acc >> 10);
                out[olen++] = (uint8_t) (acc >> 2);
                break;
        default:
                return -EBADMSG;
        }
        out[olen] = 0; /* convenient for text payloads; not counted */
        *ret = TAKE_PTR(out);
        if (ret_len)
                *ret_len = olen;
        return 0;
}

int base64_looks_like(const char *text, size_t len) {
        size_t n = 0, pad = 0;

        for (size_t i = 0; i < len; i++) {
                char c = text[i];
                if (is_space(c))
                        continue;
                if (c == '=') {
                        pad++;
                        if (pad > 2)
                                return 0;
                        continue;
                }
                if (pad > 0 || value_of(c) < 0)
                        return 0;
                n++;
        }
        return n > 0 && (n + pad) % 4 == 0;
}
