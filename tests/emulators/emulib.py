"""Shared machinery of kiln's test emulators (IMDS and the Consul agent API).

Why this file exists: both emulators must behave the same way towards a test
in everything that is not the emulated protocol itself: how they pick and
publish their port, how they keep HTTP/1.1 connections alive (kiln's libcurl
client reuses one connection), how faults are injected (command-line flags
and a control API under /_emulator/, a path neither real service uses), how
requests are counted and logged, and how they stop on SIGTERM.  Keeping that
here means a fault behaves identically in both, and each emulator file holds
only its protocol.

Shape:
  FaultSet   the switchable settings plus a list of fault rules.  A rule is
         {action, count, path, method, status, delay_ms}; `count` None
         means "for ever".  Actions: status (answer with that status),
         drop (close without answering), truncate (declare the full
         Content-Length, send half the body, close), delay (wait, then
         answer normally).
  Stats      counters and a bounded request log; `connections` counts the
             distinct connections that carried a logged (non-control)
             request since the last reset, so keep-alive reuse shows as 1.
  Response   what a protocol handler returns; the base handler sends it.
  EmulatorHandler  the HTTP/1.1 request handler: reads the body (plain or
         chunked), routes /_emulator/* to the control API, applies
         faults, calls the protocol's `route()`, records stats.
  main_loop  binds, publishes the port, optionally waits before listen()
         (a bound socket that does not listen refuses connections,
         which is exactly what a not-yet-started agent looks like),
         serves until SIGTERM/SIGINT, exits 0.

Standard library only: these run under Debian's /usr/bin/python3 on a bare
CI machine.
"""

import argparse
import fnmatch
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

CONTROL_PREFIX = "/_emulator"
LOG_LIMIT = 10000
RULE_ACTIONS = ("status", "drop", "truncate", "delay")
RULE_KEYS = {"action", "count", "path", "method", "status", "delay_ms"}


class FaultError(ValueError):
    """A fault update that cannot be applied; the message names the key."""


