#!/usr/bin/python3
"""Generates the user-data test vectors in this directory.

Why a generator: the vectors must be byte-exact (Terraform's bare-LF first
line, CRLF after it, sorted Go-canonical part headers), some are binary
(gzip), and each comes with the parts a decoder must find in it.  Writing them
by hand would invite silent mistakes; generating them from one table keeps the
files, their expectations (expected.json) and their description (README.md)
in step.  Only the Python standard library is used; run it with Debian's
/usr/bin/python3 from anywhere:

    /usr/bin/python3 tests/data/userdata/make-vectors.py

The output is deterministic (gzip mtime 0, fixed MIME boundaries), so running
it again must leave `git status` clean.

Terraform output is produced by cloudinit_mime() of tests/tools/tfrender.py
(shared with docs/terraform/make-fixtures.py), which follows
terraform-provider-cloudinit's renderer byte for byte.  Go's gzip bytes
differ from Python's (compression level, OS byte), but the decompressed
bytes, the only thing a decoder sees, are identical.
"""

import base64
import gzip
import json
import os
import sys
from email.charset import QP, Charset
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from tfrender import check_cloudinit_mime, cloudinit_mime as terraform_mime  # noqa: E402
LIMIT = 1024 * 1024  # UD_DEFAULT_MAX_DECODED
MAX_PARTS = 100      # UD_DEFAULT_MAX_PARTS
MAX_DEPTH = 10       # UD_DEFAULT_MAX_DEPTH

CLOUD_CONFIG = """#cloud-config
hostname: web-1
fqdn: web-1.example.internal
runcmd:
  - [systemctl, restart, nginx]
"""

CLOUD_CONFIG_UTF8 = """#cloud-config
# Grüße aus Köln — non-ASCII text travels in a "7bit" part unchanged
write_files:
  - path: /etc/motd
    content: "Willkommen, ユーザー\\n"
"""

SCRIPT = """#!/bin/bash
set -euo pipefail
echo "setup done" > /var/tmp/setup.log
"""

JINJA = """## template: jinja
#cloud-config
hostname: {{ v1.local_hostname }}
write_files:
  - path: /etc/kiln/region
    content: "{{ v1.region }}"
"""

MERGE = "list(append)+dict(recurse_array)+str()"


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def b64(data):
    return base64.b64encode(data)


def part(ctype, body, filename=None, merge_type=None, origin=None):
    return {"content_type": ctype, "filename": filename, "merge_type": merge_type,
            "origin": origin or "user-data", "body": body}


def tf_expect(parts):
    """What a decoder must find in terraform_mime(parts)."""
    out = []
    for i, p in enumerate(parts, 1):
        origin = "user-data[part %d%s]" % (i, ": " + p["filename"] if p.get("filename") else "")
        out.append(part(p["expect_type"], p["content"], p.get("filename"), p.get("merge_type"), origin))
    return out


TF1 = [{"content_type": "text/cloud-config", "content": CLOUD_CONFIG, "expect_type": "text/cloud-config"}]
TF2 = [
    {"content_type": "text/cloud-config", "content": CLOUD_CONFIG_UTF8, "filename": "cloud-config.yaml",
     "expect_type": "text/cloud-config"},
    {"content_type": "text/x-shellscript", "content": SCRIPT, "filename": "setup.sh",
     "expect_type": "text/x-shellscript"},
]
TF3 = [
    {"content_type": "text/cloud-config", "content": CLOUD_CONFIG, "merge_type": MERGE,
     "expect_type": "text/cloud-config"},
    {"content_type": "text/jinja2", "content": JINJA, "filename": "role.yaml.j2", "merge_type": MERGE,
     "expect_type": "text/jinja2"},
    # content_type left out: the provider's default text/plain, re-classified by "#!".
    {"content_type": None, "content": SCRIPT, "filename": "setup.sh", "expect_type": "text/x-shellscript"},
]

vectors = []  # (file name, bytes, description, expectation)


def good(name, data, desc, parts, warnings=0):
    vectors.append((name, data, desc, {"parts": parts, "warnings": warnings}))


