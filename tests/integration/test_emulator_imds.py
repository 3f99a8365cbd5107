"""Tests of the IMDS emulator itself: every behaviour and fault the reference asks for.

Why: kiln's datasource tests trust the emulator to behave like IMDS; these
tests are what earns that trust (token rules, listings, 401/403/404/405,
user-data bytes, tags, and each fault), plus the plumbing kiln relies on:
keep-alive, concurrency, port publishing and a clean SIGTERM exit.
"""

import gzip
import http.client
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulators"))
from harness import CORTEX_NODE, DATA_DIR, EmulatorError, Imds  # noqa: E402

TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"
EMULATOR = os.path.join(os.path.dirname(CORTEX_NODE), "..", "imds.py")


@pytest.fixture
def imds():
    with Imds() as emulator:
        yield emulator


@pytest.fixture
def token(imds):
    return imds.token()


def put_token(imds, ttl="60", path="/latest/api/token", headers=None):
    hdrs = {} if ttl is None else {TTL: ttl}
    hdrs.update(headers or {})
    return imds.request("PUT", path, headers=hdrs)


def user_data_bytes():
    with open(os.path.join(DATA_DIR, "cortex-node.user-data"), "rb") as f:
        return f.read()


# ---- session tokens ------------------------------------------------------------------------------

def test_token_put_returns_token_and_ttl(imds):
    answer = put_token(imds, "21600")
    assert answer.status == 200
    assert len(answer.text) >= 40 and "\n" not in answer.text
    assert answer.headers[TTL] == "21600"
    assert imds.stats()["by_method"] == {"PUT": 1}


@pytest.mark.parametrize("ttl", [None, "", "0", "21601", "-1", "abc", "1.5"])
def test_token_put_with_bad_ttl_is_400(imds, ttl):
    assert put_token(imds, ttl).status == 400


@pytest.mark.parametrize("ttl", ["1", "21600"])
def test_token_ttl_bounds_are_accepted(imds, ttl):
    assert put_token(imds, ttl).status == 200


def test_token_put_on_versioned_path_is_403(imds):
    assert put_token(imds, path="/2021-03-23/api/token").status == 403


def test_token_put_through_a_proxy_is_403(imds):
    assert put_token(imds, headers={"X-Forwarded-For": "10.0.0.1"}).status == 403


def test_token_path_accepts_only_put(imds):
    assert imds.request("GET", "/latest/api/token").status == 405
    assert imds.request("POST", "/latest/api/token", headers={TTL: "60"}).status == 405


def test_read_without_token_is_401_when_required(imds, token):
    answer = imds.get("meta-data/instance-id")
    assert answer.status == 401
    assert answer.headers["Content-Type"] == "text/html"
    assert imds.get("meta-data/instance-id", token).text == "i-0123456789abcdef0"


def test_valid_token_read_reports_remaining_ttl(imds):
    token = imds.token(ttl=120)
    answer = imds.get("meta-data/instance-id", token)
    assert 0 < int(answer.headers[TTL]) <= 120


def test_invalid_token_is_401_even_when_v1_is_allowed():
    with Imds("--tokens", "optional") as imds:
        assert imds.get("meta-data/instance-id").text == "i-0123456789abcdef0"
        assert imds.get("meta-data/instance-id", token="not-a-token").status == 401
        assert imds.get("meta-data/instance-id", token="").status == 401
        log = imds.stats()["log"]
        assert [e["token"] for e in log] == ["none", "invalid", "invalid"]


def test_tokens_required_can_be_switched_at_run_time(imds):
    assert imds.get("meta-data/instance-id").status == 401
    imds.set_faults(tokens_required=False)
    assert imds.get("meta-data/instance-id").status == 200
    imds.reset_faults()
    assert imds.get("meta-data/instance-id").status == 401


def test_token_ttl_cap_makes_tokens_expire():
    with Imds("--token-ttl-cap", "0.3") as imds:
        token = imds.token(ttl=21600)
        assert imds.get("meta-data/instance-id", token).status == 200
        time.sleep(0.5)
        assert imds.get("meta-data/instance-id", token).status == 401
        assert imds.stats()["log"][-1]["token"] == "expired"
        assert imds.get("meta-data/instance-id", imds.token()).status == 200


