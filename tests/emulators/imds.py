#!/usr/bin/python3
"""EC2 instance metadata service (IMDS) emulator for kiln's integration tests.

Why: kiln's datasource must be proven against the behaviour of the real
service (docs: /work/shared/reference/imds.md) including its failure modes,
without an EC2 instance.  This serves a metadata tree loaded from a JSON file
with IMDSv2 session tokens, and lets a test switch faults on and off while it
runs (README.md in this directory documents the file format, the flags and
the control API under /_emulator/).

Shape: the JSON file is turned once into a tree of Listing and Leaf nodes, so
a request is a walk down that tree; everything that can change at run time
(settings, faults, user-data, tokens) lives beside the tree and is consulted
per request.  The HTTP, fault and stats machinery is shared with the Consul
emulator in emulib.py.

Behaviour (as the reference says):
  PUT /latest/api/token + X-aws-ec2-metadata-token-ttl-seconds: 1..21600
      -> 200 token body; missing/invalid TTL 400; versioned path 403;
      X-Forwarded-For present 403 (the real service refuses proxied PUTs).
  GET/HEAD with X-aws-ec2-metadata-token; a token that is sent but invalid or
      expired -> 401 even when IMDSv1 is allowed; no token -> 401 only when
      tokens are required (the default).
  Other methods 405; absent items 404; disabled endpoint 403 for everything.
  Listings are LF-separated, sub-trees end in '/', public-keys/ lists 0=name.
  user-data is served byte for byte as application/octet-stream.
"""

import base64
import fnmatch
import http
import json
import os
import secrets
import sys
import threading
import time

import emulib
from emulib import Response

MAX_USER_DATA = 16384
TOKEN_TTL_MIN, TOKEN_TTL_MAX = 1, 21600
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"

# Versions the root listing advertises; each serves the same tree.
VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
            "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25", "2014-11-05",
            "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24",
            "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23", "2021-07-15", "2022-09-24", "latest")

# Paths whose value, when given as a JSON object, is a JSON document and not a listing.
JSON_DOCUMENT_PATHS = ("dynamic/instance-identity/document", "meta-data/iam/info",
                       "meta-data/iam/security-credentials/*", "meta-data/identity-credentials/ec2/info",
                       "meta-data/identity-credentials/ec2/security-credentials/*")
TOP_LEVEL_KEYS = ("meta-data", "dynamic", "user-data")

ERROR_PAGE = """<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
         "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>{code} - {phrase}</title>
 </head>
 <body>
  <h1>{code} - {phrase}</h1>
 </body>
</html>
"""


class TreeError(ValueError):
    """A metadata file that cannot be served; the message names the key path."""


class Leaf:
    def __init__(self, data, content_type="text/plain"):
        self.data = data
        self.content_type = content_type


class Listing:
    """A sub-tree; `children` keeps the file's order, which is the listing order."""

    def __init__(self, children):
        self.children = children

    def names(self, hidden=()):
        return [name + ("/" if isinstance(node, Listing) else "")
                for name, node in self.children.items() if name not in hidden]

    def child(self, name):
        return self.children.get(name)


class PublicKeys(Listing):
    """public-keys/: listed as `0=name`, reached as public-keys/0/openssh-key."""

    def __init__(self, keys):
        super().__init__({str(i): Listing({"openssh-key": Leaf(key.encode())}) for i, key in enumerate(keys.values())})
        self.key_names = list(keys)

    def names(self, hidden=()):
        return [f"{i}={name}" for i, name in enumerate(self.key_names)]


def json_document(value):
    # The real service pretty-prints its JSON documents with " : " separators.
    return Leaf((json.dumps(value, indent=2, separators=(",", " : ")) + "\n").encode())