def bad(name, data, desc, errno, message, errors=1):
    vectors.append((name, data, desc, {"errno": errno, "message": message, "errors": errors}))


def terraform_vectors():
    for tag, parts in (("1part", TF1), ("2parts", TF2), ("3parts", TF3)):
        doc = terraform_mime(parts)
        exp = tf_expect(parts)
        good("tf-%s.mime" % tag, doc,
             "cloudinit_config, %s, gzip = false, base64_encode = false: the MIME document as is" % tag, exp)
        good("tf-%s.b64" % tag, b64(doc),
             "cloudinit_config, %s, gzip = false, base64_encode = true" % tag, exp)
        good("tf-%s.gz.b64" % tag, b64(gz(doc)),
             "cloudinit_config, %s, the defaults (gzip + base64): the `rendered` string" % tag, exp)
        good("tf-%s.gz" % tag, gz(doc),
             "cloudinit_config, %s, gzip + base64 passed as user_data_base64: what IMDS serves (binary gzip)"
             % tag, exp)
    good("tf-custom-boundary.mime", terraform_mime(TF1, "kiln-b0undary_42"),
         "cloudinit_config with boundary = \"kiln-b0undary_42\"", tf_expect(TF1))
    doc = terraform_mime(TF3)
    good("tf-3parts.gz.b64.b64", b64(b64(gz(doc))),
         "the `rendered` string base64-encoded once more (base64encode(data.cloudinit_config.x.rendered))",
         tf_expect(TF3))


def plain_vectors():
    good("plain-cloud-config.yaml", CLOUD_CONFIG.encode(),
         "user_data = templatefile(\"user-data.yaml.tftpl\", {...}): plain #cloud-config",
         [part("text/cloud-config", CLOUD_CONFIG)])
    wrapped = base64.encodebytes(CLOUD_CONFIG.encode())
    good("plain-cloud-config.b64", wrapped,
         "the same, base64 with 76-column lines and a final newline (base64(1))",
         [part("text/cloud-config", CLOUD_CONFIG)])
    good("plain-script.sh", SCRIPT.encode(), "a plain #! script", [part("text/x-shellscript", SCRIPT)])
    good("plain-jinja.yaml", JINJA.encode(),
         "## template: jinja user-data: kept intact, header line included",
         [part("text/jinja2", JINJA)])
    odd = "\ufeff\n  #Cloud-Config\nhostname: web-1\n"
    good("plain-bom-case.yaml", odd.encode(),
         "a UTF-8 BOM, blank lines and '#Cloud-Config' in another case: classified as cloud-init does; "
         "the BOM is dropped", [part("text/cloud-config", odd[1:])])
    good("empty.txt", b"", "empty user-data: zero parts, no error", [])
    good("blank.txt", b" \n\r\n", "blank user-data: zero parts, no error", [])
    big = "#cloud-config\n" + "".join("# padding line %05d to pass EC2's 16 KiB limit\n" % i for i in range(400))
    good("big-plain.yaml", big.encode(),
         "%d bytes of plain cloud-config: decodes, with one warning (EC2 delivers at most 16 KiB)" % len(big),
         [part("text/cloud-config", big)], warnings=1)