def test_token_ttl_cap_at_run_time_and_expire_all(imds):
    old = imds.token()
    imds.set_faults(token_ttl_cap=0.2)
    short = imds.token()
    time.sleep(0.4)
    assert imds.get("meta-data/instance-id", old).status == 200
    assert imds.get("meta-data/instance-id", short).status == 401
    assert imds.expire_tokens() >= 1
    assert imds.get("meta-data/instance-id", old).status == 401


def test_token_ttl_shorter_than_asked_expires(imds):
    token = imds.token(ttl=1)
    time.sleep(1.2)
    assert imds.get("meta-data/instance-id", token).status == 401


# ---- tree, listings, items -----------------------------------------------------------------------

def test_root_lists_versions_and_latest_lists_parts(imds, token):
    versions = imds.get("/", token).text.split("\n")
    assert "latest" in versions and "2021-03-23" in versions
    assert imds.get("/latest/", token).text == "dynamic\nmeta-data\nuser-data"
    assert imds.get("/latest", token).text == "dynamic\nmeta-data\nuser-data"


def test_versioned_paths_serve_the_tree(imds, token):
    assert imds.get("/2021-03-23/meta-data/instance-id", token).text == "i-0123456789abcdef0"
    assert imds.get("/1999-01-01/meta-data/instance-id", token).status == 404


def test_meta_data_listing(imds, token):
    answer = imds.get("meta-data/", token)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/plain"
    names = answer.text.split("\n")
    assert not answer.text.endswith("\n")
    for leaf in ("ami-id", "instance-id", "instance-type", "local-ipv4", "local-hostname", "hostname", "mac"):
        assert leaf in names
    for tree in ("placement/", "network/", "block-device-mapping/", "public-keys/", "iam/", "tags/"):
        assert tree in names
    assert imds.get("meta-data", token).text == answer.text


def test_leaves_of_the_cortex_node(imds, token):
    expect = {
        "meta-data/ami-id": "ami-0c1a7f89451184c8b",
        "meta-data/instance-type": "m6i.large",
        "meta-data/local-ipv4": "10.0.1.23",
        "meta-data/local-hostname": "ip-10-0-1-23.eu-west-1.compute.internal",
        "meta-data/mac": "0a:1b:2c:3d:4e:5f",
        "meta-data/placement/availability-zone": "eu-west-1a",
        "meta-data/placement/availability-zone-id": "euw1-az3",
        "meta-data/placement/region": "eu-west-1",
        "meta-data/block-device-mapping/ebs1": "sdf",
        "meta-data/block-device-mapping/root": "/dev/xvda",
        "meta-data/network/interfaces/macs/0a:1b:2c:3d:4e:5f/device-number": "0",
        "meta-data/network/interfaces/macs/0a:1b:2c:3d:4e:5f/subnet-id": "subnet-0a1b2c3d4e5f60718",
        "meta-data/network/interfaces/macs/0a:1b:2c:3d:4e:5f/vpc-ipv4-cidr-block": "10.0.0.0/16",
        "meta-data/security-groups": "cortex-node\nconsul-client",
    }
    for path, value in expect.items():
        assert imds.get(path, token).text == value, path


def test_sub_tree_listings(imds, token):
    assert imds.get("meta-data/block-device-mapping/", token).text == "ami\nebs1\nroot"
    assert imds.get("meta-data/network/interfaces/macs/", token).text == "0a:1b:2c:3d:4e:5f/"
    assert imds.get("meta-data/placement", token).text == "availability-zone\navailability-zone-id\nregion"


def test_public_keys(imds, token):
    assert imds.get("meta-data/public-keys/", token).text == "0=kiln-ops"
    assert imds.get("meta-data/public-keys/0/", token).text == "openssh-key"
    key = imds.get("meta-data/public-keys/0/openssh-key", token).text
    assert key.startswith("ssh-ed25519 ") and key.endswith(" kiln-ops")
    assert imds.get("meta-data/public-keys/kiln-ops", token).status == 404


def test_absent_items_are_404_html(imds, token):
    for path in ("meta-data/nothing", "meta-data/placement/nothing", "meta-data/instance-id/deeper",
                 "nothing", "meta-data/public-keys/1/openssh-key"):
        answer = imds.get(path, token)
        assert answer.status == 404, path
        assert answer.headers["Content-Type"] == "text/html"
        assert b"404 - Not Found" in answer.body


