"""Start, steer and stop kiln's test emulators from Python tests.

Why: every integration test of kiln needs an IMDS and/or a Consul agent on a
free loopback port, must know when it is ready, must switch faults while kiln
runs, and must read back what kiln did.  Doing that in one place keeps the
tests short and makes a crashed emulator fail loudly (with its log) instead
of surfacing as a confusing kiln error.

Usage (README.md in this directory has the full story):

    from harness import Imds, Consul
    with Imds() as imds, Consul(acl_tokens=["s3cr3t"]) as consul:
        imds.set_faults(fail_next=2, fail_status=503)
        run_kiln(env={"KILN_IMDS_ENDPOINT": imds.endpoint, "CONSUL_HTTP_ADDR": consul.address})
        assert imds.stats()["by_method"]["PUT"] == 1
        assert "cortex" in consul.state()["services"]

Each emulator runs as a subprocess of the interpreter running the tests
(standard library only), listens on 127.0.0.1 with port 0, and reports its
port through --port-file; readiness is a 200 from /_emulator/health.
stop() sends SIGTERM and insists on a clean exit 0.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "data")
CORTEX_NODE = os.path.join(DATA_DIR, "cortex-node.json")


class EmulatorError(RuntimeError):
    """The emulator did not start, answered a control request with an error, or exited badly."""


class Answer:
    """One HTTP answer: status, headers (case-insensitive), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Answer {self.status} {self.body[:80]!r}>"


class Emulator:
    """Base class: subprocess life cycle, plain HTTP requests, faults and stats."""

    script = None

    def __init__(self, *extra_args, host="127.0.0.1", port=0, wait=True, start_timeout=10.0, python=None):
        self.extra_args = [str(a) for a in extra_args]
        self.host = host
        self.requested_port = port
        self.wait = wait
        self.start_timeout = start_timeout
        self.python = python or sys.executable
        self.proc = None
        self.port = None
        self.tmpdir = None

    # ---- life cycle -------------------------------------------------------------------------------

    def command(self):
        return [self.python, os.path.join(HERE, self.script), *self.extra_args, "--host", self.host,
                "--port", str(self.requested_port), "--port-file", self.port_file, "--exit-with-parent"]

    def start(self):
        self.tmpdir = tempfile.mkdtemp(prefix="kiln-emulator-")
        self.port_file = os.path.join(self.tmpdir, "port")
        self.log_path = os.path.join(self.tmpdir, "emulator.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log)
        self.port = self._wait_for_port()
        if self.wait:
            self.wait_ready()
        return self

    def _wait_for_port(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.port_file):
                with open(self.port_file, encoding="ascii") as f:
                    return int(f.read())
            if self.proc.poll() is not None:
                raise EmulatorError(f"{self.script} exited with {self.proc.returncode}: {self.log_text()}")
            time.sleep(0.02)
        raise EmulatorError(f"{self.script} published no port within {self.start_timeout}s: {self.log_text()}")

    def wait_ready(self, timeout=None):
        """Poll /_emulator/health until it answers 200 (connections may be refused until then)."""
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while True:
            try:
                if self.request("GET", "/_emulator/health", timeout=1).status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise EmulatorError(f"{self.script} exited with {self.proc.returncode}: {self.log_text()}")
            if time.monotonic() > deadline:
                raise EmulatorError(f"{self.script} not ready on port {self.port}: {self.log_text()}")
            time.sleep(0.02)

    def stop(self, timeout=10.0):
        """SIGTERM, wait; returns the exit code and raises unless it is 0."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise EmulatorError(f"{self.script} ignored SIGTERM for {timeout}s: {self.log_text()}") from None
        if proc.returncode != 0:
            raise EmulatorError(f"{self.script} exited with {proc.returncode}: {self.log_text()}")
        return proc.returncode

    def cleanup(self):
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
            else:
                try:
                    self.stop()
                except EmulatorError:
                    pass  # the test's own failure is the one to report
        finally:
            self.cleanup()

    # ---- addresses and plain requests ---------------------------------------------------------------

    @property
    def address(self):
        """host:port, as CONSUL_HTTP_ADDR wants it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def endpoint(self):
        """http://host:port, as AWS_EC2_METADATA_SERVICE_ENDPOINT wants it."""
        return f"http://{self.address}"

    def connection(self, timeout=5):
        """A fresh http.client connection (keep-alive: reuse it for several requests)."""
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=5, conn=None):
        """One request; on a fresh connection unless `conn` is given. Returns an Answer."""
        own = conn is None
        conn = conn or self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Answer(resp.status, resp.headers, resp.read())
        finally:
            if own:
                conn.close()

    # ---- control API --------------------------------------------------------------------------------

    def control(self, method, name, body=None, raw=False):
        data = body if raw or body is None else json.dumps(body).encode()
        answer = self.request(method, f"/_emulator/{name}", body=data)
        if answer.status != 200:
            raise EmulatorError(f"{method} /_emulator/{name}: {answer.status} {answer.text.strip()}")
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            return answer.json()
        return answer.body

    def set_faults(self, spec=None, **settings):
        """POST /_emulator/faults: settings and/or shorthands (fail_next=2, delay_ms=300, ...)."""
        return self.control("POST", "faults", dict(spec or {}, **settings))

    def faults(self):
        return self.control("GET", "faults")

    def reset_faults(self):
        """Back to the faults and settings the emulator was started with."""
        return self.control("DELETE", "faults")

    def stats(self):
        return self.control("GET", "stats")

    def reset_stats(self):
        self.control("DELETE", "stats")


class Imds(Emulator):
    """The IMDS emulator; `data` is the metadata tree file (the Cortex node by default)."""

    script = "imds.py"

    def __init__(self, *extra_args, data=CORTEX_NODE, **kwargs):
        super().__init__(data, *extra_args, **kwargs)

    def token(self, ttl=21600):
        answer = self.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        if answer.status != 200:
            raise EmulatorError(f"token PUT answered {answer.status}")
        return answer.text

    def get(self, path, token=None, conn=None, method="GET"):
        """GET (or HEAD) a metadata path such as "meta-data/instance-id" or "/latest/user-data"."""
        if not path.startswith("/"):
            path = "/latest/" + path
        headers = {"X-aws-ec2-metadata-token": token} if token is not None else {}
        return self.request(method, path, headers=headers, conn=conn)

    def expire_tokens(self):
        return self.control("POST", "tokens/expire")["expired"]

    def set_user_data(self, data):
        self.control("PUT", "user-data", data if isinstance(data, bytes) else data.encode(), raw=True)

    def clear_user_data(self):
        self.control("DELETE", "user-data")

    def set_tree(self, tree):
        """Replace the whole metadata tree (same JSON format as the data file)."""
        self.control("PUT", "tree", tree)


class Consul(Emulator):
    """The Consul agent API emulator; ACL tokens may be given as lists."""

    script = "consul.py"

    def __init__(self, *extra_args, acl_tokens=(), acl_read_tokens=(), start_delay=None, **kwargs):
        args = list(extra_args)
        for token in acl_tokens:
            args += ["--acl-token", token]
        for token in acl_read_tokens:
            args += ["--acl-read-token", token]
        if start_delay:
            args += ["--start-delay", str(start_delay)]
            kwargs.setdefault("wait", False)
        super().__init__(*args, **kwargs)

    def state(self):
        return self.control("GET", "state")

    def reset_state(self):
        self.control("DELETE", "state")

    def services(self):
        return self.state()["services"]

    def checks(self):
        return self.state()["checks"]


def port_refuses(host, port, timeout=1.0):
    """True when a TCP connect to host:port is refused (nothing listening)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
