#!/usr/bin/python3
"""relay.py PORT [HOST] — one guest TCP connection ↔ one connection to a host loopback port.

Why this exists: QEMU's user network forwards a guest address:port to the host with
`guestfwd=tcp:ADDR:PORT-cmd:COMMAND`. For every connection the guest opens, libslirp starts COMMAND with its
stdin, stdout and stderr all being one end of a socketpair whose other end is that guest connection. The other
guestfwd form, `...-tcp:HOST:PORT`, is a single chardev connected once when QEMU starts: every guest
connection shares that one byte stream and a server closing it (as HTTP servers do) breaks the forward for
good, so it cannot carry HTTP to an emulator (see docs/e2e.md for the experiment).

This relay is that COMMAND: it copies bytes both ways between fd 0 and a new TCP connection to HOST:PORT
(HOST defaults to 127.0.0.1 and must be a loopback address), passes half-closes on (shutdown(SHUT_WR)) so a
request/response exchange ends cleanly, and exits when both directions are done. It never writes to stderr:
stderr is the guest's connection. Standard library only, started with -I -S so it starts fast.
"""
import ipaddress
import os
import selectors
import socket
import sys

BUFSIZE = 65536


def pump(src, dst, closed, sel):
    """Copy what is readable on src to dst; on EOF half-close dst. Returns False when src is finished."""
    try:
        data = src.recv(BUFSIZE)
    except OSError:
        data = b""
    if data:
        try:
            dst.sendall(data)
            return True
        except OSError:
            pass
    sel.unregister(src)
    closed.add(src)
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    return False


def relay(guest, host):
    sel = selectors.DefaultSelector()
    sel.register(guest, selectors.EVENT_READ, host)
    sel.register(host, selectors.EVENT_READ, guest)
    closed = set()
    while len(closed) < 2:
        for key, _ in sel.select():
            pump(key.fileobj, key.data, closed, sel)


def main(argv):
    if len(argv) not in (2, 3):
        return 2
    port = int(argv[1])
    addr = argv[2] if len(argv) == 3 else "127.0.0.1"
    if not ipaddress.ip_address(addr).is_loopback:
        return 2
    guest = socket.socket(fileno=os.dup(0))
    # stdin/stdout/stderr are the guest connection: keep stray output (tracebacks) out of it.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        host = socket.create_connection((addr, port), timeout=10)
    except OSError:
        guest.close()
        return 1
    host.settimeout(None)
    relay(guest, host)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