def test_identity_document_and_credentials_are_json(imds, token):
    doc = imds.get("dynamic/instance-identity/document", token).json()
    assert doc["instanceId"] == "i-0123456789abcdef0"
    assert doc["region"] == "eu-west-1" and doc["accountId"] == "123456789012"
    for key in ("architecture", "availabilityZone", "imageId", "instanceType", "pendingTime", "privateIp",
                "version"):
        assert key in doc
    assert imds.get("dynamic/instance-identity/", token).text.split("\n")[0] == "document"
    assert imds.get("meta-data/iam/security-credentials/", token).text == "cortex-node"
    creds = imds.get("meta-data/iam/security-credentials/cortex-node", token).json()
    assert creds["Code"] == "Success" and creds["SecretAccessKey"]
    assert imds.get("meta-data/iam/info", token).json()["InstanceProfileArn"].endswith("cortex-node")


def test_head_sends_headers_only(imds, token):
    get = imds.get("meta-data/instance-id", token)
    conn = imds.connection()
    head = imds.get("meta-data/instance-id", token, conn=conn, method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(get.body))
    assert imds.get("meta-data/instance-id", token, conn=conn).text == "i-0123456789abcdef0"
    conn.close()


@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH", "PUT", "OPTIONS", "BREW"])
def test_other_methods_are_405(imds, token, method):
    answer = imds.request(method, "/latest/meta-data/instance-id", headers={TOKEN: token})
    assert answer.status == 405


# ---- user-data -----------------------------------------------------------------------------------

def test_user_data_is_byte_for_byte(imds, token):
    answer = imds.get("user-data", token)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.body == user_data_bytes()


def test_binary_user_data_round_trips(imds, token):
    payload = gzip.compress(bytes(range(256)) * 8 + b"\r\n\x00")
    imds.set_user_data(payload)
    assert imds.get("user-data", token).body == payload


def test_user_data_limit_is_16k(imds):
    with pytest.raises(EmulatorError, match="16384"):
        imds.set_user_data(b"x" * 16385)
    imds.set_user_data(b"x" * 16384)


def test_no_user_data_is_404(imds, token):
    imds.clear_user_data()
    assert imds.get("user-data", token).status == 404
    assert imds.get("/latest/", token).text == "dynamic\nmeta-data"


def test_user_data_fault_flag_and_toggle():
    with Imds("--no-user-data") as imds:
        token = imds.token()
        assert imds.get("user-data", token).status == 404
        imds.set_faults(user_data=True)
        assert imds.get("user-data", token).body == user_data_bytes()


def test_user_data_file_option(tmp_path):
    path = tmp_path / "ud.bin"
    path.write_bytes(b"#!/bin/sh\n\xff\xfe")
    with Imds("--user-data-file", str(path)) as imds:
        assert imds.get("user-data", imds.token()).body == b"#!/bin/sh\n\xff\xfe"


# ---- tags ----------------------------------------------------------------------------------------

def test_tags_served_when_enabled(imds, token):
    keys = imds.get("meta-data/tags/instance", token).text.split("\n")
    assert set(keys) == {"Name", "Role", "ConsulCluster", "Environment"}
    assert imds.get("meta-data/tags/instance/Role", token).text == "cortex"


def test_tags_disabled_are_404():
    with Imds("--no-tags") as imds:
        token = imds.token()
        assert imds.get("meta-data/tags/instance/Role", token).status == 404
        assert imds.get("meta-data/tags/", token).status == 404
        assert "tags/" not in imds.get("meta-data/", token).text.split("\n")
        imds.set_faults(tags=True)
        assert imds.get("meta-data/tags/instance/Role", token).text == "cortex"


# ---- whole endpoint disabled ---------------------------------------------------------------------

def test_disabled_endpoint_is_403_for_everything():
    with Imds("--disabled") as imds:
        assert put_token(imds).status == 403
        assert imds.get("meta-data/instance-id").status == 403
        assert imds.get("user-data", token="x").status == 403
        imds.set_faults(disabled=False)
        assert imds.get("meta-data/instance-id", imds.token()).status == 200


# ---- injected faults -----------------------------------------------------------------------------

def test_5xx_burst_then_recovery(imds, token):
    imds.set_faults(fail_next=3, fail_status=503)
    assert [imds.get("meta-data/instance-id", token).status for _ in range(4)] == [503, 503, 503, 200]
    assert imds.stats()["by_fault"] == {"status": 3}