def python_email_vectors():
    boundary = "===============5263846927135342166=="
    msg = MIMEMultipart(boundary=boundary)
    p1 = MIMEText(CLOUD_CONFIG, "cloud-config")
    p1.add_header("Content-Disposition", "attachment", filename="cloud-config.txt")
    p2 = MIMEText(CLOUD_CONFIG_UTF8, "cloud-config", "utf-8")  # utf-8: base64 transfer encoding
    p2.add_header("Content-Disposition", "attachment", filename="utf8.yaml")
    p3 = MIMEText(SCRIPT, "x-shellscript")
    p3.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "grüße.sh"))  # RFC 2231
    for p in (p1, p2, p3):
        msg.attach(p)
    good("python-email.mime", msg.as_bytes(),
         "Python's email module (as cloud-init's make-mime uses it): LF only, quoted boundary with '=', "
         "a base64 utf-8 part, an RFC 2231 filename",
         [part("text/cloud-config", CLOUD_CONFIG, "cloud-config.txt", origin="user-data[part 1: cloud-config.txt]"),
          part("text/cloud-config", CLOUD_CONFIG_UTF8, "utf8.yaml", origin="user-data[part 2: utf8.yaml]"),
          part("text/x-shellscript", SCRIPT, "grüße.sh", origin="user-data[part 3: grüße.sh]")])

    long_line = "#cloud-config\n# " + "a long comment line, folded by quoted-printable soft breaks; " * 3 + "\n" \
        + "motd: \"tabs\tand trailing spaces   \"\nkey: =equals= äöü\n"
    cs = Charset("utf-8")
    cs.body_encoding = QP
    qp = MIMEText(long_line, "cloud-config", cs)
    gzpart = MIMEApplication(gz(SCRIPT.encode()), "gzip")
    gzpart.add_header("Content-Disposition", "attachment", filename="setup.sh.gz")
    inner = MIMEMultipart(boundary="inner-boundary")
    inner.attach(MIMEText(JINJA, "jinja2"))
    inner.attach(MIMEText(CLOUD_CONFIG, "plain"))
    outer = MIMEMultipart(boundary="outer-boundary")
    for p in (qp, gzpart, inner):
        outer.attach(p)
    good("python-qp-gzip-nested.mime", outer.as_bytes(),
         "Python email: a quoted-printable part, an application/gzip part (base64), a nested multipart "
         "(a text/jinja2 part and a text/plain part re-classified by its first line)",
         [part("text/cloud-config", long_line, origin="user-data[part 1]"),
          part("text/x-shellscript", SCRIPT, "setup.sh.gz", origin="user-data[part 2: setup.sh.gz]"),
          part("text/jinja2", JINJA, origin="user-data[part 3][part 1]"),
          part("text/cloud-config", CLOUD_CONFIG, origin="user-data[part 3][part 2]")])


    big = "#cloud-config\n" + "".join("# line %05d of a large, well-compressible part\n" % i for i in range(600))
    two = MIMEMultipart(boundary="gz")
    for name in ("a.yaml.gz", "b.yaml.gz"):
        p = MIMEApplication(gz(big.encode()), "x-gzip")
        p.add_header("Content-Disposition", "attachment", filename=name)
        two.attach(p)
    good("python-gzip-parts.mime", two.as_bytes(),
         "two application/x-gzip parts of %d bytes each in a small document: the decoded-size bound "
         "counts their sum" % len(big),
         [part("text/cloud-config", big, "a.yaml.gz", origin="user-data[part 1: a.yaml.gz]"),
          part("text/cloud-config", big, "b.yaml.gz", origin="user-data[part 2: b.yaml.gz]")])


def handmade_vectors():
    doc = ("MIME-Version: 1.0\n"
           "content-type: Multipart/Mixed;\n"
           "\tboundary=unquoted_boundary.42\n"
           "\n"
           "This is a multi-part message in MIME format (a preamble, ignored).\n"
           "--unquoted_boundary.42\n"
           "CONTENT-TYPE: text/x-shellscript; charset=US-ASCII\n"
           "content-disposition: attachment; filename=first.sh\n"
           "x-merge-type: dict(replace)+list(append)\n"
           "\n"
           + SCRIPT +
           "\n--unquoted_boundary.42\n"
           "\n"
           + CLOUD_CONFIG +
           "\n--unquoted_boundary.42--  \n"
           "An epilogue, ignored.\n--unquoted_boundary.42\nnot a part\n")
    good("handmade-unquoted-preamble.mime", doc.encode(),
         "hand-written: MIME-Version first, lowercase and uppercase header names, a folded Content-Type with "
         "an unquoted boundary, a preamble, a part without headers, blanks after the closing delimiter, an "
         "epilogue that mentions the boundary again",
         [part("text/x-shellscript", SCRIPT, "first.sh", "dict(replace)+list(append)",
               "user-data[part 1: first.sh]"),
          part("text/cloud-config", CLOUD_CONFIG, origin="user-data[part 2]")])

    crlf = ("Content-Type: multipart/mixed; boundary=\"crlf\"\r\nMIME-Version: 1.0\r\n\r\n"
            "--crlf\r\nContent-Type: text/cloud-config\r\n\r\n" + CLOUD_CONFIG.replace("\n", "\r\n") +
            "\r\n--crlf\r\nContent-Type: text/plain\r\n\r\n" + SCRIPT.replace("\n", "\r\n") +
            "\r\n--crlf--\r\n")
    good("handmade-crlf.mime", crlf.encode(),
         "CRLF line ends throughout; bodies keep their CRLFs",
         [part("text/cloud-config", CLOUD_CONFIG.replace("\n", "\r\n"), origin="user-data[part 1]"),
          part("text/x-shellscript", SCRIPT.replace("\n", "\r\n"), origin="user-data[part 2]")])

    single = "Content-Type: text/x-shellscript\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\n" + \
        base64.encodebytes(SCRIPT.encode()).decode()
    good("handmade-single-part.mime", single.encode(),
         "a MIME message that is not multipart: one text/x-shellscript entity, base64 body",
         [part("text/x-shellscript", SCRIPT)])