def directive_bytes(value, where, base_dir):
    """Decode {"$base64": ...} or {"$file": ...}; None when `value` is no such directive."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (key, arg), = value.items()
    if key == "$base64":
        try:
            return base64.b64decode(arg, validate=True)
        except (ValueError, TypeError) as e:
            raise TreeError(f"{where}: $base64: invalid base64 ({e})") from None
    if key == "$file":
        if not isinstance(arg, str):
            raise TreeError(f"{where}: $file: expected a path string")
        try:
            with open(os.path.join(base_dir, arg), "rb") as f:
                return f.read()
        except OSError as e:
            raise TreeError(f"{where}: $file: {e}") from None
    return None


def build_node(value, path, base_dir):
    """Turn one JSON value at `path` (a list of names) into a node; None means absent."""
    where = "/".join(path)
    if value is None:
        return None
    data = directive_bytes(value, where, base_dir)
    if data is not None:
        return Leaf(data)
    if isinstance(value, dict):
        return build_dict(value, path, base_dir)
    if isinstance(value, bool):
        return Leaf(b"true" if value else b"false")
    if isinstance(value, (str, int, float)):
        return Leaf(str(value).encode())
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return Leaf("\n".join(str(v) for v in value).encode())
    raise TreeError(f"{where}: expected an object, a string, a number, a boolean or a list of strings, got {value!r}")


def build_dict(value, path, base_dir):
    where = "/".join(path)
    if set(value) == {"$json"}:
        return json_document(value["$json"])
    directives = [k for k in value if k.startswith("$")]
    if directives:
        raise TreeError(f"{where}: unknown directive {directives[0]!r} (expected $json, $base64 or $file alone)")
    if any(fnmatch.fnmatchcase(where, pattern) for pattern in JSON_DOCUMENT_PATHS):
        return json_document(value)
    if where == "meta-data/public-keys":
        if not all(isinstance(k, str) for k in value.values()):
            raise TreeError(f"{where}: expected an object mapping key names to OpenSSH public keys")
        return PublicKeys(value)
    children = {}
    for name, sub in value.items():
        if not name or "/" in name or name in (".", ".."):
            raise TreeError(f"{where}: invalid item name {name!r}")
        node = build_node(sub, path + [name], base_dir)
        if node is not None:
            children[name] = node
    return Listing(children)


def build_user_data(value, base_dir):
    if value is None:
        return None
    data = directive_bytes(value, "user-data", base_dir)
    if data is None:
        if not isinstance(value, str):
            raise TreeError("user-data: expected a string, {\"$base64\": ...} or {\"$file\": ...}")
        data = value.encode()
    return check_user_data(data)


def check_user_data(data):
    if len(data) > MAX_USER_DATA:
        raise TreeError(f"user-data: {len(data)} bytes exceed the {MAX_USER_DATA}-byte limit of EC2")
    return data


def build_tree(doc, base_dir):
    """The whole file: returns (Listing of meta-data/dynamic, user-data bytes or None)."""
    if not isinstance(doc, dict):
        raise TreeError("top level: expected an object with meta-data, dynamic and user-data")
    for key in doc:
        if key not in TOP_LEVEL_KEYS and key != "$comment":
            raise TreeError(f"top level: unknown key {key!r} (expected {', '.join(TOP_LEVEL_KEYS)})")
    children = {}
    for key in ("meta-data", "dynamic"):
        if doc.get(key) is not None:
            if not isinstance(doc[key], dict):
                raise TreeError(f"{key}: expected an object")
            children[key] = build_node(doc[key], [key], base_dir)
    return Listing(children), build_user_data(doc.get("user-data"), base_dir)


def load_tree_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise TreeError(f"{path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise TreeError(f"{path}:{e.lineno}:{e.colno}: {e.msg}") from None
    try:
        return build_tree(doc, os.path.dirname(os.path.abspath(path)))
    except TreeError as e:
        raise TreeError(f"{path}: {e}") from None


class Tokens:
    """Issued session tokens and their expiry (monotonic clock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}
        self.issued = 0

    def issue(self, ttl, cap):
        lifetime = min(ttl, cap) if cap else ttl
        token = base64.b64encode(secrets.token_bytes(42)).decode()
        now = time.monotonic()
        with self.lock:
            self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now - 3600}
            self.tokens[token] = now + lifetime
            self.issued += 1
        return token

    def check(self, token):
        """'valid', 'expired' or 'invalid', and the seconds left."""
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None:
            return "invalid", 0
        left = expires - time.monotonic()
        return ("valid", left) if left > 0 else ("expired", 0)

    def expire_all(self):
        now = time.monotonic()
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = min(self.tokens[token], now)
            return len(self.tokens)


class ImdsHandler(emulib.EmulatorHandler):
    server_header = "EC2ws"

    def error_response(self, req, status):
        phrase = http.HTTPStatus(status).phrase
        return Response(status, ERROR_PAGE.format(code=status, phrase=phrase), "text/html")

    def route(self, req):
        srv = self.server
        if srv.faults.get("disabled"):
            return self.error_response(req, 403)
        segments = req.path.split("/")[1:]
        if req.path == "/":
            return self.read(req, lambda: Response(200, "\n".join(VERSIONS)))
        if segments[0] not in VERSIONS:
            return self.error_response(req, 404)
        if [s for s in segments[1:] if s] == ["api", "token"]:
            return self.token(req, segments[0])
        return self.read(req, lambda: self.lookup([s for s in segments[1:] if s]))

    def method_not_allowed(self, req, allow):
        resp = self.error_response(req, 405)
        resp.headers.append(("Allow", allow))
        return resp

    def token(self, req, version):
        if req.method != "PUT":
            return self.method_not_allowed(req, "PUT")
        if version != "latest" or "X-Forwarded-For" in req.headers:
            return self.error_response(req, 403)
        raw = req.headers.get(TTL_HEADER)
        req.log_extra["ttl"] = raw
        if raw is None or not raw.strip().isdigit() or not TOKEN_TTL_MIN <= int(raw) <= TOKEN_TTL_MAX:
            return self.error_response(req, 400)
        ttl = int(raw)
        token = self.server.tokens.issue(ttl, self.server.faults.get("token_ttl_cap"))
        req.log_extra["token"] = "issued"
        return Response(200, token, headers=[(TTL_HEADER, str(ttl))])

    def read(self, req, answer):
        """Common gate of every read: method, then token, then the answer itself."""
        if req.method not in ("GET", "HEAD"):
            return self.method_not_allowed(req, "GET, HEAD")
        token = req.headers.get(TOKEN_HEADER)
        if token is None:
            req.log_extra["token"] = "missing" if self.server.faults.get("tokens_required") else "none"
            if self.server.faults.get("tokens_required"):
                return self.error_response(req, 401)
            return answer()
        state, left = self.server.tokens.check(token)
        req.log_extra["token"] = state
        if state != "valid":
            return self.error_response(req, 401)
        resp = answer()
        resp.headers.append((TTL_HEADER, str(max(1, int(left)))))
        return resp

    def lookup(self, names):
        srv = self.server
        if names == ["user-data"]:
            data = srv.user_data if srv.faults.get("user_data") else None
            if data is None:
                return self.error_response(None, 404)
            return Response(200, data, "application/octet-stream")
        hidden = () if srv.faults.get("tags") else ("tags",)
        if names[:2] == ["meta-data", "tags"] and hidden:
            return self.error_response(None, 404)
        node = srv.tree
        for name in names:
            node = node.child(name) if isinstance(node, Listing) else None
            if node is None:
                return self.error_response(None, 404)
        if isinstance(node, Leaf):
            return Response(200, node.data, node.content_type)
        if not names:
            return Response(200, "\n".join(self.top_names()))
        return Response(200, "\n".join(node.names(hidden if names == ["meta-data"] else ())))

    def top_names(self):
        # /latest/ lists its three parts without trailing slashes, like the real service.
        srv = self.server
        names = sorted(srv.tree.children)
        if srv.user_data is not None and srv.faults.get("user_data"):
            names.append("user-data")
        return names