def test_5xx_burst_from_command_line():
    with Imds("--fail-next", "2", "--fail-status", "500") as imds:
        assert put_token(imds).status == 500
        assert put_token(imds).status == 500
        assert put_token(imds).status == 200


def test_429_answers(imds, token):
    imds.set_faults(throttle_next=2)
    assert [imds.get("meta-data/instance-id", token).status for _ in range(3)] == [429, 429, 200]


def test_fault_path_restricts_the_burst(imds, token):
    imds.set_faults(fail_next=1, fail_status=500, fault_path="*/user-data")
    assert imds.get("meta-data/instance-id", token).status == 200
    assert imds.get("user-data", token).status == 500
    assert imds.get("user-data", token).status == 200


def test_slow_answers_per_path(imds, token):
    imds.set_faults(delay_ms=400, delay_path="/latest/user-data")
    start = time.monotonic()
    assert imds.get("meta-data/instance-id", token).status == 200
    fast = time.monotonic() - start
    start = time.monotonic()
    assert imds.get("user-data", token).status == 200
    slow = time.monotonic() - start
    assert slow >= 0.4 and fast < 0.3
    start = time.monotonic()
    imds.get("user-data", token)
    assert time.monotonic() - start >= 0.4, "a delay without count stays in force"


def test_slow_answer_makes_a_client_time_out(imds, token):
    imds.set_faults(delay_ms=1500, delay_path="*/instance-id", delay_count=1)
    conn = http.client.HTTPConnection(imds.host, imds.port, timeout=0.3)
    with pytest.raises(socket.timeout):
        conn.request("GET", "/latest/meta-data/instance-id", headers={TOKEN: token})
        conn.getresponse()
    conn.close()
    assert imds.get("meta-data/instance-id", token).status == 200


def test_dropped_connection(imds, token):
    imds.set_faults(drop_next=1)
    conn = imds.connection()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        imds.get("meta-data/instance-id", token, conn=conn)
    conn.close()
    assert imds.get("meta-data/instance-id", token).status == 200
    assert imds.stats()["by_fault"] == {"drop": 1}


def test_truncated_body(imds, token):
    imds.set_faults(truncate_next=1, fault_path="*/user-data")
    conn = imds.connection()
    conn.request("GET", "/latest/user-data", headers={TOKEN: token})
    resp = conn.getresponse()
    assert resp.status == 200
    assert int(resp.headers["Content-Length"]) == len(user_data_bytes())
    with pytest.raises(http.client.IncompleteRead):
        resp.read()
    conn.close()
    assert imds.get("user-data", token).body == user_data_bytes()


def test_truncated_token_answer(imds):
    imds.set_faults(truncate_next=1)
    conn = imds.connection()
    conn.request("PUT", "/latest/api/token", headers={TTL: "60"})
    with pytest.raises(http.client.IncompleteRead):
        conn.getresponse().read()
    conn.close()


def test_rules_with_method_and_forever_count(imds, token):
    imds.set_faults(rules=[{"action": "status", "status": 503, "count": None, "method": "PUT"}])
    assert put_token(imds).status == 503
    assert put_token(imds).status == 503
    assert imds.get("meta-data/instance-id", token).status == 200
    assert imds.faults()["rules"][0]["count"] is None
    imds.reset_faults()
    assert put_token(imds).status == 200


def test_bad_fault_updates_name_the_key(imds):
    for spec, word in (({"nonsense": 1}, "nonsense"), ({"fail_next": -1}, "fail_next"),
                       ({"tokens_required": "yes"}, "tokens_required"),
                       ({"rules": [{"action": "explode"}]}, "rules[0].action"),
                       ({"rules": [{"action": "status", "status": 200}]}, "rules[0].status")):
        with pytest.raises(EmulatorError, match=re.escape(word)):
            imds.set_faults(spec)
    assert imds.faults()["rules"] == []


def test_faults_from_json_option(tmp_path):
    spec = tmp_path / "faults.json"
    spec.write_text(json.dumps({"throttle_next": 1, "tags": False}))
    with Imds("--faults", f"@{spec}") as imds:
        assert put_token(imds).status == 429
        token = imds.token()
        assert imds.get("meta-data/tags/instance/Role", token).status == 404
    with Imds("--faults", json.dumps({"drop_next": 1})) as imds:
        with pytest.raises(http.client.RemoteDisconnected):
            put_token(imds)
        assert put_token(imds).status == 200


