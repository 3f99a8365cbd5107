"""Consul through the binary: the agent config file (consul_agent, config
stage), service registration (consul, final stage), deregistration of
dropped services and at shutdown (consul_deregister), against the Consul
agent API emulator (tests/emulators/consul.py) on a loopback port.

Each test boots a scratch Machine (seed datasource, fake boot id) whose
user-data points consul.address at the emulator, then reads back what the
emulator saw (/_emulator/state: definitions as decoded, tokens, query),
what kiln recorded (status.json, /var/lib/kiln/data/consul-registered.json)
and the files it wrote.  Secrets must appear nowhere but where they belong.
"""
import json
import os
import socket
import stat
import time

import pytest

from harness import Consul, port_refuses
from kilntest import SOURCE_DIR

TOKEN = "5e3c7d9a-kiln-test-token-0b1f"
READ_TOKEN = "read-only-kiln-token-77aa"
GOSSIP = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
AGENT_TOKEN = "agent-token-kiln-secret-9f9f"
CONSUL_GID = 4242
GROUP = f"root:x:0:\nconsul:x:{CONSUL_GID}:\n"
AGENT_FILE = "/etc/consul.d/kiln-agent.json"
RECORD = "/var/lib/kiln/data/consul-registered.json"
RUNCMD_MARK = "runcmd-ran"

CORTEX = {"name": "cortex", "port": 9009, "tags": ["cortex"], "meta": {"role": "cortex"},
          "checks": [{"http": "/ready", "interval": "10s", "timeout": "2s",
                      "deregister_critical_service_after": "10m"}]}
NODE_EXPORTER = {"name": "node-exporter", "port": 9100,
                 "checks": [{"tcp": "127.0.0.1:9100", "interval": 15}]}


def user_data(address, services=(CORTEX, NODE_EXPORTER), token=TOKEN, agent=None, runcmd=True, **consul):
    """cloud-config (JSON is YAML) with consul.* and a runcmd that leaves a mark."""
    c = {"address": address, **consul}
    if token is not None:
        c["token"] = token
    if services is not None:
        c["services"] = list(services)
    if agent is not None:
        c["agent"] = agent
    doc = {"consul": c}
    if runcmd:
        doc["runcmd"] = [f'touch "$KILN_ROOT/{RUNCMD_MARK}"']
    return "#cloud-config\n" + json.dumps(doc, indent=2) + "\n"


@pytest.fixture
def node(machine):
    machine.write("/etc/group", GROUP)
    return machine


@pytest.fixture
def consul():
    with Consul(acl_tokens=[TOKEN], acl_read_tokens=[READ_TOKEN]) as c:
        yield c


def boot(node, consul_or_addr, **kw):
    address = consul_or_addr if isinstance(consul_or_addr, str) else consul_or_addr.endpoint
    node.use_seed(user_data=user_data(address, **kw))
    node.path("/var/lib/kiln/seed/user-data").chmod(0o600)  # the seed is input, like IMDS: not world-readable
    return node.run(check=False)


def module(node, stage, name):
    return node.module(stage, name) or {}


def changes(node, stage, name):
    return [(c["action"], c.get("detail")) for c in module(node, stage, name).get("changes") or []]


def recoverable(node, stage, name):
    return module(node, stage, name).get("recoverable_errors") or []


def record(node):
    return json.loads(node.path(RECORD).read_text())["services"]


