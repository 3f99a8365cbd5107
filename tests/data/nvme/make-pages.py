#!/usr/bin/python3
"""Writes the identify-controller pages used by tests/unit/test-nvme.c.

Each page is 4096 bytes laid out like the NVMe 1.4 Identify Controller data
structure (CNS=1) as an EBS or other controller returns it: PCI vendor id at
byte 0, subsystem vendor id at 2, serial (20 bytes) at 4, model (40 bytes) at
24, firmware revision (8 bytes) at 64, a few capability fields, and, for EBS,
the block-device name requested at attach time in the first 32 bytes of the
vendor-specific area at byte 3072.  Text fields are space padded as the spec
requires.  The values imitate what AWS documents and what `nvme id-ctrl -b`
prints on Nitro instances; no bytes were copied from a real capture.

Run it from this directory to regenerate the .bin files (they are committed,
the tests don't run this script):  /usr/bin/python3 make-pages.py
"""
import struct

AMAZON = 0x1D0F
INTEL = 0x8086


def text(s, width, pad=b" "):
    b = s if isinstance(s, bytes) else s.encode("ascii")
    assert len(b) <= width, s
    return b + pad * (width - len(b))


def page(vid, serial, model, fw, name=None, name_pad=b" "):
    p = bytearray(4096)
    struct.pack_into("<HH", p, 0, vid, vid)
    p[4:24] = text(serial, 20)
    p[24:64] = text(model, 40)
    p[64:72] = text(fw, 8)
    p[72] = 32                      # RAB
    p[77] = 6                       # MDTS: 256 KiB with 4 KiB pages
    struct.pack_into("<H", p, 78, 0)          # CNTLID
    struct.pack_into("<I", p, 80, 0x00010400)  # VER 1.4
    p[512] = 0x66                   # SQES
    p[513] = 0x44                   # CQES
    struct.pack_into("<I", p, 516, 1)          # NN: one namespace
    if name is not None:
        p[3072:3104] = text(name, 32, name_pad)
    return bytes(p)


EBS = "Amazon Elastic Block Store"
PAGES = {
    "ebs-sdf.bin": page(AMAZON, "vol0123456789abcdef0", EBS, "1.0", "sdf"),
    "ebs-dev-xvdb.bin": page(AMAZON, "vol0fedcba9876543210", EBS, "1.0", "/dev/xvdb"),
    "ebs-root-dev-xvda.bin": page(AMAZON, "vol0aaaaaaaaaaaaaaaa", EBS, "1.0", "/dev/xvda"),
    "ebs-name-empty.bin": page(AMAZON, "vol0123456789abcdef0", EBS, "1.0", ""),
    "ebs-name-nul.bin": page(AMAZON, "vol0123456789abcdef0", EBS, "1.0", "sdg", name_pad=b"\0"),
    "ebs-old-id.bin": page(AMAZON, "vol1a2b3c4d", EBS, "1.0", "xvdh"),
    "instance-store.bin": page(AMAZON, "AWS22A2B7E1C4F5D3A1", "Amazon EC2 NVMe Instance Storage", "0",
                               "ephemeral0"),
    "other-vendor.bin": page(INTEL, "PHLJ000000001P0AGN", "INTEL SSDPE2KX010T8", "VDV10131"),
    "bad-serial.bin": page(AMAZON, b"vol0123\x01456789abcdef", EBS, "1.0", "sdf"),
}

if __name__ == "__main__":
    for name, data in PAGES.items():
        assert len(data) == 4096
        with open(name, "wb") as f:
            f.write(data)
