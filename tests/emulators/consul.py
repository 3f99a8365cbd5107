#!/usr/bin/python3
"""Consul agent HTTP API emulator for kiln's integration tests.

Why: kiln registers services with the local Consul agent at boot and
deregisters them at shutdown; its tests must see exactly what kiln sent (body,
token, query) and how kiln copes with a refusing, slow, throttling or not yet
started agent, without running Consul.  The reference
(/work/shared/reference/consul.md) fixes the behaviour emulated here; README.md
in this directory documents the endpoints, flags and the control API.

Shape: registration decoding mimics the agent's own order: decode the JSON
(CamelCase, snake_case and any letter case accepted, unknown keys ignored but
reported in the state dump), then "Missing service name", address, weights,
meta and check validation, then the ACL decision, then the change.  Error
texts are the agent's plain-text ones.  All state (services, checks, KV, the
registration log) sits behind one lock and is dumped at /_emulator/state.

Deviation from the agent, on purpose: a DeregisterCriticalServiceAfter below
1m is clamped to 1m with a warning recorded in the state (as Consul does, it
logs a warning); --strict-deregister makes it a 400 instead so a test can
prove kiln never sends one.
"""

import base64
import http
import json
import re
import sys
import threading
import uuid

import emulib
from emulib import Response

KV_MAX_VALUE = 512 * 1024
MIN_DEREGISTER_NS = 60 * 10**9
TEXT = "text/plain; charset=utf-8"
META_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
INTERVAL_ERROR = "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
STATUS_ERROR = "Status for checks must 'passing', 'warning', 'critical'"
CHECK_STATUSES = ("passing", "warning", "critical")

# Field name -> expected JSON type, per struct.  Keys are matched case-insensitively
# and with underscores ignored (snake_case), as the agent's decoder does.
SERVICE_FIELDS = {
    "Kind": "string", "ID": "string", "Name": "string", "Tags": "strings", "Address": "string",
    "TaggedAddresses": "object", "Meta": "meta", "Port": "int", "SocketPath": "string", "Weights": "weights",
    "EnableTagOverride": "bool", "Check": "check", "Checks": "checks", "Token": "string", "Proxy": "object",
    "Connect": "object", "Locality": "object", "Namespace": "string", "Partition": "string",
}
CHECK_FIELDS = {
    "CheckID": "string", "Name": "string", "Notes": "string", "Status": "string", "ServiceID": "string",
    "Args": "strings", "HTTP": "string", "Method": "string", "Header": "header", "Body": "string",
    "DisableRedirects": "bool", "TCP": "string", "TCPUseTLS": "bool", "UDP": "string", "GRPC": "string",
    "GRPCUseTLS": "bool", "H2PING": "string", "H2PingUseTLS": "bool", "OSService": "string",
    "AliasNode": "string", "AliasService": "string", "DockerContainerID": "string", "Shell": "string",
    "TLSServerName": "string", "TLSSkipVerify": "bool", "Interval": "duration", "Timeout": "duration",
    "TTL": "duration", "DeregisterCriticalServiceAfter": "duration", "SuccessBeforePassing": "int",
    "FailuresBeforeWarning": "int", "FailuresBeforeCritical": "int", "OutputMaxSize": "int",
}
CHECK_ALIASES = {"scriptargs": "Args", "id": "CheckID"}
GO_TYPES = {"string": "string", "strings": "[]string", "int": "int", "bool": "bool", "meta": "map[string]string",
            "header": "map[string][]string", "object": "struct", "weights": "structs.Weights",
            "check": "structs.CheckType", "checks": "structs.CheckTypes", "duration": "time.Duration"}
INTERVAL_KINDS = ("Args", "HTTP", "TCP", "UDP", "GRPC", "H2PING", "OSService")

DURATION_UNITS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9,
                  "m": 60 * 10**9, "h": 3600 * 10**9}
DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)([^\d.]*)")


class BadRequest(Exception):
    """A 400 answer; the message is the agent's plain-text body."""


class Denied(Exception):
    """A 403 answer (ACL)."""