class ImdsServer(emulib.EmulatorServer):
    SCHEMA = {
        "tokens_required": (emulib.check_bool, True),
        "token_ttl_cap": (emulib.check_seconds_or_null, None),
        "disabled": (emulib.check_bool, False),
        "user_data": (emulib.check_bool, True),
        "tags": (emulib.check_bool, True),
    }

    def __init__(self, address, tree, user_data, base_dir, verbose=False):
        super().__init__(address, ImdsHandler, emulib.FaultSet(self.SCHEMA), verbose)
        self.tree = tree
        self.user_data = user_data
        self.base_dir = base_dir
        self.tokens = Tokens()

    def control_extra(self, name, req):
        if name == "tokens/expire" and req.method in ("POST", "PUT"):
            return emulib.json_response({"expired": self.tokens.expire_all()})
        if name == "tokens":
            return emulib.json_response({"issued": self.tokens.issued})
        if name == "user-data":
            return self.control_user_data(req)
        if name == "tree" and req.method in ("POST", "PUT"):
            return self.control_tree(req)
        return None

    def control_user_data(self, req):
        if req.method == "DELETE":
            self.user_data = None
        elif req.method in ("POST", "PUT"):
            try:
                self.user_data = check_user_data(req.body)
            except TreeError as e:
                return Response(400, f"{e}\n")
        elif self.user_data is None:
            return Response(404, "no user-data\n")
        else:
            return Response(200, self.user_data, "application/octet-stream")
        return Response(200, "ok\n")

    def control_tree(self, req):
        try:
            tree, user_data = build_tree(emulib.parse_json_body(req.body), self.base_dir)
        except (TreeError, emulib.FaultError) as e:
            return Response(400, f"{e}\n")
        self.tree, self.user_data = tree, user_data
        return Response(200, "ok\n")


def parse_args(argv):
    parser = emulib.new_parser(__doc__)
    parser.add_argument("data", help="metadata tree (JSON; format in README.md)")
    parser.add_argument("--tokens", choices=("required", "optional"), default="required",
                        help="IMDSv2 only (required, the default) or also IMDSv1 (optional)")
    parser.add_argument("--token-ttl-cap", type=float, metavar="SECONDS",
                        help="tokens expire after at most SECONDS, whatever TTL was asked for")
    parser.add_argument("--disabled", action="store_true", help="answer 403 to everything (HttpEndpoint=disabled)")
    parser.add_argument("--no-user-data", action="store_true", help="answer 404 for user-data")
    parser.add_argument("--no-tags", action="store_true", help="metadata tags disabled: tags/ answers 404")
    parser.add_argument("--user-data-file", help="serve this file's bytes as user-data instead of the tree's")
    emulib.add_common_arguments(parser)
    return parser.parse_args(argv)


def startup_settings(args):
    return {"tokens_required": args.tokens == "required", "token_ttl_cap": args.token_ttl_cap,
            "disabled": args.disabled, "user_data": not args.no_user_data, "tags": not args.no_tags}


def main(argv):
    args = parse_args(argv)
    try:
        tree, user_data = load_tree_file(args.data)
        if args.user_data_file:
            with open(args.user_data_file, "rb") as f:
                user_data = check_user_data(f.read())
        server = ImdsServer((args.host, args.port), tree, user_data,
                            os.path.dirname(os.path.abspath(args.data)), args.verbose)
        emulib.apply_startup_faults(server, args, startup_settings(args))
    except (TreeError, emulib.FaultError, OSError) as e:
        return emulib.fail_usage("imds.py", str(e))
    return emulib.main_loop(server, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