def bad_vectors():
    doc = terraform_mime(TF2)
    trunc = gz(doc)[: len(gz(doc)) // 2]
    bad("bad-truncated.gz", trunc, "gzip'd cloudinit_config cut in half",
        "EBADMSG", "user-data: error: gzip stream truncated after %d bytes" % len(trunc))
    bad("bad-truncated.gz.b64", b64(trunc), "the same, base64-encoded",
        "EBADMSG", "user-data: error: gzip stream truncated after %d bytes" % len(trunc))
    corrupt = bytearray(gz(doc))
    corrupt[-8] ^= 0xff  # the CRC-32 in the trailer
    bad("bad-crc.gz", bytes(corrupt), "gzip'd cloudinit_config with a wrong CRC-32",
        "EBADMSG", "user-data: error: corrupt gzip data at byte %d of %d: incorrect data check"
        % (len(corrupt) - 4, len(corrupt)))
    text = b64(gz(doc))
    cut = text[:-3]
    bad("bad-base64-truncated.b64", cut, "the `rendered` string with its last 3 characters lost",
        "EBADMSG", "user-data: error: looks like base64 but is not valid base64: the text ends inside a "
        "4-character group (truncated?) at byte %d" % len(cut))
    junk = text[:40] + b"!" + text[41:]
    bad("bad-base64-char.b64", junk, "the `rendered` string with one character replaced by '!'",
        "EBADMSG", "user-data: error: looks like base64 but is not valid base64: a character that is not base64 "
        "(0x21) at byte 40")
    noclose = doc[: doc.rindex(b"--MIMEBOUNDARY--")]
    bad("bad-no-closing.mime", noclose, "cloudinit_config document without its closing delimiter",
        "EBADMSG", "user-data: error: MIME part 2 has no closing boundary 'MIMEBOUNDARY' "
        "(the data ends without '--MIMEBOUNDARY--')")
    bad("bad-no-closing.gz.b64", b64(gz(noclose)), "the same, gzip'd and base64-encoded",
        "EBADMSG", "user-data: error: MIME part 2 has no closing boundary 'MIMEBOUNDARY' "
        "(the data ends without '--MIMEBOUNDARY--')")
    bad("bad-no-boundary.mime", b"Content-Type: multipart/mixed\nMIME-Version: 1.0\n\n--x\n\n#!/bin/sh\n--x--\n",
        "multipart without a boundary parameter",
        "EBADMSG", "user-data: error: Content-Type multipart/mixed has no boundary parameter")
    bad("bad-no-parts.mime", b"Content-Type: multipart/mixed; boundary=b\n\njust text\n",
        "multipart whose boundary never appears",
        "EBADMSG", "user-data: error: multipart body has no part: the boundary 'b' never starts a line")
    bomb = gz(("#cloud-config\n" + "a: b\n" * 400000).encode())
    bad("bad-bomb.gz.b64", b64(bomb),
        "%d bytes of base64 gzip that expand to 2 MB (over the 1 MiB bound)" % len(b64(bomb)),
        "EFBIG", "user-data: error: gzip data expands to more than %d bytes; decoded user-data is limited to "
        "%d bytes (a compression bomb?)" % (LIMIT, LIMIT))
    bad_utf8 = b"#cloud-config\nhostname: web-1\nmotd: caf\xe9\n"
    bad("bad-utf8.yaml", bad_utf8, "cloud-config with a Latin-1 byte",
        "EBADMSG", "user-data:3:10: error: invalid UTF-8 at byte %d (0xe9): text parts must be UTF-8"
        % bad_utf8.index(b"\xe9"))
    doc2 = ('Content-Type: multipart/mixed; boundary="MIMEBOUNDARY"\nMIME-Version: 1.0\r\n\r\n'
            "--MIMEBOUNDARY\r\nContent-Disposition: attachment; filename=\"s.sh\"\r\n"
            "Content-Transfer-Encoding: 7bit\r\nContent-Type: text/x-shellscript\r\nMime-Version: 1.0\r\n\r\n"
            ).encode() + b"#!/bin/sh\necho \xc0\xaf\n" + b"\r\n--MIMEBOUNDARY--\r\n"
    bad("bad-utf8-part.mime", doc2, "a script part with an overlong UTF-8 sequence (C0 AF)",
        "EBADMSG", "user-data[part 1: s.sh]:2:6: error: invalid UTF-8 at byte 15 (0xc0): text parts must be UTF-8")
    bad("bad-nul.yaml", b"#cloud-config\nhostname: a\0b\n", "cloud-config with a NUL byte",
        "EBADMSG", "user-data:2:12: error: NUL byte at byte 25: text parts must not contain NUL")
    bad("bad-unrecognised.yaml", b"hostname: web-1\nfqdn: web-1.example.internal\n",
        "YAML without the #cloud-config line (cloud-init ignores it silently)",
        "EBADMSG", "user-data:1:1: error: cannot tell what this user-data is: the first line must be "
        "'#cloud-config', '#!...' (a script) or '## template: jinja', or the data MIME multipart, gzip or "
        "base64; found 'hostname: ...'")
    bad("bad-typo.yaml", b"#cloud-confg\nhostname: web-1\n", "a mistyped #cloud-config line",
        "EBADMSG", "user-data:1:1: error: cannot tell what this user-data is: the first line must be "
        "'#cloud-config', '#!...' (a script) or '## template: jinja', or the data MIME multipart, gzip or "
        "base64; found '#cloud-confg'")
    bad("bad-boothook.txt", b"#cloud-boothook\n#!/bin/sh\necho early\n", "a #cloud-boothook (refused)",
        "EOPNOTSUPP", "user-data:1:1: error: refused text/cloud-boothook part: kiln does not run boothooks")
    bad("bad-include.txt", b"#include\nhttps://example.com/user-data\n", "an #include list (refused)",
        "EOPNOTSUPP", "user-data:1:1: error: refused text/x-include-url part: kiln does not fetch #include URLs")
    refused = terraform_mime([
        {"content_type": "text/cloud-config", "content": CLOUD_CONFIG},
        {"content_type": "text/cloud-boothook", "content": "#!/bin/sh\necho early\n", "filename": "hook.sh"},
        {"content_type": "text/x-include-url", "content": "https://example.com/more\n"},
    ])
    bad("bad-refused-parts.mime", refused,
        "cloudinit_config with a cloud-config, a boothook and an include part: both refusals reported",
        "EOPNOTSUPP", "user-data[part 2: hook.sh]: error: refused text/cloud-boothook part", errors=2)
    bad("bad-gzip-declared.mime",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/x-gzip\n\n#!/bin/sh\n--b--\n",
        "a part declared application/x-gzip that is not gzip",
        "EBADMSG", "user-data[part 1]: error: declared application/x-gzip, but the body is not gzip data")
    bad("bad-cte.mime",
        b"Content-Type: text/x-shellscript\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n",
        "an unsupported Content-Transfer-Encoding",
        "EBADMSG", "user-data: error: unsupported Content-Transfer-Encoding 'x-uuencode'")
    bad("bad-qp.mime",
        b"Content-Type: text/cloud-config\nContent-Transfer-Encoding: quoted-printable\n\n#cloud-config\na: =ZZ\n",
        "an invalid quoted-printable escape",
        "EBADMSG", "user-data: error: invalid quoted-printable escape at byte 17 of the body")
    bad("bad-part-base64.mime",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-shellscript\n"
        b"Content-Transfer-Encoding: base64\n\nIyEvYmluL3No*ZWNobwo=\n--b--\n",
        "a base64 part body with a stray '*'",
        "EBADMSG", "user-data[part 1]: error: body is not valid base64 (Content-Transfer-Encoding: base64): "
        "a character that is not base64 (0x2a) at byte 12 of the body")
    bad("bad-charset.mime",
        b"Content-Type: text/cloud-config; charset=iso-8859-1\n\n#cloud-config\nmotd: caf\xe9\n",
        "a text part in Latin-1", "EOPNOTSUPP",
        "user-data: error: charset 'iso-8859-1' is not supported: kiln reads text parts as UTF-8")
    bad("bad-content-type.mime",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: cloud-config\n\n#cloud-config\n--b--\n",
        "a malformed part Content-Type (no subtype)",
        "EBADMSG", "user-data[part 1]: error: malformed Content-Type header 'cloud-config'")
    many = "".join("--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho %d\n" % i for i in range(MAX_PARTS + 1))
    bad("bad-too-many-parts.mime", ("Content-Type: multipart/mixed; boundary=b\n\n" + many + "--b--\n").encode(),
        "%d MIME parts (the bound is %d)" % (MAX_PARTS + 1, MAX_PARTS),
        "E2BIG", "user-data: error: more than %d MIME parts (the limit)" % MAX_PARTS)
    deep = CLOUD_CONFIG.encode()
    for _ in range(MAX_DEPTH + 1):
        deep = b64(deep)
    bad("bad-too-deep.b64", deep, "base64 nested %d times (the bound is %d layers)" % (MAX_DEPTH + 1, MAX_DEPTH),
        "ELOOP", "user-data: error: user-data nests more than %d layers of encoding" % MAX_DEPTH)


def write_all():
    expected = {}
    for name, data, desc, exp in vectors:
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        expected[name] = dict(exp, description=desc)
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, sort_keys=True, ensure_ascii=True)
        f.write("\n")
    with open(os.path.join(HERE, "README.md"), "w", encoding="utf-8") as f:
        f.write(README_HEAD)
        for name, data, desc, exp in vectors:
            what = ("%d part(s)" % len(exp["parts"])) if "parts" in exp else "-" + exp["errno"]
            f.write("| `%s` | %d | %s | %s |\n" % (name, len(data), what, desc.replace("|", "\\|")))


README_HEAD = """# User-data test vectors

Generated by `make-vectors.py` (standard library only):

    /usr/bin/python3 tests/data/userdata/make-vectors.py

Do not edit these files by hand: change the generator and run it again (the
output is deterministic).  `expected.json` holds, for every vector, either the
parts a decoder must return (content type, filename, merge type, origin and
the exact body) or the errno, the number of error diagnostics and the text the
first error must contain.  `tests/unit/test-userdata-decode.c` checks every
entry.

Terraform vectors (`tf-*`) are the `cloudinit_config` output byte for byte:
the first header line ends in a bare LF, the rest in CRLF, part headers are
sorted and Go-canonicalised (`Mime-Version`).  `.mime` is the document,
`.b64` base64 of it, `.gz.b64` the default `rendered` string (gzip, then
base64), `.gz` what IMDS serves when that string is passed as
`user_data_base64`.

| file | bytes | result | what it is |
|---|---|---|---|
"""


def main():
    check_cloudinit_mime()
    terraform_vectors()
    plain_vectors()
    python_email_vectors()
    handmade_vectors()
    bad_vectors()
    write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