def _check_count(key, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultError(f"{key}: expected a non-negative integer or null, got {value!r}")
    return value


def make_rule(spec, where="rules[]"):
    """Validate one rule given as a dict; return the normalised rule."""
    if not isinstance(spec, dict):
        raise FaultError(f"{where}: expected an object, got {spec!r}")
    unknown = set(spec) - RULE_KEYS
    if unknown:
        raise FaultError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    action = spec.get("action")
    if action not in RULE_ACTIONS:
        raise FaultError(f"{where}.action: expected one of {', '.join(RULE_ACTIONS)}, got {action!r}")
    rule = {
        "action": action,
        "count": _check_count(f"{where}.count", spec.get("count", 1)),
        "path": spec.get("path", "*"),
        "method": spec.get("method"),
    }
    if not isinstance(rule["path"], str):
        raise FaultError(f"{where}.path: expected a glob string")
    if rule["method"] is not None and not isinstance(rule["method"], str):
        raise FaultError(f"{where}.method: expected a string")
    if action == "status":
        status = spec.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultError(f"{where}.status: expected an HTTP error status 400..599, got {status!r}")
        rule["status"] = status
    if action == "delay":
        delay = spec.get("delay_ms")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
            raise FaultError(f"{where}.delay_ms: expected a non-negative number, got {delay!r}")
        rule["delay_ms"] = delay
    return rule


class FaultSet:
    """Settings (typed, per emulator) and fault rules, guarded by one lock.

    `schema` maps a setting name to (checker, default).  A checker takes
    (key, value) and returns the normalised value or raises FaultError.
    Besides settings and `rules`, an update accepts shorthands that append
    one rule each: fail_next (+fail_status, default 500), throttle_next
    (429), drop_next, truncate_next, delay_ms (+delay_path, delay_count),
    all optionally restricted by fault_path (a glob).
    """

    SHORTHANDS = {"fail_next", "fail_status", "throttle_next", "drop_next", "truncate_next",
                  "delay_ms", "delay_path", "delay_count", "fault_path"}

    def __init__(self, schema):
        self.lock = threading.Lock()
        self.schema = schema
        self.settings = {k: default for k, (_, default) in schema.items()}
        self.rules = []
        self.initial = None

    def freeze_initial(self):
        """Remember the current state as the one DELETE /_emulator/faults restores."""
        with self.lock:
            self.initial = (dict(self.settings), [dict(r) for r in self.rules])

    def reset(self):
        with self.lock:
            settings, rules = self.initial
            self.settings = dict(settings)
            self.rules = [dict(r) for r in rules]

    def update(self, spec):
        """Apply a JSON update atomically: everything is validated first."""
        if not isinstance(spec, dict):
            raise FaultError("expected a JSON object")
        new_settings = {}
        new_rules = []
        for key, value in spec.items():
            if key in self.schema:
                new_settings[key] = self.schema[key][0](key, value)
            elif key == "rules":
                if not isinstance(value, list):
                    raise FaultError("rules: expected a list")
                new_rules += [make_rule(r, f"rules[{i}]") for i, r in enumerate(value)]
            elif key not in self.SHORTHANDS:
                raise FaultError(f"unknown fault key {key!r}")
        new_rules += self._shorthand_rules(spec)
        with self.lock:
            self.settings.update(new_settings)
            self.rules += new_rules

    @staticmethod
    def _shorthand_rules(spec):
        path = spec.get("fault_path", "*")
        status = spec.get("fail_status", 500)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultError(f"fail_status: expected an HTTP error status 400..599, got {status!r}")
        rules = []
        simple = (("throttle_next", {"action": "status", "status": 429}),
                  ("fail_next", {"action": "status", "status": spec.get("fail_status", 500)}),
                  ("drop_next", {"action": "drop"}),
                  ("truncate_next", {"action": "truncate"}))
        for key, base in simple:
            if key in spec:
                count = _check_count(key, spec[key])
                if count:
                    rules.append(make_rule(dict(base, count=count, path=path), key))
        if "delay_ms" in spec:
            rules.append(make_rule({"action": "delay", "delay_ms": spec["delay_ms"],
                                    "path": spec.get("delay_path", "*"),
                                    "count": spec.get("delay_count")}, "delay_ms"))
        return rules

    def get(self, key):
        with self.lock:
            return self.settings[key]

    def snapshot(self):
        with self.lock:
            return {"settings": dict(self.settings), "rules": [dict(r) for r in self.rules]}

    def take(self, method, path):
        """Consume the faults for one request: (delay seconds, terminal rule or None)."""
        with self.lock:
            delay_rule = self._consume(method, path, lambda r: r["action"] == "delay")
            action_rule = self._consume(method, path, lambda r: r["action"] != "delay")
        delay = delay_rule["delay_ms"] / 1000.0 if delay_rule else 0.0
        return delay, action_rule

    def _consume(self, method, path, wanted):
        for rule in self.rules:
            if not wanted(rule) or not fnmatch.fnmatchcase(path, rule["path"]):
                continue
            if rule["method"] and rule["method"].upper() != method:
                continue
            fired = dict(rule)
            if rule["count"] is not None:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self.rules.remove(rule)
            return fired
        return None


def check_bool(key, value):
    if not isinstance(value, bool):
        raise FaultError(f"{key}: expected true or false, got {value!r}")
    return value


def check_seconds_or_null(key, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise FaultError(f"{key}: expected a positive number of seconds or null, got {value!r}")
    return value


def check_string(key, value):
    if not isinstance(value, str):
        raise FaultError(f"{key}: expected a string, got {value!r}")
    return value


def check_string_list(key, value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FaultError(f"{key}: expected a list of strings, got {value!r}")
    return list(value)


class Stats:
    """Request counters and a bounded log of every non-control request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.reset()

    def reset(self):
        with self.lock:
            self.seq = 0
            self.counters = {"requests": 0, "bytes_in": 0, "bytes_out": 0, "connections": 0,
                             "by_path": {}, "by_method": {}, "by_status": {}, "by_fault": {}}
            self.log = []
            self.conn_ids = set()

    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            entry["time"] = round(time.monotonic() - self.started, 6)
            c = self.counters
            c["requests"] += 1
            c["bytes_in"] += entry["bytes_in"]
            c["bytes_out"] += entry["bytes_out"]
            self.conn_ids.add(entry["conn"])
            c["connections"] = len(self.conn_ids)
            for name, key in (("by_path", entry["path"]), ("by_method", entry["method"]),
                              ("by_status", str(entry["status"]))):
                c[name][key] = c[name].get(key, 0) + 1
            if entry.get("fault"):
                c["by_fault"][entry["fault"]] = c["by_fault"].get(entry["fault"], 0) + 1
            self.log.append(entry)
            if len(self.log) > LOG_LIMIT:
                del self.log[0]

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(dict(self.counters, log=self.log)))


class Response:
    """An HTTP answer: status, body bytes, content type, extra headers."""

    def __init__(self, status, body=b"", content_type="text/plain", headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode()
        self.content_type = content_type
        self.headers = list(headers or [])


def json_response(obj, status=200):
    return Response(status, json.dumps(obj, indent=2) + "\n", "application/json")


class Request:
    """The parts of a request a protocol handler needs."""

    def __init__(self, method, raw_path, headers, body, conn_id):
        # Not urlsplit(): it would read "//latest/..." as a host name.
        path, _, query = raw_path.partition("?")
        self.method = method
        self.path = unquote(path.partition("#")[0]) or "/"
        self.raw_query = query
        self.query = parse_qs(query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.conn_id = conn_id
        self.log_extra = {}


class EmulatorHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler; subclasses implement route() and error_response()."""

    protocol_version = "HTTP/1.1"
    server_header = None
    # Head and body go out in two writes; without TCP_NODELAY the body waits
    # for the client's delayed ACK (~40 ms per keep-alive request).
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_header or ""

    def send_response(self, code, message=None):
        # Same as the base class, but a None server_header sends no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        if self.server_header:
            self.send_header("Server", self.server_header)
        self.send_header("Date", self.date_time_string())

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def setup(self):
        super().setup()
        with self.server.conn_lock:
            self.server.conn_seq += 1
            self.conn_id = self.server.conn_seq

    def __getattr__(self, name):
        # Every method (even unknown ones) goes through one dispatcher, so the
        # protocol decides between 405 and anything else.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            n = -1
        if n < 0:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n)

    def _read_chunked(self):
        chunks = []
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def dispatch(self):
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            self.send_error(400, "Bad request body")
            return
        req = Request(self.command, self.path, self.headers, body, self.conn_id)
        try:
            if req.path == CONTROL_PREFIX or req.path.startswith(CONTROL_PREFIX + "/"):
                self._send(req, self.server.control(req), record=False)
                return
            self._serve_with_faults(req)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _serve_with_faults(self, req):
        delay, rule = self.server.faults.take(req.method, req.path)
        fault = rule["action"] if rule else ("delay" if delay else None)
        if delay:
            time.sleep(delay)
        if rule and rule["action"] == "drop":
            self.close_connection = True
            self._record(req, "drop", 0, fault)
            return
        if rule and rule["action"] == "status":
            resp = self.error_response(req, rule["status"])
        else:
            resp = self.route(req)
        if rule and rule["action"] == "truncate":
            self._send_truncated(req, resp)
            return
        self._send(req, resp, record=True, fault=fault)

    def _write_head(self, resp, length):
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(length))
        for name, value in resp.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    # Requests are recorded before the answer goes out: once a client has its
    # answer, the stats a test reads next already include that request.
    def _send(self, req, resp, record, fault=None):
        body = b"" if req.method == "HEAD" else resp.body
        if record:
            self._record(req, resp.status, len(body), fault)
        self._write_head(resp, len(resp.body))
        self.wfile.write(body)
        self.wfile.flush()

    def _send_truncated(self, req, resp):
        sent = resp.body[:len(resp.body) // 2]
        declared = max(len(resp.body), len(sent) + 1)
        self._record(req, resp.status, len(sent), "truncate")
        self._write_head(resp, declared)  # no "Connection: close": the client must expect the rest
        self.wfile.write(sent)
        self.wfile.flush()
        self.close_connection = True

    def _record(self, req, status, bytes_out, fault):
        entry = {"conn": req.conn_id, "method": req.method, "path": req.path, "query": req.raw_query,
                 "status": status, "bytes_in": len(req.body), "bytes_out": bytes_out, "fault": fault}
        entry.update(req.log_extra)
        self.server.stats.record(entry)

    # Protocol hooks.
    def route(self, req):
        raise NotImplementedError

    def error_response(self, req, status):
        raise NotImplementedError


class EmulatorServer(ThreadingHTTPServer):
    """Threaded server holding the shared state: faults, stats, control API."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, faults, verbose=False):
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(address, handler, bind_and_activate=False)
        self.faults = faults
        self.stats = Stats()
        self.verbose = verbose
        self.conn_lock = threading.Lock()
        self.conn_seq = 0

    def control(self, req):
        """The control API shared by both emulators; subclasses extend control_extra()."""
        name = req.path[len(CONTROL_PREFIX):].strip("/")
        try:
            resp = self.control_common(name, req)
            if resp is None:
                resp = self.control_extra(name, req)
        except FaultError as e:
            return Response(400, f"{e}\n")
        if resp is None:
            return Response(404, f"unknown control path {req.path}\n")
        return resp

    def control_common(self, name, req):
        if name == "health":
            return Response(200, "ok\n")
        if name == "stats":
            if req.method == "DELETE":
                self.stats.reset()
                return Response(200, "reset\n")
            return json_response(self.stats.snapshot())
        if name == "faults":
            if req.method == "DELETE":
                self.faults.reset()
            elif req.method in ("POST", "PUT"):
                self.faults.update(parse_json_body(req.body))
            return json_response(self.faults.snapshot())
        return None

    def control_extra(self, name, req):
        return None


def parse_json_body(body):
    try:
        return json.loads(body.decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FaultError(f"request body is not JSON: {e}") from None


def add_common_arguments(parser):
    """Command-line options every emulator shares (listening, publishing, faults)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--port-file", help="write the chosen port here (atomically) once bound")
    parser.add_argument("--start-delay", type=float, default=0.0, metavar="SECONDS",
                        help="bind at once but accept connections only after SECONDS "
                             "(until then connections are refused)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit (status 0) when the parent process goes away, so a killed test run "
                             "leaves no emulator behind")
    parser.add_argument("--fail-next", type=int, default=0, metavar="N",
                        help="the next N requests answer --fail-status")
    parser.add_argument("--fail-status", type=int, default=500, help="status for --fail-next (default 500)")
    parser.add_argument("--throttle-next", type=int, default=0, metavar="N", help="the next N requests answer 429")
    parser.add_argument("--drop-next", type=int, default=0, metavar="N",
                        help="the next N requests get their connection closed without an answer")
    parser.add_argument("--truncate-next", type=int, default=0, metavar="N",
                        help="the next N answers are cut short after their headers promised more")
    parser.add_argument("--fault-path", default="*", metavar="GLOB",
                        help="restrict the four options above to request paths matching GLOB")
    parser.add_argument("--delay-ms", type=float, metavar="MS", help="answer slowly, after MS milliseconds")
    parser.add_argument("--delay-path", default="*", metavar="GLOB", help="restrict --delay-ms to matching paths")
    parser.add_argument("--faults", metavar="JSON|@FILE",
                        help="a fault update in the control API's JSON form, inline or @file")


def faults_from_args(args):
    """Translate the common fault flags into one FaultSet update dict."""
    spec = {"fail_next": args.fail_next, "fail_status": args.fail_status, "throttle_next": args.throttle_next,
            "drop_next": args.drop_next, "truncate_next": args.truncate_next, "fault_path": args.fault_path}
    if args.delay_ms is not None:
        spec.update(delay_ms=args.delay_ms, delay_path=args.delay_path)
    return spec


def load_faults_arg(text):
    if text is None:
        return {}
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as f:
            text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FaultError(f"--faults: not JSON: {e}") from None


def apply_startup_faults(server, args, extra):
    """Apply flag faults and the emulator's own settings, then --faults over them; freeze as initial state."""
    server.faults.update(faults_from_args(args))
    server.faults.update(extra)
    server.faults.update(load_faults_arg(args.faults))
    server.faults.freeze_initial()


def publish_port(port, port_file):
    if port_file:
        tmp = f"{port_file}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{port}\n")
        os.rename(tmp, port_file)
    print(port, flush=True)


def wait_unless_stopped(stop, seconds, parent):
    """Sleep `seconds`; True when stopped early (signal, or the parent went away)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stop.wait(min(0.5, max(0.0, deadline - time.monotonic()))):
            return True
        if parent and os.getppid() != parent:
            return True
    return False


def main_loop(server, args):
    """Bind, publish the port, (maybe) wait, listen, serve until SIGTERM/SIGINT. Returns exit code."""
    stop = threading.Event()
    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server.server_bind()
    except OSError as e:
        return fail_usage(os.path.basename(sys.argv[0]), f"cannot bind {args.host}:{args.port}: {e.strerror}")
    port = server.server_address[1]
    if args.start_delay > 0:
        publish_port(port, args.port_file)
        if wait_unless_stopped(stop, args.start_delay, args.exit_with_parent and parent):
            server.server_close()
            return 0
        server.server_activate()
    else:
        server.server_activate()
        publish_port(port, args.port_file)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    while not stop.wait(0.5):
        if args.exit_with_parent and os.getppid() != parent:
            break
    server.shutdown()
    server.server_close()
    return 0


def fail_usage(prog, message):
    sys.stderr.write(f"{prog}: {message}\n")
    return 2


def new_parser(description):
    return argparse.ArgumentParser(description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