def parse_go_duration(text):
    """Go's time.ParseDuration, returning nanoseconds; errors carry Go's wording."""
    orig, s, sign = text, text, 1
    if s[:1] in ("+", "-"):
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total, pos = 0, 0
    while pos < len(s):
        m = DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f'time: invalid duration "{orig}"')
        unit = m.group(2)
        if not unit:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        if unit not in DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        total += float(m.group(1)) * DURATION_UNITS[unit]
        pos = m.end()
    return sign * int(round(total))


def format_go_duration(ns):
    """Go's Duration.String(): 10s, 1m30s, 1h0m0s, 1.5s, 500ms."""
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)

    def trim(value):
        return ("%.9f" % value).rstrip("0").rstrip(".")
    if ns < 10**3:
        return f"{sign}{ns}ns"
    if ns < 10**6:
        return f"{sign}{trim(ns / 10**3)}\u00b5s"
    if ns < 10**9:
        return f"{sign}{trim(ns / 10**6)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = trim(rest / 10**9) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def json_kind(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def decode_error(value, struct, field, kind):
    # Go names the literal only when a number does not fit the integer field.
    fraction = kind == "int" and json_kind(value) == "number" and int(value) != value
    shown = f"number {value}" if fraction else json_kind(value)
    return BadRequest(f"Request decode failed: json: cannot unmarshal {shown} into Go struct field "
                      f"{struct}.{field} of type {GO_TYPES[kind]}")


def canonical_keys(obj, fields, aliases, where, ignored):
    """Map request keys to the struct's field names; unknown keys land in `ignored`."""
    lookup = {name.lower(): name for name in fields}
    out = {}
    for key, value in obj.items():
        folded = key.lower().replace("_", "")
        name = aliases.get(folded) or lookup.get(folded)
        if name is None:
            ignored.append(f"{where}{key}")
        elif value is not None:
            out[name] = value
    return out


class Decoder:
    """Decodes one registration body into typed fields (the agent's decodeBody step)."""

    def __init__(self):
        self.ignored = []
        self.warnings = []

    def service(self, body):
        if not body.strip():
            raise BadRequest("Request decode failed: EOF")
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadRequest(f"Request decode failed: {e}") from None
        if not isinstance(raw, dict):
            raise BadRequest(f"Request decode failed: json: cannot unmarshal {json_kind(raw)} "
                             "into Go value of type structs.ServiceDefinition")
        fields = canonical_keys(raw, SERVICE_FIELDS, {}, "", self.ignored)
        return {name: self.typed(value, "ServiceDefinition", name, SERVICE_FIELDS[name])
                for name, value in fields.items()}

    def check(self, raw, where):
        if not isinstance(raw, dict):
            raise decode_error(raw, "ServiceDefinition", where.rstrip("."), "check")
        fields = canonical_keys(raw, CHECK_FIELDS, CHECK_ALIASES, where, self.ignored)
        typed = {name: self.typed(value, "CheckType", name, CHECK_FIELDS[name]) for name, value in fields.items()}
        return {name: value for name, value in typed.items() if value is not None}

    def typed(self, value, struct, field, kind):
        checker = getattr(self, "type_" + kind)
        return checker(value, struct, field, kind)

    def type_string(self, value, struct, field, kind):
        if not isinstance(value, str):
            raise decode_error(value, struct, field, kind)
        return value

    def type_bool(self, value, struct, field, kind):
        if not isinstance(value, bool):
            raise decode_error(value, struct, field, kind)
        return value

    def type_int(self, value, struct, field, kind):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise decode_error(value, struct, field, kind)
        return int(value)

    def type_strings(self, value, struct, field, kind):
        if not isinstance(value, list):
            raise decode_error(value, struct, field, kind)
        return [self.type_string(v, struct, field, "string") for v in value]

    def type_object(self, value, struct, field, kind):
        if not isinstance(value, dict):
            raise decode_error(value, struct, field, kind)
        return value

    def type_meta(self, value, struct, field, kind):
        self.type_object(value, struct, field, kind)
        return {k: self.type_string(v, struct, field, "string") for k, v in value.items()}

    def type_header(self, value, struct, field, kind):
        self.type_object(value, struct, field, kind)
        return {k: self.type_strings(v, struct, field, "strings") for k, v in value.items()}

    def type_weights(self, value, struct, field, kind):
        self.type_object(value, struct, field, kind)
        out = {"Passing": 1, "Warning": 1}
        for key, v in value.items():
            name = {"passing": "Passing", "warning": "Warning"}.get(key.lower())
            if name:
                out[name] = self.type_int(v, "Weights", name, "int")
        return out

    def type_check(self, value, struct, field, kind):
        return self.check(value, "Check.")

    def type_checks(self, value, struct, field, kind):
        if not isinstance(value, list):
            raise decode_error(value, struct, field, kind)
        return [self.check(v, f"Checks[{i}].") for i, v in enumerate(value)]

    def type_duration(self, value, struct, field, kind):
        if isinstance(value, str):
            try:
                return parse_go_duration(value)
            except ValueError as e:
                raise BadRequest(f"Request decode failed: {e}") from None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
        # The agent's decoder silently skips other types; say so in the state dump.
        self.warnings.append(f"{field}: {json_kind(value)} value ignored (expected a duration string)")
        return None