def register_requests(state):
    return [e for e in state["stats"]["log"] if e["path"] == "/v1/agent/service/register"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- registration ---------------------------------------------------------------------------------

def test_first_registration(node, consul):
    p = boot(node, consul)
    assert p.returncode == 0, p.stderr
    st = consul.state()
    assert set(st["services"]) == {"cortex", "node-exporter"}
    cortex = st["services"]["cortex"]
    assert cortex["Port"] == 9009 and cortex["Address"] == "10.0.1.23"
    assert cortex["Tags"] == ["cortex"] and cortex["Meta"] == {"role": "cortex"}
    checks = st["checks"]
    assert checks["service:cortex"]["Type"] == "http"
    assert checks["service:cortex"]["Definition"]["HTTP"] == "http://10.0.1.23:9009/ready"
    assert checks["service:cortex"]["Interval"] == "10s" and checks["service:cortex"]["Timeout"] == "2s"
    assert checks["service:cortex"]["Definition"]["DeregisterCriticalServiceAfter"] == "10m0s"
    assert checks["service:node-exporter"]["Type"] == "tcp"
    assert checks["service:node-exporter"]["Interval"] == "15s", "an integer interval means seconds"
    for reg in st["registrations"]:
        assert reg["token"] == TOKEN and reg["replace_existing_checks"] is True
        assert reg["ignored_keys"] == [] and reg["warnings"] == [], reg
    # what went over the wire: CamelCase keys, an explicit ID, the token in its header
    for e in register_requests(st):
        assert e["method"] == "PUT" and e["token_source"] == "X-Consul-Token"
        assert e["query"] == "replace-existing-checks=true"
    assert set(st["registrations"][0]["definition"]) == {"ID", "Name", "Address", "Port", "Tags", "Meta", "Checks"}
    assert st["warnings"] == []
    # kiln's record and status
    assert record(node) == [{"id": "cortex", "name": "cortex"}, {"id": "node-exporter", "name": "node-exporter"}]
    assert oct(node.path(RECORD).stat().st_mode & 0o777) == "0o644"
    assert changes(node, "final", "consul") == [("registered", "cortex, 10.0.1.23:9009, 1 check"),
                                                ("registered", "node-exporter, 10.0.1.23:9100, 1 check")]
    assert "X-Consul-Token: (set)" in p.stderr
    assert node.path(RUNCMD_MARK).exists()
    assert node.kiln("status").stdout == "status: done\n"


def test_rerun_and_reboot_make_no_duplicates(node, consul):
    boot(node, consul)
    node.kiln("rerun", "consul")
    node.reboot()
    node.run()
    st = consul.state()
    assert set(st["services"]) == {"cortex", "node-exporter"}
    assert sorted(st["checks"]) == ["service:cortex", "service:node-exporter"]
    assert [r["id"] for r in st["registrations"]] == ["cortex", "node-exporter"] * 3
    assert st["deregistrations"] == []
    assert len(record(node)) == 2


def test_removed_service_is_deregistered(node, consul):
    boot(node, consul)
    node.reboot()
    boot(node, consul, services=[CORTEX])
    st = consul.state()
    assert set(st["services"]) == {"cortex"}
    assert st["deregistrations"] == [{"id": "node-exporter", "token": TOKEN, "existed": True}]
    assert record(node) == [{"id": "cortex", "name": "cortex"}]
    assert ("deregistered", "node-exporter") in changes(node, "final", "consul")
    # a renamed ID: the new one is registered before the old one goes
    node.reboot()
    boot(node, consul, services=[dict(CORTEX, id="cortex-1")])
    st = consul.state()
    assert set(st["services"]) == {"cortex-1"}
    log = [(e["path"].rsplit("/", 1)[-1]) for e in st["stats"]["log"] if e["method"] == "PUT"]
    assert log[-2:] == ["register", "cortex"]
    assert record(node) == [{"id": "cortex-1", "name": "cortex"}]


def test_no_consul_key_contacts_nothing(node, consul):
    node.use_seed(user_data="#cloud-config\nruncmd: ['true']\n")
    node.run()
    assert consul.state()["stats"]["requests"] == 0
    assert not node.path(RECORD).exists()
    assert module(node, "final", "consul")["reason"] == "nothing to do"


def test_late_agent_start(node):
    with Consul(acl_tokens=[TOKEN], start_delay=3) as late:
        assert port_refuses("127.0.0.1", late.port)
        t0 = time.monotonic()
        p = boot(node, late, register_timeout=30)
        elapsed = time.monotonic() - t0
        assert p.returncode == 0, p.stderr
        assert set(late.state()["services"]) == {"cortex", "node-exporter"}
        assert 2.5 < elapsed < 15, elapsed
        assert recoverable(node, "final", "consul") == []


def test_agent_never_up(node):
    port = free_port()
    t0 = time.monotonic()
    p = boot(node, f"http://127.0.0.1:{port}", register_timeout=2)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, "a recoverable error does not fail the stage"
    assert 1.8 < elapsed < 8, elapsed
    errs = recoverable(node, "final", "consul")
    assert len(errs) == 1
    assert errs[0].startswith(f"The Consul agent at http://127.0.0.1:{port} did not accept requests within 2 s "
                              "(last: no answer: Connection refused); not done: cortex, node-exporter.")
    assert "kiln rerun consul" in errs[0]
    assert node.path(RUNCMD_MARK).exists(), "the rest of the final stage still ran"
    assert node.kiln("status", check=False).returncode == 2
    # both are recorded: whatever may have reached the agent is deregistered later
    assert [s["id"] for s in record(node)] == ["cortex", "node-exporter"]


def test_acl_denied(node):
    with Consul(acl_tokens=["another-token"]) as c:
        p = boot(node, c)
        assert p.returncode == 0
        errs = recoverable(node, "final", "consul")
        assert errs == ["Consul refused service 'cortex' (id cortex): 403 ACL not found",
                        "Consul refused service 'node-exporter' (id node-exporter): 403 ACL not found"]
        assert len(register_requests(c.state())) == 2, "a 403 is not retried"
        assert node.kiln("status", check=False).returncode == 2


def test_permission_denied_names_the_service(node, consul):
    boot(node, consul, token=READ_TOKEN, services=[CORTEX])
    (err,) = recoverable(node, "final", "consul")
    assert err.startswith("Consul refused service 'cortex' (id cortex): 403 Permission denied: token with AccessorID")
    assert err.endswith("lacks permission 'service:write' on \"cortex\""), err
    assert consul.state()["services"] == {}


def test_no_token_is_anonymous(node, consul):
    boot(node, consul, token=None, services=[CORTEX])
    (err,) = recoverable(node, "final", "consul")
    assert "403 Permission denied: anonymous token lacks permission" in err and "'cortex'" in err
    assert register_requests(consul.state())[0]["token_source"] is None


def test_400_is_reported_not_retried(node, consul):
    consul.set_faults(fail_next=1, fail_status=400, fault_path="/v1/agent/service/register")
    boot(node, consul)
    assert recoverable(node, "final", "consul") == ["Consul refused service 'cortex' (id cortex): 400 Bad Request"]
    st = consul.state()
    assert set(st["services"]) == {"node-exporter"}
    assert len(register_requests(st)) == 2


def test_429_and_500_are_retried(node, consul):
    consul.set_faults(rules=[{"action": "status", "status": 429, "path": "/v1/agent/service/register", "count": 2},
                             {"action": "status", "status": 500, "path": "/v1/agent/service/register", "count": 2},
                             {"action": "drop", "path": "/v1/agent/service/register", "count": 1}])
    p = boot(node, consul)
    assert p.returncode == 0, p.stderr
    st = consul.state()
    assert set(st["services"]) == {"cortex", "node-exporter"}
    statuses = [e["status"] for e in register_requests(st)]
    assert statuses == [429, 429, 500, 500, "drop", 200, 200], statuses
    assert recoverable(node, "final", "consul") == []


def test_kiln_rerun_consul_on_a_live_agent(node, consul):
    boot(node, consul)
    consul.reset_state()  # the agent lost its data_dir
    p = node.kiln("rerun", "consul")
    assert "registered consul service (cortex" in p.stderr
    assert set(consul.services()) == {"cortex", "node-exporter"}
    assert node.path(RUNCMD_MARK).exists()
    os.unlink(node.path(RUNCMD_MARK))
    node.kiln("rerun", "consul")
    assert not node.path(RUNCMD_MARK).exists(), "rerun runs only that module"


# ---- input errors ---------------------------------------------------------------------------------

BAD_CHECKS = """#cloud-config
consul:
  address: {address}
  services:
    - name: cortex
      port: 9009
      checks:
        - http: /ready
        - ttl: 30s
          deregister_critical_service_after: 30s
"""


def test_bad_checks_are_input_errors_before_any_request(node, consul):
    node.use_seed(user_data=BAD_CHECKS.format(address=consul.endpoint))
    p = node.run(check=False)
    assert p.returncode == 1
    assert ("user-data:8:17: error: consul.services[0].checks[0].http: an http check needs an interval"
            in p.stderr), p.stderr
    assert ("user-data:10:46: error: consul.services[0].checks[1].deregister_critical_service_after: "
            "must be at least 1m" in p.stderr)
    assert consul.state()["stats"]["requests"] == 0
    assert module(node, "final", "consul")["result"] == "failed"
    plan = node.kiln("plan", "--stage", "final", check=False)
    assert plan.returncode == 1 and "user-data:8:17" in plan.stderr


def test_strict_agent_never_sees_a_short_deregister(node):
    with Consul("--strict-deregister", acl_tokens=[TOKEN]) as strict:
        boot(node, strict, services=[dict(CORTEX, checks=[{"http": "/ready", "interval": "5s",
                                                             "deregister_critical_service_after": "1m"}])])
        assert set(strict.services()) == {"cortex"}


# ---- shutdown -------------------------------------------------------------------------------------

def test_shutdown_deregisters_everything(node, consul):
    boot(node, consul)
    t0 = time.monotonic()
    p = node.run(stage="shutdown")
    assert time.monotonic() - t0 < 5
    st = consul.state()
    assert st["services"] == {} and st["checks"] == {}
    assert st["deregistrations"] == [{"id": "cortex", "token": TOKEN, "existed": True},
                                     {"id": "node-exporter", "token": TOKEN, "existed": True}]
    assert record(node) == []
    assert changes(node, "shutdown", "consul_deregister") == [("deregistered", "cortex"),
                                                              ("deregistered", "node-exporter")]
    assert "Deregistering: Consul agent http://127.0.0.1:" in p.stderr and "X-Consul-Token: (set)" in p.stderr
    # the next boot registers them again
    node.reboot()
    node.run()
    assert set(consul.services()) == {"cortex", "node-exporter"}


def test_shutdown_with_the_agent_gone_is_bounded(node, consul):
    boot(node, consul, deregister_timeout=1)
    consul.set_faults(rules=[{"action": "status", "status": 500, "count": None}])
    t0 = time.monotonic()
    p = node.run(stage="shutdown", check=False)
    assert p.returncode == 0
    assert time.monotonic() - t0 < 5
    (err,) = recoverable(node, "shutdown", "consul_deregister")
    assert "did not accept requests within 1 s (last: 500 rpc error making call: No cluster leader)" in err
    assert "not deregistered: cortex, node-exporter" in err
    assert [s["id"] for s in record(node)] == ["cortex", "node-exporter"], "kept for the next try"


def test_shutdown_deregisters_what_was_recorded_not_what_is_configured(node, consul):
    boot(node, consul)
    # the config changed since: shutdown still takes back what kiln registered
    node.reboot()
    node.seed(user_data=user_data(consul.endpoint, services=[]))
    node.run(stage="shutdown")
    assert consul.services() == {}
    assert [d["id"] for d in consul.state()["deregistrations"]] == ["cortex", "node-exporter"]


# ---- the agent config file ------------------------------------------------------------------------

def file_info(node, path):
    st = os.lstat(node.path(path))
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_ino, st.st_mtime_ns


def test_agent_config_defaults_without_secrets(node, consul):
    boot(node, consul, services=None, agent={"retry_join": [{"provider": "aws", "tag_key": "ConsulCluster",
                                                            "tag_value": "cortex prod"}]})
    cfg = json.loads(node.path(AGENT_FILE).read_text())
    assert cfg == {"datacenter": "eu-west-1", "node_name": "ip-10-0-1-23", "bind_addr": "10.0.1.23",
                   "advertise_addr": "10.0.1.23",
                   "retry_join": ['provider=aws tag_key=ConsulCluster tag_value="cortex prod"']}
    mode, uid, gid, _, _ = file_info(node, AGENT_FILE)
    assert (mode, uid, gid) == (0o644, 0, 0)
    assert changes(node, "config", "consul_agent") == [
        ("wrote", "0644 root:root"), ("skipped", "systemctl try-restart --no-block consul.service: not under --root")]


def test_agent_config_with_secrets_is_0640_root_consul(node, consul):
    agent = {"server": True, "bootstrap_expect": 3, "encrypt": GOSSIP,
             "acl": {"enabled": True, "tokens": {"agent": AGENT_TOKEN}}}
    boot(node, consul, services=None, agent=agent)
    mode, uid, gid, ino, mtime = file_info(node, AGENT_FILE)
    assert (mode, uid, gid) == (0o640, 0, CONSUL_GID)
    cfg = json.loads(node.path(AGENT_FILE).read_text())
    assert cfg["encrypt"] == GOSSIP and cfg["acl"]["tokens"]["agent"] == AGENT_TOKEN
    assert cfg["server"] is True and cfg["bootstrap_expect"] == 3
    assert changes(node, "config", "consul_agent")[0] == ("wrote", "0640 root:consul, secrets: encrypt, "
                                                                   "acl.tokens.agent")
    # unchanged: not rewritten, no restart
    node.reboot()
    node.run()
    assert file_info(node, AGENT_FILE)[3:] == (ino, mtime)
    assert changes(node, "config", "consul_agent") == []
    # a mode someone widened is put back
    os.chmod(node.path(AGENT_FILE), 0o644)
    node.kiln("rerun", "consul_agent")
    assert file_info(node, AGENT_FILE)[0] == 0o640
    # secrets gone from the config: the file is 0644 root:root again
    node.reboot()
    boot(node, consul, services=None, agent={"server": True, "bootstrap_expect": 3})
    assert file_info(node, AGENT_FILE)[:3] == (0o644, 0, 0)
    assert GOSSIP not in node.path(AGENT_FILE).read_text()


def test_agent_config_without_consul_group(node, consul):
    node.write("/etc/group", "root:x:0:\n")
    boot(node, consul, services=None, agent={"encrypt": GOSSIP})
    assert file_info(node, AGENT_FILE)[:3] == (0o600, 0, 0)
    (err,) = recoverable(node, "config", "consul_agent")
    assert "the group consul is not in /etc/group" in err


def test_agent_config_removed_with_the_key(node, consul):
    boot(node, consul, services=None, agent={})
    assert node.path(AGENT_FILE).exists()
    node.reboot()
    boot(node, consul, services=None)
    assert not node.path(AGENT_FILE).exists()
    assert changes(node, "config", "consul_agent")[0] == ("removed", "consul.agent is not set")


def test_agent_config_errors_are_positioned(node, consul):
    ud = ("#cloud-config\nconsul:\n  agent:\n    bootstrap_expect: 3\n"
          "    encrypt: bm90LWEta2V5\n")
    node.use_seed(user_data=ud)
    p = node.run(check=False)
    assert p.returncode == 1
    assert "user-data:4:23: error: consul.agent.bootstrap_expect: only a server bootstraps" in p.stderr
    assert "user-data:5:14: error: consul.agent.encrypt: is not a gossip key" in p.stderr
    assert "bm90LWEta2V5" not in p.stderr
    assert not node.path(AGENT_FILE).exists()


# ---- secrets --------------------------------------------------------------------------------------

def world_readable_files(root):
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH:
                yield p


def test_secrets_stay_secret(node, consul):
    agent = {"encrypt": GOSSIP, "acl": {"tokens": {"agent": AGENT_TOKEN, "default": AGENT_TOKEN + "-d"}}}
    consul.set_faults(fail_next=1, fail_status=403, fault_path="/v1/agent/service/register")
    outputs = [boot(node, consul, agent=agent)]
    outputs.append(node.kiln("-v", "rerun", "consul"))
    outputs.append(node.kiln("plan"))
    outputs.append(node.kiln("query", "--all"))
    outputs.append(node.kiln("status", "--long", "--json", check=False))
    outputs.append(node.run(stage="shutdown"))
    secrets = (TOKEN, GOSSIP, AGENT_TOKEN)
    for p in outputs:
        for s in secrets:
            assert s not in p.stdout and s not in p.stderr, (p.args, s)
    assert "X-Consul-Token: set" in outputs[1].stderr, "debug logs say whether a token was sent, not which"
    for f in ("/run/kiln/status.json", "/run/kiln/result.json", "/run/kiln/instance-data.json",
              "/run/kiln/instance-data-sensitive.json", RECORD):
        text = node.path(f).read_text()
        for s in secrets:
            assert s not in text, (f, s)
    readable = list(world_readable_files(node.root))
    assert any(p.endswith("status.json") for p in readable)
    for p in readable:
        data = open(p, "rb").read()
        for s in secrets:
            assert s.encode() not in data, (p, s)


# ---- the examples ---------------------------------------------------------------------------------

EXAMPLES = [SOURCE_DIR / "config/examples" / n for n in ("consul-cortex-node.yaml", "consul-server.yaml")]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid(node, example):
    p = node.kiln("validate", str(example))
    assert p.stdout.strip() == f"{example}: valid", p.stderr
    assert p.stderr == ""


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_plans_and_registers(node, consul, example):
    """The image points kiln at the agent; the example user-data does the rest."""
    node.use_seed(user_data=example.read_text(),
                  extra_config=f"consul:\n  address: {consul.endpoint}\n  token: {TOKEN}\n")
    node.path("/etc/kiln/kiln.yaml").chmod(0o600)
    node.kiln("plan")
    node.run()
    services = consul.services()
    cfg = json.loads(node.path(AGENT_FILE).read_text())
    assert cfg["datacenter"] == "eu-west-1"
    assert cfg["retry_join"] == ["provider=aws tag_key=ConsulCluster tag_value=cortex-prod"]
    if example.name == "consul-cortex-node.yaml":
        assert set(services) == {"cortex", "node-exporter"}
        ready = consul.checks()["service:cortex"]
        assert ready["Name"] == "cortex ready" and ready["Definition"]["HTTP"] == "http://10.0.1.23:9009/ready"
        assert consul.checks()["service:node-exporter"]["Definition"]["HTTP"] == "http://10.0.1.23:9100/metrics"
        assert file_info(node, AGENT_FILE)[:3] == (0o644, 0, 0)
    else:
        assert cfg["server"] is True and cfg["bootstrap_expect"] == 3
        assert set(services) == {"node-exporter"}
        assert file_info(node, AGENT_FILE)[:3] == (0o640, 0, CONSUL_GID)