# ---- stats, keep-alive, concurrency --------------------------------------------------------------

def test_stats_count_and_reset(imds, token):
    imds.get("meta-data/instance-id", token)
    imds.get("meta-data/instance-id", token)
    imds.get("user-data", token)
    imds.get("meta-data/nothing", token)
    stats = imds.stats()
    assert stats["requests"] == 5
    assert stats["by_method"] == {"PUT": 1, "GET": 4}
    assert stats["by_path"]["/latest/meta-data/instance-id"] == 2
    assert stats["by_status"] == {"200": 4, "404": 1}
    assert stats["bytes_out"] >= len(user_data_bytes()) + 2 * len("i-0123456789abcdef0")
    assert [e["path"] for e in stats["log"]][-1] == "/latest/meta-data/nothing"
    assert "/_emulator/stats" not in stats["by_path"]
    imds.reset_stats()
    stats = imds.stats()
    assert stats["requests"] == 0 and stats["log"] == [] and stats["connections"] == 0


def test_keep_alive_serves_many_requests_on_one_connection(imds):
    imds.reset_stats()
    conn = imds.connection()
    conn.request("PUT", "/latest/api/token", headers={TTL: "60"})
    token = conn.getresponse().read().decode()
    for path in ("meta-data/instance-id", "meta-data/nothing", "user-data", "meta-data/"):
        imds.get(path, token, conn=conn)
    imds.get("meta-data/instance-id", token, conn=conn, method="HEAD")
    conn.request("POST", "/latest/meta-data/", body=b"ignored body", headers={TOKEN: token})
    assert conn.getresponse().read() and True
    assert imds.get("meta-data/instance-id", token, conn=conn).text == "i-0123456789abcdef0"
    conn.close()
    stats = imds.stats()
    assert {e["conn"] for e in stats["log"]} == {stats["log"][0]["conn"]}
    assert stats["connections"] == 1 and stats["requests"] == 8


def test_chunked_request_body_keeps_the_connection_in_step(imds):
    with socket.create_connection((imds.host, imds.port)) as sock:
        sock.sendall(b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n" + TTL.encode() + b": 60\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                     b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 1 and b"HTTP/1.1 401" in data


def test_concurrent_clients(imds, token):
    # One request is held for 3 s; twenty clients on their own keep-alive
    # connections must all be answered while it is still pending.
    imds.set_faults(delay_ms=3000, delay_path="*/user-data", delay_count=1)
    errors = []
    slow = threading.Thread(target=lambda: imds.get("user-data", token))
    slow.start()
    time.sleep(0.1)

    def worker():
        conn = imds.connection()
        try:
            for _ in range(10):
                if imds.get("meta-data/instance-id", token, conn=conn).text != "i-0123456789abcdef0":
                    errors.append("bad answer")
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))
        finally:
            conn.close()
    workers = [threading.Thread(target=worker) for _ in range(20)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert slow.is_alive(), "fast requests were held up by the slow one"
    slow.join()
    assert errors == []
    stats = imds.stats()
    assert stats["by_path"]["/latest/meta-data/instance-id"] == 200
    assert stats["connections"] == 22


# ---- tree file and control of the tree -----------------------------------------------------------

def test_tree_replaced_at_run_time(imds, token):
    imds.set_tree({"meta-data": {"instance-id": "i-new", "public-keys": {"a": "ssh-rsa AAA a", "b": "ssh-rsa B b"}},
                   "user-data": {"$base64": "aGVsbG8="}})
    assert imds.get("meta-data/instance-id", token).text == "i-new"
    assert imds.get("meta-data/public-keys", token).text == "0=a\n1=b"
    assert imds.get("meta-data/public-keys/1/openssh-key", token).text == "ssh-rsa B b"
    assert imds.get("user-data", token).body == b"hello"
    assert imds.get("/latest/", token).text == "meta-data\nuser-data"
    assert imds.get("dynamic/", token).status == 404


def test_json_directive_and_scalars(imds, token):
    imds.set_tree({"meta-data": {"n": 3, "yes": True, "doc": {"$json": {"a": [1, 2]}}, "none": None}})
    assert imds.get("meta-data/", token).text == "n\nyes\ndoc"
    assert imds.get("meta-data/n", token).text == "3"
    assert imds.get("meta-data/yes", token).text == "true"
    assert json.loads(imds.get("meta-data/doc", token).text) == {"a": [1, 2]}


def run_emulator(*args):
    return subprocess.run([sys.executable, EMULATOR, *args], capture_output=True, text=True, timeout=20)


def test_bad_tree_files_are_named_with_position(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "meta-data": {\n    "a": 1,\n  }\n}\n')
    result = run_emulator(str(broken))
    assert result.returncode == 2
    assert f"{broken}:4:3:" in result.stderr
    cases = (({"meta-data": {"placement": {"region": {"$nope": 1}}}}, "meta-data/placement/region"),
             ({"meta-data": {"x": [{"a": 1}]}}, "meta-data/x"),
             ({"metadata": {}}, "'metadata'"),
             ({"user-data": {"$base64": "!!"}}, "user-data: $base64"),
             ({"user-data": {"$file": "missing.txt"}}, "user-data: $file"))
    for doc, word in cases:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(doc))
        result = run_emulator(str(bad))
        assert result.returncode == 2, doc
        assert word in result.stderr, (doc, result.stderr)


