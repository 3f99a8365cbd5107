"""pytest fixtures shared by kiln's end-to-end tests (tests/e2e/test_*.py).

Why: every e2e test needs the same few things — the cached base image, a directory for evidence that outlives
the run (console logs, journals, systemd-analyze output), host-loopback HTTP servers standing in for the
emulators, and a place to put measured numbers — and scenarios should only say what they boot and assert.
The tests are run by run.sh (smoke.sh: the harness's own files only) as root inside a private network and mount
namespace; they are not collected by ctest (tests/CMakeLists.txt globs tests/integration only).

Environment: KILN_E2E_ARTIFACTS (where evidence goes; default a new /tmp/kiln-e2e-* directory),
KILN_E2E_CACHE (image cache, see build-image.sh), KILN_BINARY (a built kiln to install into the guest).
"""
import http.server
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vm as e2e  # noqa: E402

METRICS = {}


def pytest_configure(config):
    if os.geteuid() != 0:
        raise pytest.UsageError("kiln's e2e tests run as root (mount, chroot, loop devices); use run.sh")
    if not e2e.in_private_netns():
        raise pytest.UsageError("kiln's e2e tests run in a private network namespace holding only lo "
                                "(unshare --net, as run.sh does), so nothing a guest does can leave the machine")


@pytest.fixture(scope="session")
def artifacts():
    path = os.environ.get("KILN_E2E_ARTIFACTS")
    path = Path(path) if path else Path(tempfile.mkdtemp(prefix="kiln-e2e-"))
    path.mkdir(parents=True, exist_ok=True)
    METRICS["artifacts"] = str(path)
    return path


@pytest.fixture(scope="session")
def base():
    t0 = time.monotonic()
    image = e2e.base_image()
    METRICS["image_ready_s"] = round(time.monotonic() - t0, 1)
    METRICS["image"] = str(image.dir)
    return image


@pytest.fixture(scope="session")
def metrics():
    return METRICS


class StandIn(http.server.ThreadingHTTPServer):
    """An HTTP server on host loopback that answers every GET with a fixed body and records each request,
    so a test can assert from the host side that the guest's request arrived (as scenarios will do with the
    IMDS and Consul emulators)."""

    daemon_threads = True

    def __init__(self, body):
        self.body = body.encode()
        self.requests = []
        super().__init__(("127.0.0.1", 0), _StandInHandler)

    @property
    def port(self):
        return self.server_address[1]


class _StandInHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.requests.append({"method": "GET", "path": self.path, "client": self.client_address[0]})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, fmt, *args):
        pass


@pytest.fixture(scope="module")
def standin():
    """Factory: standin(body) starts a recording HTTP server on 127.0.0.1 for this module."""
    servers = []

    def make(body):
        srv = StandIn(body)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def pytest_terminal_summary(terminalreporter):
    if not METRICS:
        return
    terminalreporter.section("kiln e2e measurements")
    for key, value in METRICS.items():
        terminalreporter.write_line(f"{key}: {value}")
    if "artifacts" in METRICS:
        (Path(METRICS["artifacts"]) / "metrics.json").write_text(json.dumps(METRICS, indent=2) + "\n")
