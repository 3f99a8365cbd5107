"""Host-only checks of the harness's parts, run before any VM boots (seconds, not minutes).

Why: when a boot fails, the question is whether the harness or the guest is at fault. These pin the parts
that need no guest: relay.py as libslirp runs it (the guest connection on fds 0-2), the parsing of
systemd-analyze output, the forward sanity rules, and the install hook writing into a copy-on-write overlay
while leaving the cached base image untouched.
"""
import contextlib
import os
import socket
import subprocess
import threading

import pytest

import vm as e2e


@contextlib.contextmanager
def echo_server():
    """A loopback server for one connection: it answers with the input upper-cased, after the client's EOF.

    Its thread is joined before the socket is closed. A thread left blocked in accept() on a closed socket
    races for the file descriptor number: the next listening socket the process opens (an HTTP stand-in)
    gets that number and the stale thread steals its connections.
    """
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(10)

    def serve_one():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            conn.sendall(data.upper())

    thread = threading.Thread(target=serve_one)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        thread.join()
        srv.close()


def run_relay(port, payload, addr="127.0.0.1"):
    """Start relay.py the way libslirp does (one socketpair end as stdin, stdout and stderr) and talk to it."""
    guest, ours = socket.socketpair()
    with guest:
        proc = subprocess.Popen(["/usr/bin/python3", "-I", "-S", str(e2e.RELAY), str(port), addr],
                                stdin=guest, stdout=guest, stderr=guest)
    with ours:
        ours.sendall(payload)
        ours.shutdown(socket.SHUT_WR)
        received = b""
        ours.settimeout(10)
        while chunk := ours.recv(65536):
            received += chunk
    return proc.wait(timeout=10), received


def test_relay_carries_both_directions_and_half_close():
    payload = b"get /latest/meta-data/ " * 10000          # larger than one buffer
    with echo_server() as port:
        rc, received = run_relay(port, payload)
    assert rc == 0
    assert received == payload.upper()


def test_relay_refuses_non_loopback_target():
    rc, received = run_relay(80, b"", addr="192.0.2.1")     # refused before any connection is attempted
    assert rc == 2 and received == b""


def test_relay_closed_port_closes_guest_connection_silently():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                            # bound, not listening: connection refused
        rc, received = run_relay(port, b"")
    assert rc == 1 and received == b""                       # no traceback leaks into the guest's stream


@pytest.mark.parametrize("text,expected", [
    ("Startup finished in 3.518s (kernel) + 5.337s (userspace) = 8.855s \n"
     "multi-user.target reached after 5.209s in userspace.\n", (3.518, 5.337, 8.727)),
    ("Startup finished in 2.1s (kernel) + 1min 2.5s (userspace) = 1min 4.6s\n"
     "multi-user.target reached after 1min 850ms in userspace.\n", (2.1, 62.5, 62.95)),
    ("Bootup is not yet finished.\n", (None, None, None)),
])
def test_parse_analyze_time(text, expected):
    assert e2e.parse_analyze_time(text) == expected


@pytest.mark.parametrize("fwd", [
    e2e.Forward("10.0.2.100", 80, 1234),          # outside the user network: QEMU would refuse it anyway
    e2e.Forward(e2e.HOST_ALIAS, 80, 1234),        # the gateway
    e2e.Forward("169.254.169.15", 80, 1234),      # the guest's own DHCP address
    e2e.Forward(e2e.IMDS_ADDR, 80, 1234, host_addr="192.0.2.1"),   # not loopback
])
def test_check_forward_rejects(fwd):
    with pytest.raises(e2e.E2EError):
        e2e.check_forward(fwd)


def test_check_forward_accepts_emulator_addresses():
    e2e.check_forward(e2e.Forward(e2e.IMDS_ADDR, e2e.IMDS_PORT, 1234))
    e2e.check_forward(e2e.Forward(e2e.CONSUL_ADDR, e2e.CONSUL_PORT, 1234, host_addr="127.0.0.2"))


def test_data_disk_serial_length_is_checked(tmp_path):
    with pytest.raises(e2e.E2EError):
        e2e.DataDisk(tmp_path / "d.img", "vol-0123456789abcdef0")   # 21 characters: the dash is not kept


def test_overlay_install_leaves_base_untouched(base, tmp_path):
    before = os.stat(base.qcow2)
    src = tmp_path / "hello"
    src.write_text("hi\n")
    overlay = e2e.create_overlay(base, tmp_path / "o.qcow2", e2e.Payload(
        files=[(src, "/usr/local/bin/hello", 0o750)], run=["echo ran > /etc/e2e-run"]))
    with e2e.mounted_image(overlay, readonly=True) as root:
        st = os.stat(root / "usr/local/bin/hello")
        assert (st.st_mode & 0o7777) == 0o750
        assert (root / "etc/e2e-run").read_text() == "ran\n"
        assert not (root / "proc/self").exists()             # the chroot's mounts are gone again
    assert os.stat(base.qcow2).st_mtime == before.st_mtime
    fresh = e2e.create_overlay(base, tmp_path / "fresh.qcow2")
    with e2e.mounted_image(fresh, readonly=True) as root:
        assert not (root / "usr/local/bin/hello").exists()


def test_overlay_install_refuses_to_write_through_absolute_symlinks(base, tmp_path):
    """/etc/localtime in the image points at /usr/share/zoneinfo/...: followed on the host, a copy would
    overwrite the host's file. The hook must refuse instead."""
    src = tmp_path / "tz"
    src.write_text("not a zone file\n")
    with pytest.raises(e2e.E2EError, match="outside the image"):
        e2e.create_overlay(base, tmp_path / "o.qcow2", e2e.Payload(files=[(src, "/etc/localtime", 0o644)]))
