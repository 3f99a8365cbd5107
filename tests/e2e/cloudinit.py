"""cloudinit.py — user-data exactly as Terraform's `data "cloudinit_config"` renders it, for the e2e scenarios.

Why its own module: the scenarios must hand the guest what a real `terraform apply` hands an instance, byte
for byte, so that kiln's whole decoding path (base64 → gzip → MIME multipart → parts, `## template: jinja`,
merge types) runs on a real boot and not only in unit tests. The format is the provider's (see the shared
reference terraform-user-data.md): a bare LF after the first header line, CRLF after that; part headers
sorted and Go-canonicalised (Content-Disposition only with a filename, X-Merge-Type only with a merge type);
the whole document gzipped (mtime 0), then standard base64 — `gzip` and `base64_encode` default to true.
"""
import base64
import dataclasses
import gzip as gzip_module


@dataclasses.dataclass
class Part:
    content: str
    content_type: str = "text/plain"
    filename: str = None
    merge_type: str = None


def render(parts, gzip=True, base64_encode=True, boundary="MIMEBOUNDARY"):
    """The `rendered` attribute of a cloudinit_config data source: bytes (ASCII when base64-encoded)."""
    if gzip and not base64_encode:
        raise ValueError("cloudinit_config: base64_encode must be true when gzip is")
    out = f'Content-Type: multipart/mixed; boundary="{boundary}"\nMIME-Version: 1.0\r\n\r\n'
    for p in parts:
        out += f"--{boundary}\r\n"
        if p.filename:
            out += f'Content-Disposition: attachment; filename="{p.filename}"\r\n'
        out += f"Content-Transfer-Encoding: 7bit\r\nContent-Type: {p.content_type}\r\nMime-Version: 1.0\r\n"
        if p.merge_type:
            out += f"X-Merge-Type: {p.merge_type}\r\n"
        out += f"\r\n{p.content}\r\n"
    data = (out + f"--{boundary}--\r\n").encode()
    if gzip:
        data = gzip_module.compress(data, mtime=0)
    return base64.b64encode(data) if base64_encode else data
