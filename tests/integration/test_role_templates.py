"""The reference Cortex roles' templates (config/templates/) rendered by `kiln run` in a scratch root, the way
an image baked with config/examples/<role>.kiln.yaml boots with config/examples/<role>.user-data.yaml:

- every output parses (JSON, YAML; nginx's upstreams and locations are read back; `nginx -t` and
  `promtool check config` run when installed) and carries the instance's values;
- every output is byte for byte what Jinja2 (Debian's python3-jinja2, keep_trailing_newline=True,
  StrictUndefined) renders from the same template and the same instance-data;
- owners, modes and the on_change records follow the role's kiln.d file;
- config/kiln.yaml and the examples pass `kiln validate`."""
import json
import re
import shlex
import shutil
import stat
import subprocess

import jinja2
import pytest
import yaml

from kilntest import DEFAULT_META, KILN, SOURCE_DIR, Machine

CONFIG = SOURCE_DIR / "config"
TEMPLATES = CONFIG / "templates"
EXAMPLES = CONFIG / "examples"
SECRET = "Y29uc3VsLWdvc3NpcC1rZXktZXhhbXBsZS0wMDAwMDA="

USERS = {"consul": 998, "cortex": 997, "prometheus": 996, "grafana": 995}

ROLES = {
    "consul-server": {"local-ipv4": "10.0.1.11", "az": "eu-west-1a", "name": "consul-1", "id": "i-0c0750100000000a1"},
    "cortex": {"local-ipv4": "10.0.2.21", "az": "eu-west-1b", "name": "cortex-2", "id": "i-0c0a7e2000000000b"},
    "gateway": {"local-ipv4": "10.0.1.50", "az": "eu-west-1a", "name": "gateway-1", "id": "i-0a7e0a1000000000c"},
    "monitoring": {"local-ipv4": "10.0.3.60", "az": "eu-west-1c", "name": "monitoring-1", "id": "i-0d0a1f0000000000d"},
}


def meta_for(role):
    r = ROLES[role]
    return dict(DEFAULT_META, **{
        "instance-id": r["id"],
        "local-ipv4": r["local-ipv4"],
        "local-hostname": "ip-%s.eu-west-1.compute.internal" % r["local-ipv4"].replace(".", "-"),
        "placement": {"availability-zone": r["az"], "region": "eu-west-1"},
        "tags": {"Role": role, "Name": r["name"], "consul-cluster": "metrics-eu"},
    })


def boot(root, role, user_data=None):
    """A role's image (templates, kiln.d) booting in a scratch root; volumes are off (no EBS here)."""
    m = Machine(root)
    with open(m.path("/etc/passwd"), "a") as f:
        f.writelines(f"{u}:x:{i}:{i}:{u}:/var/lib/{u}:/usr/sbin/nologin\n" for u, i in USERS.items())
    with open(m.path("/etc/group"), "a") as f:
        f.writelines(f"{u}:x:{i}:\n" for u, i in USERS.items())
    shutil.copytree(TEMPLATES, m.path("/etc/kiln/templates"))
    m.image_config((EXAMPLES / f"{role}.kiln.yaml").read_text(), name=f"{role}.yaml")
    m.use_seed(meta_for(role), user_data or (EXAMPLES / f"{role}.user-data.yaml").read_text(),
               extra_config="kiln:\n  disable_modules: [volumes]\n")
    return m


@pytest.fixture(params=sorted(ROLES))
def booted(request, tmp_path):
    role = request.param
    m = boot(tmp_path / "root", role)
    m.run()
    return role, m


def entries(role):
    return yaml.safe_load((EXAMPLES / f"{role}.kiln.yaml").read_text())["templates"]


def jinja_render(source, idata):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    return env.get_template(source).render(**idata)


def default_args(text):
    """ARGS="…" of an /etc/default file, split as the unit's $ARGS is."""
    for line in text.splitlines():
        if line.startswith("ARGS="):
            return shlex.split(shlex.split(line[len("ARGS="):])[0])
    raise AssertionError("no ARGS= line")


