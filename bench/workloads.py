"""What the bench asks kiln to do: W1 (the reference role) and W2 (scaling).

Why this shape: W1 is the boot the issue describes -- IMDSv2 on loopback,
Terraform-style jinja user-data that renders five service configuration
files, a host name, one runcmd, Consul registration, an already-formatted
data volume to mount -- so that its numbers answer "what does a Cortex node
pay for kiln at boot".  W2 varies one dimension at a time (templates,
user-data size, Consul services) on top of a minimal boot, so the cost of
that dimension is the difference between two points.

Two kiln features are built on other branches and plug in here when they
reach the binary under test; `features()` asks the binary itself (its key
reference), so nothing needs editing when they land:
  * `templates` -- W1's five files and W2's template scaling are rendered by
    the templates module (sources in the image's /etc/kiln/templates).
    Without it, W1's files come from `write_files` inside the jinja user-data
    (legitimate Terraform-style user-data too) and W2's N files from a
    `{% for %}` loop generating N write_files entries.
    TODO(lead): once the templates module is on main, drop the write_files
    fallback (the `templates=False` branches below) and let the bench fail
    if the key is missing.
  * `consul` -- registration against the Consul emulator (W1's two services,
    W2's 1/10/100); without the module that part is skipped with a note.
"""
import json
import subprocess

# ---- the binary's features --------------------------------------------------------------------------------


def features(kiln):
    """{"templates": bool, "consul": bool}: which optional modules the binary has (from its key reference)."""
    p = subprocess.run([kiln, "validate", "--schema-markdown"], capture_output=True, text=True, check=True)
    keys = {line.split("`")[1] for line in p.stdout.splitlines() if line.startswith("| `")}
    return {"templates": "templates" in keys, "consul": "consul.services" in keys}


# ---- W1's five service configuration files ---------------------------------------------------------------------
# (path, mode, template body): what a Cortex node's role renders from instance data.

W1_FILES = [
    ("/etc/cortex/cortex.yaml", "0640", """\
# rendered by kiln for {{ v1.instance_id }}
target: all
auth_enabled: false
server:
  http_listen_address: {{ v1.local_ipv4 }}
  http_listen_port: 9009
  grpc_listen_port: 9095
distributor:
  ring:
    instance_addr: {{ v1.local_ipv4 }}
    kvstore: {store: consul, prefix: "collectors/"}
ingester:
  lifecycler:
    ring:
      replication_factor: {{ vars.replication_factor }}
      zone_awareness_enabled: true
    availability_zone: {{ v1.availability_zone }}
    final_sleep: 0s
blocks_storage:
  backend: s3
  s3:
    bucket_name: {{ vars.cluster }}-blocks
    endpoint: s3.{{ v1.region }}.amazonaws.com
  tsdb:
    dir: /var/lib/cortex/tsdb
memberlist:
  join_members: [{{ vars.cluster }}.service.consul]
"""),
    ("/etc/default/node-exporter", "0644", """\
# rendered by kiln
ARGS="--web.listen-address={{ v1.local_ipv4 }}:9100 --collector.systemd --collector.textfile.directory=/var/lib/node-exporter"
"""),
    ("/etc/nginx/conf.d/cortex-gateway.conf", "0644", """\
upstream cortex {
{%- for port in [9009, 9095] %}
    server {{ v1.local_ipv4 }}:{{ port }};
{%- endfor %}
}
server {
    listen 80;
    server_name {{ tags.Name }}.{{ v1.region }}.internal;
    location / { proxy_pass http://cortex; }
}
"""),
    ("/etc/promtail/promtail.yaml", "0644", """\
server: {http_listen_port: 9080}
clients:
  - url: http://loki.service.consul:3100/loki/api/v1/push
scrape_configs:
  - job_name: journal
    journal:
      labels:
{%- for k, v in tags | dictsort %}
        {{ k | lower }}: "{{ v }}"
{%- endfor %}
        instance: {{ v1.instance_id }}
        az: {{ v1.availability_zone }}
"""),
    ("/etc/systemd/system/cortex.service.d/10-kiln.conf", "0644", """\
[Service]
Environment=CORTEX_CLUSTER={{ vars.cluster }}
Environment=CORTEX_AZ={{ v1.availability_zone }}
Environment=CORTEX_INSTANCE={{ v1.instance_id }}
Environment=GOMAXPROCS=2
"""),
]

W1_VARS = {"cluster": "cortex-prod", "replication_factor": 3}


def _indent(text, n):
    pad = " " * n
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def _template_name(path):
    return path.strip("/").replace("/", "_") + ".j2"


def image_templates(files):
    """{image path: content} of the template sources baked into the image (templates module)."""
    return {f"/etc/kiln/templates/{_template_name(p)}": body for p, _, body in files}