def validate_meta(meta):
    if len(meta) > 64:
        raise BadRequest("Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs")
    for key, value in meta.items():
        problem = None
        if not key:
            problem = "Key cannot be blank"
        elif not META_KEY.match(key):
            problem = "Key contains invalid characters"
        elif len(key) > 128:
            problem = "Key is too long (limit: 128 characters)"
        elif key.startswith("consul-"):
            problem = "Key prefix 'consul-' is reserved for internal use"
        elif len(value) > 512:
            problem = "Value is too long (limit: 512 characters)"
        if problem:
            raise BadRequest(f"Invalid Service Meta: Couldn't load metadata pair ('{key}', '{value}'): {problem}")


def validate_check(check):
    """The agent's CheckType.Validate(), same order and wording."""
    interval, ttl = check.get("Interval") or 0, check.get("TTL") or 0
    interval_kind = any(check.get(k) for k in INTERVAL_KINDS)
    alias = bool(check.get("AliasNode") or check.get("AliasService"))
    if interval > 0 and ttl > 0:
        return "Interval and TTL cannot both be specified"
    if interval_kind and interval <= 0:
        return INTERVAL_ERROR
    if interval_kind and alias:
        return "Interval cannot be set for Alias checks"
    if alias and ttl > 0:
        return "TTL must be not be set for Alias checks"
    if not interval_kind and not alias and ttl <= 0:
        return "TTL must be > 0 for TTL checks"
    return None


def check_type(check):
    for field, name in (("Args", "script"), ("HTTP", "http"), ("TCP", "tcp"), ("UDP", "udp"), ("GRPC", "grpc"),
                        ("H2PING", "h2ping"), ("OSService", "os_service"), ("TTL", "ttl")):
        if check.get(field):
            return name
    return "alias"


class ConsulHandler(emulib.EmulatorHandler):
    server_header = None

    def error_response(self, req, status):
        self.server.request_token(req)  # a faulted request's log entry still shows its token
        bodies = {429: "rate limit exceeded", 500: "rpc error making call: No cluster leader"}
        return Response(status, bodies.get(status, http.HTTPStatus(status).phrase), TEXT)

    def route(self, req):
        resp = self.server.route(req)
        acl = "deny" if self.server.faults.get("acl_enabled") else "allow"
        resp.headers.append(("X-Consul-Default-Acl-Policy", acl))
        return resp


