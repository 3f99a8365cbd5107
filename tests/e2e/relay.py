#!/usr/bin/python3
"""relay.py PORT [HOST [LOGFILE]] — one guest TCP connection ↔ one connection to a host loopback port.

Why this exists: QEMU's user network forwards a guest address:port to the host with
`guestfwd=tcp:ADDR:PORT-cmd:COMMAND`. For every connection the guest opens, libslirp starts COMMAND with its
stdin, stdout and stderr all being one end of a connected socket pair whose other end is that guest
connection. The other guestfwd form, `...-tcp:HOST:PORT`, is a single chardev connected once when QEMU
starts: every guest connection shares that one byte stream and a server closing it (as HTTP servers do)
breaks the forward for good, so it cannot carry HTTP to an emulator (see docs/e2e.md for the experiment).

This relay is that COMMAND: it copies bytes both ways between fd 0 and a new TCP connection to HOST:PORT
(HOST defaults to 127.0.0.1 and must be a loopback address), passes half-closes on (shutdown(SHUT_WR)) so a
request/response exchange ends cleanly, and exits when both directions are done. It never writes to stderr:
stderr is the guest's connection; with LOGFILE it appends one line per event there (vm.py passes
<vm>/relay.log), the evidence when a forwarded request stalls. Standard library only, started with -I -S so
it starts fast.
"""
import ipaddress
import os
import re
import selectors
import socket
import sys
import time

BUFSIZE = 65536


class Log:
    """Optional evidence: one line per event, appended (O_APPEND keeps concurrent relays' lines whole)."""

    def __init__(self, path, port):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None
        self.prefix = f"relay[{os.getpid()}] :{port}"

    def __call__(self, msg):
        if self.fd is not None:
            os.write(self.fd, f"{time.time():.3f} {self.prefix} {msg}\n".encode())


def pump(src, dst, state, sel):
    """Copy what is readable on src to dst; on EOF half-close dst. Records bytes and finished sources."""
    try:
        data = src.recv(BUFSIZE)
    except OSError as e:
        state["log"](f"recv from {state['names'][src]}: {e}")
        data = b""
    if data:
        try:
            dst.sendall(data)
            state["bytes"][src] += len(data)
            state["log"](f"{state['names'][src]}: {_first_line(data)}")
            return
        except OSError as e:
            state["log"](f"send to {state['names'][dst]}: {e}")
    sel.unregister(src)
    state["closed"].add(src)
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def relay(guest, host, log):
    sel = selectors.DefaultSelector()
    sel.register(guest, selectors.EVENT_READ, host)
    sel.register(host, selectors.EVENT_READ, guest)
    state = {"closed": set(), "bytes": {guest: 0, host: 0}, "names": {guest: "guest", host: "host"}, "log": log}
    while len(state["closed"]) < 2:
        for key, _ in sel.select():
            pump(key.fileobj, key.data, state, sel)
    return state["bytes"][guest], state["bytes"][host]


def _first_line(data):
    """An HTTP request or status line as is; anything else (bodies: tokens, user-data) only by its size."""
    line = data.split(b"\r\n", 1)[0][:100]
    if re.match(rb"(HTTP/1\.[01] \d{3}|(GET|PUT|POST|DELETE|HEAD) \S+ HTTP/1\.[01])", line):
        return f"{line.decode('ascii', 'replace')} [+{len(data) - len(line)} bytes]"
    return f"<{len(data)} bytes>"


def _ends(sock):
    try:
        return f"{sock.getsockname()} -> {sock.getpeername()}"
    except OSError as e:
        return str(e)


def main(argv):
    if len(argv) not in (2, 3, 4):
        return 2
    port = int(argv[1])
    addr = argv[2] if len(argv) >= 3 else "127.0.0.1"
    if not ipaddress.ip_address(addr).is_loopback:
        return 2
    log = Log(argv[3] if len(argv) == 4 else None, port)
    guest = socket.socket(fileno=os.dup(0))
    guest.setblocking(True)
    # stdin/stdout/stderr are the guest connection: keep stray output (tracebacks) out of it.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    log(f"guest connected ({_ends(guest)})")
    try:
        host = socket.create_connection((addr, port), timeout=10)
    except OSError as e:
        log(f"connect {addr}:{port}: {e}")
        guest.close()
        return 1
    host.settimeout(None)
    log(f"host connected ({_ends(host)})")
    up, down = relay(guest, host, log)
    log(f"done: {up} bytes guest→host, {down} bytes host→guest")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
