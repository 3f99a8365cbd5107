"""Tests of the Consul agent API emulator itself.

Why: kiln's registration and deregistration tests will assert on what this
emulator recorded and on how it refused bad input, so each endpoint, each
validation message, the ACL rules and each fault are pinned here, including
the delayed start that must look like a real "connection refused".
"""

import base64
import http.client
import json
import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulators"))
from harness import Consul, EmulatorError, port_refuses  # noqa: E402

NO_INTERVAL = "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
CORTEX = {
    "Name": "cortex", "Port": 9009, "Tags": ["cortex", "az-eu-west-1a"], "Address": "10.0.1.23",
    "Meta": {"role": "cortex", "cluster": "cortex-prod"},
    "Check": {"HTTP": "http://10.0.1.23:9009/ready", "Interval": "10s", "Timeout": "2s",
              "DeregisterCriticalServiceAfter": "10m"},
}


@pytest.fixture
def consul():
    with Consul() as emulator:
        yield emulator


def register(consul, body, query="", headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return consul.request("PUT", "/v1/agent/service/register" + query, body=data, headers=headers)


def assert_400(answer, message):
    assert answer.status == 400, answer
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.text == message


# ---- registration --------------------------------------------------------------------------------

def test_register_minimal_service(consul):
    answer = register(consul, {"Name": "node-exporter", "Port": 9100})
    assert answer.status == 200 and answer.body == b""
    services = consul.request("GET", "/v1/agent/services").json()
    svc = services["node-exporter"]
    assert svc["ID"] == "node-exporter" and svc["Service"] == "node-exporter"
    assert svc["Port"] == 9100 and svc["Tags"] == [] and svc["Meta"] == {}
    assert svc["Weights"] == {"Passing": 1, "Warning": 1} and svc["Datacenter"] == "dc1"


def test_register_full_camel_case(consul):
    assert register(consul, CORTEX).status == 200
    svc = consul.services()["cortex"]
    assert svc["Address"] == "10.0.1.23" and svc["Meta"]["cluster"] == "cortex-prod"
    check = consul.checks()["service:cortex"]
    assert check["Type"] == "http" and check["Interval"] == "10s" and check["Timeout"] == "2s"
    assert check["Name"] == "Service 'cortex' check" and check["Status"] == "critical"
    assert check["ServiceID"] == "cortex" and check["Definition"]["DeregisterCriticalServiceAfter"] == "10m0s"


def test_register_snake_case_and_any_case(consul):
    body = {"name": "cortex", "id": "cortex-1", "port": 9009, "enable_tag_override": True,
            "meta": {"a": "b"}, "check": {"http": "http://127.0.0.1:9009/ready", "interval": "5s",
                                          "deregister_critical_service_after": "2m", "tls_skip_verify": True,
                                          "header": {"X-A": ["1"]}, "method": "GET"}}
    assert register(consul, body).status == 200
    svc = consul.services()["cortex-1"]
    assert svc["Service"] == "cortex" and svc["EnableTagOverride"] is True
    definition = consul.checks()["service:cortex-1"]["Definition"]
    assert definition["TLSSkipVerify"] is True and definition["DeregisterCriticalServiceAfter"] == "2m0s"
    assert definition["Header"] == {"X-A": ["1"]}


def test_unknown_keys_are_ignored_but_reported(consul):
    assert register(consul, {"Name": "x", "Colour": "blue", "Check": {"TTL": "30s", "Intervall": "5s"}}).status == 200
    reg = consul.state()["registrations"][-1]
    assert reg["ignored_keys"] == ["Colour", "Check.Intervall"]


def test_id_defaults_to_name_and_is_unique_per_agent(consul):
    register(consul, {"Name": "cortex", "ID": "cortex-a", "Port": 1})
    register(consul, {"Name": "cortex", "ID": "cortex-b", "Port": 2})
    register(consul, {"Name": "cortex", "ID": "cortex-a", "Port": 3})
    services = consul.services()
    assert sorted(services) == ["cortex-a", "cortex-b"]
    assert services["cortex-a"]["Port"] == 3


def test_missing_name(consul):
    assert_400(register(consul, {"Port": 1}), "Missing service name")
    assert_400(register(consul, {"Name": ""}), "Missing service name")


def test_invalid_address(consul):
    assert_400(register(consul, {"Name": "x", "Address": "0.0.0.0"}), "Invalid service address")


@pytest.mark.parametrize("check, message", [
    ({"HTTP": "http://x/"}, NO_INTERVAL),
    ({"TCP": "127.0.0.1:1"}, NO_INTERVAL),
    ({"Args": ["/bin/true"]}, NO_INTERVAL),
    ({"TTL": "10s", "Interval": "10s"}, "Invalid check: Interval and TTL cannot both be specified"),
    ({"Name": "only a name"}, "Invalid check: TTL must be > 0 for TTL checks"),
    ({"TTL": "0s"}, "Invalid check: TTL must be > 0 for TTL checks"),
    ({"TTL": "10s", "Status": "fine"}, "Status for checks must 'passing', 'warning', 'critical'"),
])
def test_invalid_checks(consul, check, message):
    assert_400(register(consul, {"Name": "x", "Check": check}), message)
    assert_400(register(consul, {"Name": "x", "Checks": [{"TTL": "5s"}, check]}), message)
    assert consul.services() == {}


def test_ttl_check_needs_no_interval(consul):
    assert register(consul, {"Name": "x", "Check": {"TTL": "30s", "Status": "passing"}}).status == 200
    check = consul.checks()["service:x"]
    assert check["Type"] == "ttl" and check["Status"] == "passing" and check["Interval"] == ""


def test_empty_check_object_is_skipped(consul):
    assert register(consul, {"Name": "x", "Check": {}}).status == 200
    assert consul.checks() == {}


def test_deregister_critical_service_after_is_raised_to_one_minute(consul):
    body = {"Name": "x", "Check": {"TTL": "30s", "DeregisterCriticalServiceAfter": "30s"}}
    assert register(consul, body).status == 200
    assert consul.checks()["service:x"]["Definition"]["DeregisterCriticalServiceAfter"] == "1m0s"
    state = consul.state()
    assert any("below minimum" in w for w in state["warnings"])
    assert state["registrations"][-1]["warnings"]


def test_strict_deregister_refuses_below_one_minute():
    with Consul("--strict-deregister") as consul:
        body = {"Name": "x", "Check": {"TTL": "30s", "DeregisterCriticalServiceAfter": "59s"}}
        answer = register(consul, body)
        assert answer.status == 400 and "at least 1m0s" in answer.text
        body["Check"]["DeregisterCriticalServiceAfter"] = "1m"
        assert register(consul, body).status == 200


@pytest.mark.parametrize("value, message", [
    ("abc", 'Request decode failed: time: invalid duration "abc"'),
    ("10", 'Request decode failed: time: missing unit in duration "10"'),
    ("10x", 'Request decode failed: time: unknown unit "x" in duration "10x"'),
])
def test_bad_durations(consul, value, message):
    assert_400(register(consul, {"Name": "x", "Check": {"HTTP": "http://x", "Interval": value}}), message)


def test_numeric_durations_are_nanoseconds(consul):
    assert register(consul, {"Name": "x", "Check": {"TCP": "127.0.0.1:1", "Interval": 15 * 10**9}}).status == 200
    assert consul.checks()["service:x"]["Interval"] == "15s"


@pytest.mark.parametrize("body, message", [
    ({"Name": "x", "Port": "80"},
     "Request decode failed: json: cannot unmarshal string into Go struct field ServiceDefinition.Port of type int"),
    ({"Name": "x", "Port": 80.5},
     "Request decode failed: json: cannot unmarshal number 80.5 into Go struct field ServiceDefinition.Port "
     "of type int"),
    ({"Name": "x", "Meta": {"a": 1}},
     "Request decode failed: json: cannot unmarshal number into Go struct field ServiceDefinition.Meta "
     "of type string"),
    ({"Name": "x", "Meta": ["a"]},
     "Request decode failed: json: cannot unmarshal array into Go struct field ServiceDefinition.Meta "
     "of type map[string]string"),
    ({"Name": "x", "Tags": "a"},
     "Request decode failed: json: cannot unmarshal string into Go struct field ServiceDefinition.Tags "
     "of type []string"),
    ({"Name": 5}, "Request decode failed: json: cannot unmarshal number into Go struct field "
                  "ServiceDefinition.Name of type string"),
])
def test_type_errors(consul, body, message):
    assert_400(register(consul, body), message)


@pytest.mark.parametrize("meta, problem", [
    ({"bad key": "v"}, "('bad key', 'v'): Key contains invalid characters"),
    ({"consul-x": "v"}, "('consul-x', 'v'): Key prefix 'consul-' is reserved for internal use"),
    ({"k" * 129: "v"}, "Key is too long (limit: 128 characters)"),
    ({"k": "v" * 513}, "Value is too long (limit: 512 characters)"),
    ({f"k{i}": "v" for i in range(65)}, "cannot contain more than 64 key/value pairs"),
])
def test_meta_validation(consul, meta, problem):
    answer = register(consul, {"Name": "x", "Meta": meta})
    assert answer.status == 400
    assert answer.text.startswith("Invalid Service Meta: ") and problem in answer.text


def test_weights_validation(consul):
    assert_400(register(consul, {"Name": "x", "Weights": {"Passing": 0, "Warning": 1}}),
               "Invalid Weights: Passing must be greater than 0")
    assert register(consul, {"Name": "x", "Weights": {"Passing": 3}}).status == 200
    assert consul.services()["x"]["Weights"] == {"Passing": 3, "Warning": 1}


def test_body_decode_failures(consul):
    assert register(consul, b"{not json").text.startswith("Request decode failed: ")
    assert_400(register(consul, b""), "Request decode failed: EOF")
    assert_400(register(consul, [1]), "Request decode failed: json: cannot unmarshal array into Go value of type "
                                      "structs.ServiceDefinition")


def test_several_checks_get_numbered_ids(consul):
    body = {"Name": "gw", "Checks": [{"TTL": "30s"}, {"TCP": "127.0.0.1:80", "Interval": "10s"},
                                     {"CheckID": "gw-http", "HTTP": "http://127.0.0.1/", "Interval": "10s"}]}
    assert register(consul, body).status == 200
    assert sorted(consul.checks()) == ["gw-http", "service:gw:1", "service:gw:2"]


def test_replace_existing_checks(consul):
    two = {"Name": "gw", "Checks": [{"CheckID": "a", "TTL": "30s"}, {"CheckID": "b", "TTL": "30s"}]}
    one = {"Name": "gw", "Checks": [{"CheckID": "a", "TTL": "30s"}]}
    register(consul, two)
    register(consul, one)
    assert sorted(consul.checks()) == ["a", "b"], "without the flag old checks stay"
    assert register(consul, one, "?replace-existing-checks").status == 200
    assert sorted(consul.checks()) == ["a"]
    register(consul, two)
    register(consul, one, "?replace-existing-checks=true")
    assert sorted(consul.checks()) == ["a"]
    assert consul.state()["registrations"][-1]["replace_existing_checks"] is True


def test_register_accepts_only_put(consul):
    answer = consul.request("GET", "/v1/agent/service/register")
    assert answer.status == 405 and answer.text == "method GET not allowed"
    assert answer.headers["Allow"] == "PUT"
    assert consul.request("POST", "/v1/agent/service/register", body=b"{}").status == 405


# ---- deregistration and reads --------------------------------------------------------------------

def test_deregister(consul):
    register(consul, CORTEX)
    register(consul, {"Name": "node-exporter", "Port": 9100, "Check": {"TTL": "1m"}})
    answer = consul.request("PUT", "/v1/agent/service/deregister/cortex")
    assert answer.status == 200 and answer.body == b""
    assert list(consul.services()) == ["node-exporter"]
    assert list(consul.checks()) == ["service:node-exporter"]
    assert consul.request("PUT", "/v1/agent/service/deregister/never-was").status == 200
    assert [(d["id"], d["existed"]) for d in consul.state()["deregistrations"]] == [("cortex", True),
                                                                                    ("never-was", False)]
    assert consul.request("GET", "/v1/agent/service/deregister/x").status == 405


def test_services_and_checks_are_get_only(consul):
    assert consul.request("PUT", "/v1/agent/services").status == 405
    assert consul.request("DELETE", "/v1/agent/checks").status == 405


def test_service_by_id(consul):
    register(consul, CORTEX)
    assert consul.request("GET", "/v1/agent/service/cortex").json()["Port"] == 9009
    assert consul.request("GET", "/v1/agent/service/nope").status == 404


def test_agent_self_defaults_and_options(consul):
    self_ = consul.request("GET", "/v1/agent/self").json()
    assert self_["Config"]["Datacenter"] == "dc1" and self_["Config"]["NodeName"] == "kiln-test-node"
    assert self_["Member"]["Name"] == "kiln-test-node"
    with Consul("--datacenter", "eu-west-1", "--node-name", "cortex-i-0123", "--version", "1.18.0") as other:
        config = other.request("GET", "/v1/agent/self").json()["Config"]
        assert (config["Datacenter"], config["NodeName"], config["Version"]) == ("eu-west-1", "cortex-i-0123",
                                                                                 "1.18.0")


def test_status_leader(consul):
    answer = consul.request("GET", "/v1/status/leader")
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == "127.0.0.1:8300"
    consul.set_faults(leader="")
    assert consul.request("GET", "/v1/status/leader").json() == ""
    assert consul.request("GET", "/v1/status/peers").json() == []
    with Consul("--leader", "10.0.1.10:8300") as other:
        assert other.request("GET", "/v1/status/leader").json() == "10.0.1.10:8300"


def test_reload(consul):
    assert consul.request("PUT", "/v1/agent/reload").status == 200
    assert consul.request("PUT", "/v1/agent/reload").status == 200
    assert consul.state()["reloads"] == 2
    assert consul.request("GET", "/v1/agent/reload").status == 405


def test_unknown_path_is_404(consul):
    assert consul.request("GET", "/v1/agent/nothing").status == 404


def test_pretty_json(consul):
    assert b"\n    " in consul.request("GET", "/v1/agent/self?pretty").body


# ---- KV ------------------------------------------------------------------------------------------

def test_kv_put_get_raw(consul):
    answer = consul.request("PUT", "/v1/kv/cortex/ring/config", body=b"replication_factor: 3\n")
    assert answer.status == 200 and answer.json() is True
    entries = consul.request("GET", "/v1/kv/cortex/ring/config").json()
    assert len(entries) == 1
    entry = entries[0]
    assert entry["Key"] == "cortex/ring/config" and entry["Flags"] == 0
    assert base64.b64decode(entry["Value"]) == b"replication_factor: 3\n"
    assert entry["CreateIndex"] == entry["ModifyIndex"] > 0
    raw = consul.request("GET", "/v1/kv/cortex/ring/config?raw")
    assert raw.body == b"replication_factor: 3\n"
    assert consul.state()["kv"]["cortex/ring/config"]["DecodedValue"] == "replication_factor: 3\n"


def test_kv_missing_key_is_404(consul):
    answer = consul.request("GET", "/v1/kv/nothing")
    assert answer.status == 404 and answer.body == b""
    assert answer.headers["X-Consul-Index"]


def test_kv_flags_cas_delete_recurse(consul):
    consul.request("PUT", "/v1/kv/a/1?flags=42", body=b"one")
    consul.request("PUT", "/v1/kv/a/2", body=b"")
    consul.request("PUT", "/v1/kv/b", body=b"bee")
    entry = consul.request("GET", "/v1/kv/a/1").json()[0]
    assert entry["Flags"] == 42
    assert consul.request("GET", "/v1/kv/a/2").json()[0]["Value"] is None
    assert consul.request("PUT", "/v1/kv/a/1?cas=0", body=b"x").json() is False
    assert consul.request("PUT", f"/v1/kv/a/1?cas={entry['ModifyIndex']}", body=b"x").json() is True
    assert consul.request("PUT", "/v1/kv/new?cas=0", body=b"x").json() is True
    assert [e["Key"] for e in consul.request("GET", "/v1/kv/a?recurse").json()] == ["a/1", "a/2"]
    assert consul.request("GET", "/v1/kv/?keys").json() == ["a/1", "a/2", "b", "new"]
    assert consul.request("DELETE", "/v1/kv/b").json() is True
    assert consul.request("GET", "/v1/kv/b").status == 404
    consul.request("DELETE", "/v1/kv/a?recurse")
    assert consul.request("GET", "/v1/kv/?keys").json() == ["new"]


def test_kv_value_limit(consul):
    assert consul.request("PUT", "/v1/kv/big", body=b"x" * 512 * 1024).json() is True
    answer = consul.request("PUT", "/v1/kv/big", body=b"x" * (512 * 1024 + 1))
    assert answer.status == 413 and "too large" in answer.text


def test_kv_bad_requests(consul):
    assert_400(consul.request("GET", "/v1/kv/"), "Missing key name")
    assert consul.request("POST", "/v1/kv/a", body=b"x").status == 405


# ---- ACLs ----------------------------------------------------------------------------------------

@pytest.fixture
def acl_consul():
    with Consul(acl_tokens=["root-token"], acl_read_tokens=["read-token"]) as emulator:
        yield emulator


def test_acl_missing_token_is_permission_denied(acl_consul):
    answer = register(acl_consul, CORTEX)
    assert answer.status == 403
    assert answer.text == "Permission denied: anonymous token lacks permission 'service:write' on \"cortex\""
    assert acl_consul.services() == {}


def test_acl_unknown_token_is_acl_not_found(acl_consul):
    for headers in ({"X-Consul-Token": "wrong"}, {"Authorization": "Bearer wrong"}):
        answer = register(acl_consul, CORTEX, headers=headers)
        assert answer.status == 403 and answer.text == "ACL not found"
    assert acl_consul.request("GET", "/v1/agent/services", headers={"X-Consul-Token": "wrong"}).status == 403
    # The token is resolved before the body is validated, as by the agent.
    assert register(acl_consul, {"Name": "x", "Port": 1, "Check": {"HTTP": "x"}},
                    headers={"X-Consul-Token": "wrong"}).text == "ACL not found"


def test_acl_accepted_token_by_header_bearer_or_query(acl_consul):
    assert register(acl_consul, CORTEX, headers={"X-Consul-Token": "root-token"}).status == 200
    assert register(acl_consul, {"Name": "b"}, headers={"Authorization": "Bearer root-token"}).status == 200
    assert register(acl_consul, {"Name": "c"}, query="?token=root-token").status == 200
    log = [e for e in acl_consul.stats()["log"] if e["path"] == "/v1/agent/service/register"]
    assert [(e["token"], e["token_source"]) for e in log] == [
        ("root-token", "X-Consul-Token"), ("root-token", "Authorization"), ("root-token", "query")]
    assert [r["token"] for r in acl_consul.state()["registrations"]] == ["root-token"] * 3


def test_acl_read_token_reads_but_cannot_write(acl_consul):
    register(acl_consul, CORTEX, headers={"X-Consul-Token": "root-token"})
    read = {"X-Consul-Token": "read-token"}
    assert "cortex" in acl_consul.request("GET", "/v1/agent/services", headers=read).json()
    answer = acl_consul.request("PUT", "/v1/agent/service/deregister/cortex", headers=read)
    assert answer.status == 403
    assert re.fullmatch(r"Permission denied: token with AccessorID '[0-9a-f-]{36}' lacks permission "
                        r"'service:write' on \"cortex\"", answer.text)


def test_acl_anonymous_lists_are_filtered(acl_consul):
    register(acl_consul, CORTEX, headers={"X-Consul-Token": "root-token"})
    answer = acl_consul.request("GET", "/v1/agent/services")
    assert answer.status == 200 and answer.json() == {}
    assert answer.headers["X-Consul-Results-Filtered-By-Acls"] == "true"
    assert answer.headers["X-Consul-Default-Acl-Policy"] == "deny"
    assert acl_consul.request("GET", "/v1/agent/self").status == 403
    assert acl_consul.request("GET", "/v1/status/leader").status == 200


def test_acl_on_kv_and_reload(acl_consul):
    assert acl_consul.request("PUT", "/v1/kv/k", body=b"v").status == 403
    assert acl_consul.request("PUT", "/v1/kv/k", body=b"v", headers={"X-Consul-Token": "read-token"}).status == 403
    assert acl_consul.request("PUT", "/v1/kv/k", body=b"v", headers={"X-Consul-Token": "root-token"}).status == 200
    assert acl_consul.request("GET", "/v1/kv/k?raw", headers={"X-Consul-Token": "read-token"}).body == b"v"
    assert acl_consul.request("PUT", "/v1/agent/reload", headers={"X-Consul-Token": "read-token"}).status == 403


def test_acls_switched_at_run_time(consul):
    assert consul.request("GET", "/v1/agent/services").headers["X-Consul-Default-Acl-Policy"] == "allow"
    consul.set_faults(acl_enabled=True, acl_tokens=["t"])
    assert register(consul, {"Name": "x"}).status == 403
    assert register(consul, {"Name": "x"}, headers={"X-Consul-Token": "t"}).status == 200
    consul.reset_faults()
    assert register(consul, {"Name": "y"}).status == 200


# ---- faults --------------------------------------------------------------------------------------

def test_next_requests_answer_429_then_500(consul):
    consul.set_faults(throttle_next=2)
    consul.set_faults(fail_next=1, fail_status=500)
    statuses = [register(consul, {"Name": "x"}).status for _ in range(4)]
    assert statuses == [429, 429, 500, 200]
    assert register(consul, {"Name": "x"}).status == 200
    assert len(consul.state()["registrations"]) == 2, "refused requests change nothing"


def test_faults_from_command_line():
    with Consul("--throttle-next", "1", "--fault-path", "/v1/agent/service/*") as consul:
        assert consul.request("GET", "/v1/status/leader").status == 200
        answer = register(consul, {"Name": "x"})
        assert answer.status == 429 and answer.text == "rate limit exceeded"
        assert register(consul, {"Name": "x"}).status == 200


def test_slow_answers(consul):
    consul.set_faults(delay_ms=300, delay_path="/v1/agent/service/register")
    start = time.monotonic()
    consul.request("GET", "/v1/status/leader")
    assert time.monotonic() - start < 0.25
    start = time.monotonic()
    assert register(consul, {"Name": "x"}).status == 200
    assert time.monotonic() - start >= 0.3


def test_dropped_connection(consul):
    consul.set_faults(drop_next=1)
    with pytest.raises(http.client.RemoteDisconnected):
        register(consul, {"Name": "x"})
    assert register(consul, {"Name": "x"}).status == 200


def test_delayed_start_refuses_connections_then_serves():
    consul = Consul(start_delay=2.5)
    start = time.monotonic()
    consul.start()
    try:
        assert consul.port > 0
        assert port_refuses("127.0.0.1", consul.port), "a real refusal, not a hang"
        with pytest.raises(ConnectionRefusedError):
            consul.request("GET", "/v1/status/leader", timeout=1)
        assert time.monotonic() - start < 2.4
        consul.wait_ready(timeout=10)
        assert time.monotonic() - start >= 2.4
        assert consul.request("GET", "/v1/status/leader").status == 200
        consul.stop()
    finally:
        consul.cleanup()


def test_sigterm_during_delayed_start_is_clean():
    consul = Consul(start_delay=30)
    consul.start()
    try:
        start = time.monotonic()
        assert consul.stop() == 0
        assert time.monotonic() - start < 3
    finally:
        consul.cleanup()


# ---- state dump, stats, keep-alive ---------------------------------------------------------------

def test_state_dump_and_reset(consul):
    register(consul, CORTEX, headers={"X-Consul-Token": "anything"})
    consul.request("PUT", "/v1/kv/k", body=b"v")
    state = consul.state()
    assert list(state["services"]) == ["cortex"] and list(state["checks"]) == ["service:cortex"]
    reg = state["registrations"][0]
    assert reg["token"] == "anything" and reg["definition"]["Check"]["Interval"] == "10s"
    assert reg["definition"]["Name"] == "cortex" and reg["replace_existing_checks"] is False
    assert state["stats"]["requests"] == 2
    assert state["stats"]["by_method"] == {"PUT": 2}
    assert state["stats"]["log"][0]["token"] == "anything"
    assert state["faults"]["settings"]["acl_enabled"] is False
    consul.reset_state()
    state = consul.state()
    assert state["services"] == {} and state["kv"] == {} and state["stats"]["requests"] == 0


def test_keep_alive(consul):
    conn = consul.connection()
    for i in range(5):
        assert consul.request("PUT", "/v1/agent/service/register", body=json.dumps({"Name": f"s{i}"}).encode(),
                              conn=conn).status == 200
    assert consul.request("GET", "/v1/agent/services", conn=conn).status == 200
    conn.close()
    stats = consul.stats()
    assert stats["connections"] == 1 and stats["requests"] == 6


def test_control_errors(consul):
    with pytest.raises(EmulatorError, match="acl_tokens"):
        consul.set_faults(acl_tokens="t")
    assert consul.request("GET", "/_emulator/nothing").status == 404


def test_bad_command_line_is_reported():
    emulator = Consul("--fail-next", "1", "--fail-status", "200")
    with pytest.raises(EmulatorError, match="fail_status"):
        emulator.start()
    emulator.cleanup()