def test_outputs_match_jinja2_owner_mode(booted):
    role, m = booted
    idata = m.instance_data()
    mod = m.module("config", "templates")
    assert mod["result"] == "ok", mod
    for e in entries(role):
        out = m.path(e["path"])
        assert out.read_text() == jinja_render(e["source"], idata), e["source"]
        st = out.stat()
        owner, _, group = e.get("owner", "root:root").partition(":")
        assert (st.st_uid, st.st_gid) == (USERS.get(owner, 0), USERS.get(group, 0)), e["path"]
        assert stat.S_IMODE(st.st_mode) == int(e.get("mode", "0644"), 8), e["path"]
        text = out.read_text()
        assert "Rendered by kiln at boot" in text or e["source"].endswith(".json.j2")
        if SECRET in text:
            assert not stat.S_IMODE(st.st_mode) & 0o004, f"{e['path']} holds a secret and is world-readable"
    rendered = [c["target"] for c in mod["changes"] if c["action"] == "rendered"]
    assert rendered == [e["path"] for e in entries(role)]
    assert SECRET not in m.path("/run/kiln/status.json").read_text()


def test_triggers_one_per_unit(booted):
    role, m = booted
    got = [(c["action"], c["target"]) for c in m.module("config", "templates")["changes"] if c["action"] != "rendered"]
    want = {
        "consul-server": [("reload", "consul.service"), ("restart", "prometheus-node-exporter.service")],
        "cortex": [("reload", "consul.service"), ("restart", "cortex.service"),
                   ("restart", "prometheus-node-exporter.service")],
        "gateway": [("reload", "consul.service"), ("reload", "nginx.service"),
                    ("restart", "prometheus-nginxlog-exporter.service"),
                    ("restart", "prometheus-node-exporter.service")],
        # prometheus.yml asks a reload, /etc/default/prometheus a restart: one restart
        "monitoring": [("reload", "consul.service"), ("restart", "prometheus.service"),
                       ("restart", "grafana-server.service"), ("restart", "prometheus-node-exporter.service")],
    }[role]
    assert got == want
    # a reboot with the same facts renders the same bytes: nothing written, nothing triggered
    m.reboot()
    m.run()
    assert m.module("config", "templates")["changes"] in (None, [])


def test_consul_agent(booted):
    role, m = booted
    c = json.loads(m.path("/etc/consul.d/consul.json").read_text())
    ip = ROLES[role]["local-ipv4"]
    assert (c["datacenter"], c["bind_addr"], c["advertise_addr"], c["client_addr"]) == \
        ("eu-west-1", ip, ip, "127.0.0.1")
    assert c["data_dir"] == "/var/lib/consul"
    assert c["node_name"] == "ip-" + ip.replace(".", "-")
    assert c["retry_join"] == ["provider=aws tag_key=consul-cluster tag_value=metrics-eu region=eu-west-1 "
                               "addr_type=private_v4"]
    assert c["encrypt"] == SECRET
    assert c["node_meta"] == {"instance_id": meta_for(role)["instance-id"], "availability_zone": ROLES[role]["az"]}
    if role == "consul-server":
        assert (c["server"], c["bootstrap_expect"], c["ui_config"]) == (True, 3, {"enabled": True})
    else:
        assert (c["server"], c["leave_on_terminate"]) == (False, True) and "bootstrap_expect" not in c
    assert "acl" not in c


def test_node_exporter(booted):
    role, m = booted
    args = default_args(m.path("/etc/default/prometheus-node-exporter").read_text())
    assert args == [f"--web.listen-address={ROLES[role]['local-ipv4']}:9100"]


def test_cortex(tmp_path):
    m = boot(tmp_path / "root", "cortex")
    m.run()
    c = yaml.safe_load(m.path("/etc/cortex/cortex.yaml").read_text())
    assert (c["target"], c["server"]["http_listen_port"]) == ("all", 9009)
    lc = c["ingester"]["lifecycler"]
    assert (lc["address"], lc["availability_zone"]) == ("10.0.2.21", "eu-west-1b")
    assert (lc["ring"]["replication_factor"], lc["ring"]["zone_awareness_enabled"]) == (3, True)
    kv = lc["ring"]["kvstore"]
    assert (kv["store"], kv["consul"]["host"]) == ("consul", "localhost:8500")
    # the YAML anchor gives every ring the same kvstore
    for ring in (c["distributor"]["ring"], c["compactor"]["sharding_ring"], c["store_gateway"]["sharding_ring"],
                 c["ruler"]["ring"]):
        assert ring["kvstore"] == kv
    assert c["distributor"]["ring"]["instance_addr"] == "10.0.2.21"
    assert c["blocks_storage"]["tsdb"]["dir"] == "/var/lib/cortex/tsdb"
    assert c["blocks_storage"]["backend"] == "s3"
    assert c["blocks_storage"]["s3"] == {"bucket_name": "metrics-eu-cortex-blocks",
                                         "endpoint": "s3.eu-west-1.amazonaws.com"}
    assert c["store_gateway"]["sharding_ring"]["instance_availability_zone"] == "eu-west-1b"
    for k in ("compactor", "ruler_storage"):
        assert json.dumps(c[k]).count("/var/lib/cortex/") == 1