def test_tree_errors_through_control_api(imds):
    with pytest.raises(EmulatorError, match="meta-data/a/b"):
        imds.set_tree({"meta-data": {"a": {"b": {"$x": 1}}}})


# ---- process plumbing ----------------------------------------------------------------------------

def test_port_zero_prints_port_and_writes_port_file(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, EMULATOR, CORTEX_NODE, "--port", "0", "--port-file", str(port_file)],
                            stdout=subprocess.PIPE, text=True)
    try:
        printed = int(proc.stdout.readline())
        assert int(port_file.read_text()) == printed
        conn = http.client.HTTPConnection("127.0.0.1", printed, timeout=5)
        conn.request("GET", "/_emulator/health")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        proc.stdout.close()


def test_sigterm_exits_cleanly_with_idle_keep_alive_connection():
    imds = Imds().start()
    try:
        conn = imds.connection()
        imds.get("meta-data/instance-id", imds.token(), conn=conn)
        start = time.monotonic()
        assert imds.stop() == 0
        assert time.monotonic() - start < 3
        conn.close()
    finally:
        imds.cleanup()


def test_listens_on_a_given_address():
    with Imds(host="127.0.0.2") as imds:
        assert imds.get("meta-data/instance-id", imds.token()).status == 200
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", imds.port), timeout=1).close()


def test_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback in this sandbox")
    with Imds(host="::1") as imds:
        assert imds.endpoint.startswith("http://[::1]:")
        assert imds.get("meta-data/instance-id", imds.token()).status == 200


def test_bind_failure_is_reported(tmp_path):
    with Imds() as imds:
        result = run_emulator(CORTEX_NODE, "--port", str(imds.port))
        assert result.returncode == 2
        assert "cannot bind" in result.stderr


def test_curl_reuses_one_connection(imds, token):
    # kiln's client is libcurl: the curl tool, given several URLs, reuses its connection the same way.
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    imds.reset_stats()
    urls = [f"{imds.endpoint}/latest/meta-data/{p}" for p in ("instance-id", "local-ipv4", "placement/region")]
    result = subprocess.run([curl, "-sS", "--fail", "-H", f"{TOKEN}: {token}", *urls], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "i-0123456789abcdef010.0.1.23eu-west-1"
    stats = imds.stats()
    assert stats["requests"] == 3 and stats["connections"] == 1


def test_keep_alive_answers_are_not_held_back(imds, token):
    # Head and body are separate writes; with Nagle's algorithm on, each answer on a
    # reused connection waited ~40 ms for the client's delayed ACK.
    conn = imds.connection()
    start = time.monotonic()
    for _ in range(50):
        imds.get("meta-data/instance-id", token, conn=conn)
    elapsed = time.monotonic() - start
    conn.close()
    assert elapsed < 1.0, f"50 keep-alive requests took {elapsed:.2f}s"


def process_gone(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_exit_with_parent(tmp_path):
    # The emulator's parent (a shell) exits: the orphaned emulator must go too.
    port_file = tmp_path / "port"
    script = f'"{sys.executable}" "{EMULATOR}" "{CORTEX_NODE}" --port-file "{port_file}" --exit-with-parent ' \
             '>/dev/null & echo $!; sleep 1'
    shell = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)
    pid = int(shell.stdout.split()[0])
    assert port_file.exists(), "the emulator was up while its parent lived"
    deadline = time.monotonic() + 5
    while not process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(pid)