def _files_part(files, templates):
    """The user-data lines that produce `files`: a templates list, or write_files with the bodies inline."""
    if templates:
        out = ["templates:"]
        for path, mode, _ in files:
            out += [f"  - source: {_template_name(path)}", f"    path: {path}", f'    mode: "{mode}"']
        return "\n".join(out) + "\n"
    out = ["write_files:"]
    for path, mode, body in files:
        # user-data's own vars are not visible to its jinja (it is rendered before it is merged):
        # put the values in, as Terraform's templatefile() would
        for k, v in W1_VARS.items():
            body = body.replace("{{ vars.%s }}" % k, str(v))
        out += [f"  - path: {path}", f'    permissions: "{mode}"', "    content: |", _indent(body, 6).rstrip("\n")]
    return "\n".join(out) + "\n"


# ---- Consul -------------------------------------------------------------------------------------------------------

def consul_services(n):
    services = []
    for i in range(n):
        name = "cortex" if i == 0 else f"svc-{i:03d}"
        services.append({"name": name, "port": 9009 + i, "tags": [name, "az-{{ v1.availability_zone }}"],
                         "checks": [{"http": "/ready", "interval": "10s", "timeout": "2s"}]})
    return services


def _consul_part(n_services):
    services = consul_services(n_services)
    return "consul:\n  services: " + json.dumps(services) + "\n"


def consul_image_config(address):
    return f"consul:\n  address: {address}\n  register_timeout: 10\n"


# ---- W1 ---------------------------------------------------------------------------------------------------------

def w1_user_data(volume_device, volume_label, feats):
    """The reference role's user-data (jinja, as Terraform's templatefile + cloudinit_config would hand it)."""
    parts = ["## template: jinja\n#cloud-config\n",
             "hostname: {{ tags.Role }}-{{ v1.instance_id[2:10] }}\n",
             "vars: " + json.dumps(W1_VARS) + "\n",
             _files_part(W1_FILES, feats["templates"]),
             "runcmd:\n  - [sh, -c, 'echo \"cortex node $KILN_INSTANCE_ID ready\" > \"$KILN_ROOT/var/log/bench-runcmd.log\"']\n"]
    if volume_device:
        parts.append("volumes:\n"
                     f"  - device: {volume_device}\n"
                     f"    label: {volume_label}\n"
                     "    filesystem: ext4\n"
                     "    mountpoint: /var/lib/cortex\n")
    if feats["consul"]:
        parts.append(_consul_part(2))
    return "".join(parts)


def w1_expected_files():
    return [p for p, _, _ in W1_FILES]


# ---- W2 ---------------------------------------------------------------------------------------------------------

_W2_BASE = "## template: jinja\n#cloud-config\nhostname: {{ tags.Role }}-{{ v1.instance_id[2:10] }}\n"

W2_TEMPLATE_BODY = """\
# service {{ n }} on {{ v1.instance_id }}
listen = "{{ v1.local_ipv4 }}:{{ 10000 + n }}"
zone = "{{ v1.availability_zone }}"
region = "{{ v1.region }}"
cluster = "{{ tags.ConsulCluster }}"
"""


def w2_template_files(n):
    return [(f"/etc/bench/svc{i:04d}.conf", "0644", W2_TEMPLATE_BODY.replace("{{ n }}", str(i))
             .replace("10000 + n", f"10000 + {i}")) for i in range(n)]


def w2_templates(n, feats):
    """(user-data, image files, image config) rendering n files."""
    if feats["templates"]:
        files = w2_template_files(n)
        image_cfg = "templates:\n" + "".join(
            f"  - source: {_template_name(p)}\n    path: {p}\n" for p, _, _ in files)
        return _W2_BASE, image_templates(files), image_cfg
    # One jinja loop in the user-data writes the n files: the same rendering, the same writes.
    body = W2_TEMPLATE_BODY.replace("{{ n }}", "{{ i }}").replace("10000 + n", "10000 + i")
    ud = (_W2_BASE + "write_files:\n{%- for i in range(" + str(n) + ") %}\n"
          "  - path: /etc/bench/svc{{ '%04d' % i }}.conf\n    content: |\n" + _indent(body, 6).rstrip("\n")
          + "\n{%- endfor %}\n")
    return ud, {}, ""


def w2_user_data_of_size(size):
    """Jinja cloud-config of exactly `size` bytes: a host name, one file, and vars filling the rest."""
    text = (_W2_BASE + "write_files:\n  - path: /etc/bench/settings.conf\n    content: |\n"
            "      region={{ v1.region }}\n      zone={{ v1.availability_zone }}\n"
            "vars:\n")
    pad_overhead = len('  pad: ""\n')
    i = 0
    while True:
        line = f"  setting_{i:04d}: \"value {i:04d} for {{{{ v1.region }}}}\"\n"
        if len(text) + len(line) + pad_overhead > size:
            break
        text += line
        i += 1
    text += '  pad: "' + "x" * (size - len(text) - pad_overhead) + '"\n'
    assert len(text.encode()) == size, (len(text), size)
    return text


def w2_services(n):
    return _W2_BASE + _consul_part(n)