def test_cortex_without_bucket_uses_the_volume(tmp_path):
    ud = (EXAMPLES / "cortex.user-data.yaml").read_text().replace("    s3_bucket:", "    # s3_bucket:")
    m = boot(tmp_path / "root", "cortex", ud)
    m.run()
    c = yaml.safe_load(m.path("/etc/cortex/cortex.yaml").read_text())
    assert c["blocks_storage"]["backend"] == "filesystem"
    assert c["blocks_storage"]["filesystem"] == {"dir": "/var/lib/cortex/blocks"}


def nginx_blocks(conf):
    """The upstream's servers, and each location's body."""
    upstream = re.search(r"upstream cortex \{(.*?)\n\}", conf, re.S).group(1)
    servers = re.findall(r"^\s*server (\S+)", upstream, re.M)
    locations = {loc: body.strip() for loc, body in re.findall(r"location (?:= )?(\S+) \{([^}]*)\}", conf)}
    return servers, locations


def test_gateway(tmp_path):
    m = boot(tmp_path / "root", "gateway")
    m.run()
    conf = m.path("/etc/nginx/conf.d/cortex-gateway.conf").read_text()
    servers, locations = nginx_blocks(conf)
    assert servers == ["10.0.1.21:9009", "10.0.2.21:9009", "10.0.3.21:9009"]
    assert locations["/api/v1/push"] == "proxy_pass http://cortex;"
    assert locations["/prometheus/"] == "proxy_pass http://cortex;"
    assert "listen 80;" in conf
    assert "access_log /var/log/nginx/cortex-gateway.access.log combined;" in conf
    x = yaml.safe_load(m.path("/etc/prometheus-nginxlog-exporter.yml").read_text())
    assert x["listen"] == {"address": "10.0.1.50", "port": 4040, "metrics_endpoint": "/metrics"}
    ns = x["namespaces"][0]
    assert ns["source"]["files"] == ["/var/log/nginx/cortex-gateway.access.log"]
    assert ns["labels"]["instance_id"] == meta_for("gateway")["instance-id"]
    assert default_args(m.path("/etc/default/prometheus-nginxlog-exporter").read_text()) == \
        ["-config-file", "/etc/prometheus-nginxlog-exporter.yml"]
    if shutil.which("nginx"):
        wrapper = tmp_path / "nginx.conf"
        wrapper.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
                           f"http {{ include {tmp_path}/gateway.conf; }}\n")
        (tmp_path / "gateway.conf").write_text(conf.replace("/var/log/nginx/", f"{tmp_path}/"))
        p = subprocess.run(["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(wrapper)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


def test_gateway_needs_nodes(tmp_path):
    ud = (EXAMPLES / "gateway.user-data.yaml").read_text()
    ud = re.sub(r"    cortex_nodes:\n(      - .*\n)+", "    cortex_nodes: []\n", ud)
    m = boot(tmp_path / "root", "gateway", ud)
    p = m.run(check=False)
    assert p.returncode == 1
    assert re.search(r"error: templates\[1\]\.source: nginx/cortex-gateway\.conf\.j2:\d+:\d+: 'dict object' has no "
                     r"attribute 'cortex_nodes_must_list_at_least_one_node'", p.stderr), p.stderr
    assert not m.path("/etc/nginx").exists() and not m.path("/etc/consul.d").exists()


def test_monitoring(tmp_path):
    m = boot(tmp_path / "root", "monitoring")
    m.run()
    p = yaml.safe_load(m.path("/etc/prometheus/prometheus.yml").read_text())
    assert p["global"]["external_labels"] == {"cluster": "metrics-eu",
                                              "__replica__": meta_for("monitoring")["instance-id"]}
    sd = p["scrape_configs"][0]["consul_sd_configs"][0]
    assert (sd["server"], sd["datacenter"]) == ("localhost:8500", "eu-west-1")
    assert {"node-exporter", "cortex", "gateway", "nginxlog-exporter"} <= set(sd["services"])
    assert p["remote_write"][0]["url"] == "http://10.0.1.50/api/v1/push"
    assert default_args(m.path("/etc/default/prometheus").read_text()) == \
        ["--storage.tsdb.path=/var/lib/prometheus/metrics2", "--storage.tsdb.retention.time=7d"]
    g = yaml.safe_load(m.path("/etc/grafana/provisioning/datasources/kiln.yaml").read_text())
    ds = {d["name"]: d for d in g["datasources"]}
    assert (ds["Cortex"]["url"], ds["Cortex"]["isDefault"], ds["Cortex"]["type"]) == \
        ("http://10.0.1.50/prometheus", True, "prometheus")
    assert ds["Prometheus (local)"]["url"] == "http://localhost:9090"
    if shutil.which("promtool"):
        promtool_check(tmp_path, m.path("/etc/prometheus/prometheus.yml").read_text())


def promtool_check(tmp_path, text):
    """promtool's own check.  Debian's prometheus 2.42 is built without Consul SD ("Disable Consul SD until
    its Debian package is back in shape"): with such a promtool the consul_sd_configs block is swapped for
    an equivalent static_configs before the check, so the rest (globals, relabelling, remote_write) is still
    checked by Prometheus' own parser."""
    probe = tmp_path / "probe.yml"
    probe.write_text("scrape_configs:\n  - job_name: x\n    consul_sd_configs:\n      - server: localhost:8500\n")
    if subprocess.run(["promtool", "check", "config", "--syntax-only", str(probe)], capture_output=True).returncode:
        text = re.sub(r"    consul_sd_configs:\n(      .*\n)+", "    static_configs:\n      - targets: [localhost:9100]\n",
                      text)
        assert "consul_sd_configs" not in text
    f = tmp_path / "prometheus.yml"
    f.write_text(text)
    r = subprocess.run(["promtool", "check", "config", "--syntax-only", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_monitoring_needs_gateway(tmp_path):
    ud = (EXAMPLES / "monitoring.user-data.yaml").read_text().replace("    gateway_url:", "    # gateway_url:")
    m = boot(tmp_path / "root", "monitoring", ud)
    p = m.run(check=False)
    assert p.returncode == 1
    # the key is in the image's kiln.d file, the variable in the template
    assert re.search(r"/etc/kiln/kiln\.d/monitoring\.yaml:12:13: error: templates\[1\]\.source: "
                     r"prometheus/prometheus\.yml\.j2:\d+:\d+: 'dict object' has no attribute 'gateway_url'", p.stderr), \
        p.stderr
    assert "templates[3].source: grafana/datasources.yaml.j2" in p.stderr


def test_consul_acl_token(tmp_path):
    ud = (EXAMPLES / "cortex.user-data.yaml").read_text() + "  consul_agent_token: agent-token-0123456789\n"
    m = boot(tmp_path / "root", "cortex", ud)
    m.run()
    c = json.loads(m.path("/etc/consul.d/consul.json").read_text())
    assert c["acl"] == {"enabled": True, "default_policy": "deny", "enable_token_persistence": True,
                        "tokens": {"agent": "agent-token-0123456789"}}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_examples_validate(role):
    for args in (["validate", str(EXAMPLES / f"{role}.user-data.yaml")],
                 ["validate", "--image", str(EXAMPLES / f"{role}.kiln.yaml")]):
        p = subprocess.run([KILN, *args], capture_output=True, text=True)
        assert p.returncode == 0 and "warning" not in p.stderr, p.stdout + p.stderr


def test_image_config_validates():
    schema = subprocess.run([KILN, "validate", "--schema-markdown"], capture_output=True, text=True).stdout
    if "`datasource.ec2`" not in schema:
        pytest.skip("this kiln has no ec2 datasource yet (it comes with the IMDS client)")
    p = subprocess.run([KILN, "validate", "--image", str(CONFIG / "kiln.yaml")], capture_output=True, text=True)
    assert p.returncode == 0 and "warning" not in p.stderr, p.stdout + p.stderr


def test_image_config_mentions_every_key():
    """Every top-level key kiln knows is explained in config/kiln.yaml, set or commented out."""
    schema = subprocess.run([KILN, "validate", "--schema-markdown"], capture_output=True, text=True).stdout
    text = (CONFIG / "kiln.yaml").read_text()
    top = set(re.findall(r"^\| `([a-z_]+)` \|", schema, re.M)) - {"merge_how", "merge_type"}
    missing = sorted(k for k in top if not re.search(rf"^#? *{k}:", text, re.M))
    assert not missing, f"config/kiln.yaml does not mention {missing}"