class ConsulServer(emulib.EmulatorServer):
    SCHEMA = {
        "acl_enabled": (emulib.check_bool, False),
        "acl_tokens": (emulib.check_string_list, []),
        "acl_read_tokens": (emulib.check_string_list, []),
        "leader": (emulib.check_string, "127.0.0.1:8300"),
        "strict_deregister": (emulib.check_bool, False),
    }

    def __init__(self, address, identity, verbose=False):
        super().__init__(address, ConsulHandler, emulib.FaultSet(self.SCHEMA), verbose)
        self.identity = identity
        self.lock = threading.Lock()
        self.reset_state()
        self.routes = [
            ("/v1/agent/service/register", ("PUT",), self.register),
            ("/v1/agent/service/deregister/", ("PUT",), self.deregister),
            ("/v1/agent/service/", ("GET",), self.service_config),
            ("/v1/agent/services", ("GET",), self.services),
            ("/v1/agent/checks", ("GET",), self.checks),
            ("/v1/agent/self", ("GET",), self.agent_self),
            ("/v1/agent/reload", ("PUT",), self.reload),
            ("/v1/status/leader", ("GET",), self.leader),
            ("/v1/status/peers", ("GET",), self.peers),
            ("/v1/kv/", ("GET", "PUT", "DELETE"), self.kv),
        ]

    def reset_state(self):
        with self.lock:
            self.services_by_id = {}
            self.checks_by_id = {}
            self.kv_store = {}
            self.registrations = []
            self.deregistrations = []
            self.warnings = []
            self.reloads = 0
            self.index = 1

    # ---- routing, ACL ------------------------------------------------------------------------------

    def route(self, req):
        for prefix, methods, handler in self.routes:
            exact = not prefix.endswith("/")
            if (exact and req.path != prefix) or (not exact and not req.path.startswith(prefix)):
                continue
            if req.method not in methods:
                return Response(405, f"method {req.method} not allowed", TEXT, [("Allow", ", ".join(methods))])
            token = self.request_token(req)
            try:
                return handler(req, token, req.path[len(prefix):])
            except BadRequest as e:
                return Response(400, str(e), TEXT)
            except Denied as e:
                return Response(403, str(e), TEXT)
        return Response(404, "404 page not found\n", TEXT)

    @staticmethod
    def request_token(req):
        """The token as the agent reads it: X-Consul-Token, Authorization: Bearer, then ?token=."""
        token, source = req.headers.get("X-Consul-Token"), "X-Consul-Token"
        if token is None:
            auth = req.headers.get("Authorization", "")
            if auth[:7].lower() == "bearer ":
                token, source = auth[7:].strip(), "Authorization"
        if token is None and "token" in req.query:
            token, source = req.query["token"][0], "query"
        if token is None:
            source = None
        req.log_extra.update(token=token, token_source=source)
        return token or None

    def authorize(self, token, permission, resource):
        """Raise Denied unless `token` may use `permission` ('service:write', ...) on `resource`."""
        if not self.faults.get("acl_enabled"):
            return
        if token is None:
            raise Denied(f"Permission denied: anonymous token lacks permission '{permission}' on \"{resource}\"")
        if token in self.faults.get("acl_tokens"):
            return
        if token in self.faults.get("acl_read_tokens"):
            if permission.endswith(":read"):
                return
            accessor = uuid.uuid5(uuid.NAMESPACE_OID, token)
            raise Denied(f"Permission denied: token with AccessorID '{accessor}' lacks permission "
                         f"'{permission}' on \"{resource}\"")
        raise Denied("ACL not found")

    def resolve(self, token):
        """The agent resolves the token first: an unknown one fails before any validation."""
        if self.faults.get("acl_enabled") and token is not None and not self.known_token(token):
            raise Denied("ACL not found")

    def known_token(self, token):
        return token in self.faults.get("acl_tokens") or token in self.faults.get("acl_read_tokens")

    def may_list(self, token):
        """List endpoints filter instead of refusing an anonymous caller (unknown tokens still fail)."""
        if token is None and self.faults.get("acl_enabled"):
            return False
        self.authorize(token, "service:read", "")
        return True

    def json_answer(self, req, obj, headers=()):
        pretty = "pretty" in req.query
        text = json.dumps(obj, indent=4 if pretty else None, separators=None if pretty else (",", ":"))
        headers = list(headers) + [("X-Consul-Index", str(self.index))]
        return Response(200, text + ("\n" if pretty else ""), "application/json", headers)

    # ---- service registration ----------------------------------------------------------------------

    def register(self, req, token, rest):
        if rest:
            return Response(404, "404 page not found\n", TEXT)
        decoder = Decoder()
        svc = decoder.service(req.body)
        if not svc.get("Name"):
            raise BadRequest("Missing service name")
        if svc.get("Address") in ("0.0.0.0", "::", "[::]"):
            raise BadRequest("Invalid service address")
        self.resolve(token)
        weights = svc.get("Weights")
        if weights and weights["Passing"] < 1:
            raise BadRequest("Invalid Weights: Passing must be greater than 0")
        if weights and weights["Warning"] < 0:
            raise BadRequest("Invalid Weights: Warning must be greater or equal than 0")
        validate_meta(svc.get("Meta", {}))
        checks = self.service_checks(svc, decoder)
        self.authorize(token, "service:write", svc["Name"])
        replace = req.query.get("replace-existing-checks", [None])[0] in ("", "true")
        self.store_service(svc, checks, replace, decoder, token)
        return Response(200, b"", TEXT)

    def service_checks(self, svc, decoder):
        checks = []
        single = svc.get("Check")
        if single:  # an empty Check object is skipped, as by the agent
            checks.append(single)
        checks += svc.get("Checks", [])
        for check in checks:
            problem = validate_check(check)
            if problem:
                raise BadRequest(f"Invalid check: {problem}")
            if check.get("Status") and check["Status"] not in CHECK_STATUSES:
                raise BadRequest(STATUS_ERROR)
            self.check_deregister_minimum(check, decoder)
        return checks

    def check_deregister_minimum(self, check, decoder):
        value = check.get("DeregisterCriticalServiceAfter")
        if not value or value >= MIN_DEREGISTER_NS:
            return
        if self.faults.get("strict_deregister"):
            raise BadRequest("Invalid check: DeregisterCriticalServiceAfter must be at least 1m0s "
                             "(emulator --strict-deregister)")
        decoder.warnings.append(f"check has deregister interval below minimum: "
                                f"{format_go_duration(value)} raised to 1m0s")
        check["DeregisterCriticalServiceAfter"] = MIN_DEREGISTER_NS

    def store_service(self, svc, checks, replace, decoder, token):
        sid = svc.get("ID") or svc["Name"]
        record = {"ID": sid, "Service": svc["Name"], "Tags": svc.get("Tags", []), "Meta": svc.get("Meta", {}),
                  "Port": svc.get("Port", 0), "Address": svc.get("Address", ""),
                  "Weights": svc.get("Weights", {"Passing": 1, "Warning": 1}),
                  "EnableTagOverride": svc.get("EnableTagOverride", False),
                  "Datacenter": self.identity["datacenter"]}
        for optional in ("Kind", "TaggedAddresses"):
            if optional in svc:
                record[optional] = svc[optional]
        with self.lock:
            self.index += 1
            self.services_by_id[sid] = record
            new_ids = self.store_checks(record, checks)
            if replace:
                for cid in [c for c, v in self.checks_by_id.items() if v["ServiceID"] == sid and c not in new_ids]:
                    del self.checks_by_id[cid]
            self.warnings += [f"{sid}: {w}" for w in decoder.warnings]
            self.registrations.append({"id": sid, "token": token, "replace_existing_checks": replace,
                                       "definition": self.describe(svc), "ignored_keys": decoder.ignored,
                                       "warnings": decoder.warnings})

    def store_checks(self, svc, checks):
        ids = []
        for i, check in enumerate(checks):
            cid = check.get("CheckID") or f"service:{svc['ID']}" + (f":{i + 1}" if len(checks) > 1 else "")
            self.checks_by_id[cid] = self.check_record(svc, cid, check)
            ids.append(cid)
        return ids

    def check_record(self, svc, cid, check):
        durations = {k: format_go_duration(v) for k, v in check.items() if CHECK_FIELDS[k] == "duration"}
        definition = {k: v for k, v in check.items() if CHECK_FIELDS[k] != "duration"}
        definition.update(durations)
        return {"Node": self.identity["node_name"], "CheckID": cid,
                "Name": check.get("Name") or f"Service '{svc['Service']}' check",
                "Status": check.get("Status") or "critical", "Notes": check.get("Notes", ""), "Output": "",
                "ServiceID": svc["ID"], "ServiceName": svc["Service"], "ServiceTags": svc["Tags"],
                "Type": check_type(check), "Interval": durations.get("Interval", ""),
                "Timeout": durations.get("Timeout", ""), "ExposedPort": 0, "Definition": definition,
                "CreateIndex": self.index, "ModifyIndex": self.index}

    @staticmethod
    def describe(svc):
        """The decoded definition with durations in Go's notation, for the state dump."""
        def plain(check):
            return {k: (format_go_duration(v) if CHECK_FIELDS[k] == "duration" else v) for k, v in check.items()}
        out = {k: v for k, v in svc.items() if k not in ("Check", "Checks")}
        if "Check" in svc:
            out["Check"] = plain(svc["Check"])
        if "Checks" in svc:
            out["Checks"] = [plain(c) for c in svc["Checks"]]
        return out

    def deregister(self, req, token, sid):
        self.authorize(token, "service:write", sid)
        with self.lock:
            self.index += 1
            self.deregistrations.append({"id": sid, "token": token, "existed": sid in self.services_by_id})
            self.services_by_id.pop(sid, None)
            for cid in [c for c, v in self.checks_by_id.items() if v["ServiceID"] == sid]:
                del self.checks_by_id[cid]
        return Response(200, b"", TEXT)

    # ---- reads -------------------------------------------------------------------------------------

    def services(self, req, token, rest):
        if not self.may_list(token):
            return self.json_answer(req, {}, [("X-Consul-Results-Filtered-By-Acls", "true")])
        with self.lock:
            return self.json_answer(req, self.services_by_id)

    def service_config(self, req, token, sid):
        with self.lock:
            svc = self.services_by_id.get(sid)
        if svc is None:
            return Response(404, f"unknown service ID: {sid}", TEXT)
        self.authorize(token, "service:read", svc["Service"])
        return self.json_answer(req, svc)

    def checks(self, req, token, rest):
        if not self.may_list(token):
            return self.json_answer(req, {}, [("X-Consul-Results-Filtered-By-Acls", "true")])
        with self.lock:
            return self.json_answer(req, self.checks_by_id)

    def agent_self(self, req, token, rest):
        ident = self.identity
        self.authorize(token, "agent:read", ident["node_name"])
        config = {"Datacenter": ident["datacenter"], "PrimaryDatacenter": ident["datacenter"],
                  "NodeName": ident["node_name"], "NodeID": ident["node_id"], "Revision": "kiln-emulator",
                  "Server": False, "Version": ident["version"], "BuildDate": "2026-01-01T00:00:00Z"}
        member = {"Name": ident["node_name"], "Addr": ident["advertise_addr"], "Port": 8301,
                  "Tags": {"dc": ident["datacenter"], "id": ident["node_id"], "role": "node",
                           "build": ident["version"], "vsn": "2", "vsn_min": "2", "vsn_max": "3", "segment": ""},
                  "Status": 1, "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
                  "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4}
        return self.json_answer(req, {"Config": config, "DebugConfig": {}, "Coord": None, "Member": member,
                                      "Stats": {}, "Meta": {"consul-network-segment": ""}})

    def reload(self, req, token, rest):
        self.authorize(token, "agent:write", self.identity["node_name"])
        with self.lock:
            self.reloads += 1
        return Response(200, b"", TEXT)

    def leader(self, req, token, rest):
        return self.json_answer(req, self.faults.get("leader"))

    def peers(self, req, token, rest):
        leader = self.faults.get("leader")
        return self.json_answer(req, [leader] if leader else [])

    # ---- KV ----------------------------------------------------------------------------------------

    def kv(self, req, token, key):
        recurse = "recurse" in req.query or "keys" in req.query
        if not key and not recurse:
            raise BadRequest("Missing key name")
        permission = "key:read" if req.method == "GET" else "key:write"
        self.authorize(token, permission, key)
        if req.method == "GET":
            return self.kv_get(req, key, recurse)
        if req.method == "PUT":
            return self.kv_put(req, key)
        return self.kv_delete(req, key, recurse)

    def kv_get(self, req, key, recurse):
        with self.lock:
            if recurse:
                entries = [e for k, e in sorted(self.kv_store.items()) if k.startswith(key)]
            else:
                entries = [self.kv_store[key]] if key in self.kv_store else []
            entries = [dict(e) for e in entries]
        if not entries:
            return Response(404, b"", TEXT, [("X-Consul-Index", str(self.index))])
        if "keys" in req.query:
            return self.json_answer(req, [e["Key"] for e in entries])
        if "raw" in req.query:
            value = base64.b64decode(entries[0]["Value"] or "")
            return Response(200, value, "application/octet-stream", [("X-Consul-Index", str(self.index))])
        return self.json_answer(req, entries)

    def kv_put(self, req, key):
        if len(req.body) > KV_MAX_VALUE:
            return Response(413, f"Request body({len(req.body)} bytes) too large, max size: {KV_MAX_VALUE} bytes. "
                                 "See https://developer.hashicorp.com/docs/agent/config/config-files"
                                 "#kv_max_value_size.", TEXT)
        flags = self.int_query(req, "flags", 0)
        cas = self.int_query(req, "cas", None)
        with self.lock:
            old = self.kv_store.get(key)
            if cas is not None and (old["ModifyIndex"] if old else 0) != cas:
                return self.json_answer(req, False)
            self.index += 1
            self.kv_store[key] = {"LockIndex": 0, "Key": key, "Flags": flags,
                                  "Value": base64.b64encode(req.body).decode() if req.body else None,
                                  "CreateIndex": old["CreateIndex"] if old else self.index,
                                  "ModifyIndex": self.index}
        return self.json_answer(req, True)

    def kv_delete(self, req, key, recurse):
        with self.lock:
            doomed = [k for k in self.kv_store if k.startswith(key)] if recurse else [key]
            for k in doomed:
                self.kv_store.pop(k, None)
            self.index += 1
        return self.json_answer(req, True)

    @staticmethod
    def int_query(req, name, default):
        if name not in req.query:
            return default
        raw = req.query[name][0]
        if not raw.isdigit():
            raise BadRequest(f"Invalid {name} value: {raw!r}")
        return int(raw)

    # ---- control API -------------------------------------------------------------------------------

    def control_extra(self, name, req):
        if name != "state":
            return None
        if req.method == "DELETE":
            self.reset_state()
            self.stats.reset()
            return Response(200, "reset\n")
        with self.lock:
            state = {"services": self.services_by_id, "checks": self.checks_by_id,
                     "kv": {k: dict(e, DecodedValue=base64.b64decode(e["Value"] or "").decode("utf-8", "replace"))
                            for k, e in self.kv_store.items()},
                     "registrations": self.registrations, "deregistrations": self.deregistrations,
                     "warnings": self.warnings, "reloads": self.reloads, "index": self.index}
            state = json.loads(json.dumps(state))
        state["stats"] = self.stats.snapshot()
        state["faults"] = self.faults.snapshot()
        return emulib.json_response(state)


def parse_args(argv):
    parser = emulib.new_parser(__doc__)
    parser.add_argument("--datacenter", default="dc1")
    parser.add_argument("--node-name", default="kiln-test-node")
    parser.add_argument("--node-id", default="2f0a7c1e-6a55-4b8e-9d3c-0b5f1e7a9c42")
    parser.add_argument("--version", default="1.17.3", help="Consul version reported by /v1/agent/self")
    parser.add_argument("--advertise-addr", default="127.0.0.1", help="Member.Addr in /v1/agent/self")
    parser.add_argument("--leader", default="127.0.0.1:8300", help="/v1/status/leader answer (\"\" = no leader)")
    parser.add_argument("--acl-token", action="append", default=[], metavar="TOKEN",
                        help="accepted token with full rights (repeatable); enables ACLs")
    parser.add_argument("--acl-read-token", action="append", default=[], metavar="TOKEN",
                        help="accepted token with read rights only (repeatable); enables ACLs")
    parser.add_argument("--acl-enabled", action="store_true", help="enable ACLs (implied by the two above)")
    parser.add_argument("--strict-deregister", action="store_true",
                        help="answer 400 for DeregisterCriticalServiceAfter below 1m instead of clamping it")
    emulib.add_common_arguments(parser)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    identity = {"datacenter": args.datacenter, "node_name": args.node_name, "node_id": args.node_id,
                "version": args.version, "advertise_addr": args.advertise_addr}
    server = ConsulServer((args.host, args.port), identity, args.verbose)
    settings = {"acl_enabled": bool(args.acl_enabled or args.acl_token or args.acl_read_token),
                "acl_tokens": args.acl_token, "acl_read_tokens": args.acl_read_token,
                "leader": args.leader, "strict_deregister": args.strict_deregister}
    try:
        emulib.apply_startup_faults(server, args, settings)
    except (emulib.FaultError, OSError) as e:
        return emulib.fail_usage("consul.py", str(e))
    return emulib.main_loop(server, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
