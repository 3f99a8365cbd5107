"""The template engine where the core uses it: `kiln render`, `kiln query
--format`, `## template: jinja` user-data (rendered against instance-data,
errors at the part's line and column), `kiln validate --data`, and config
values that are templates (hostname)."""
import json

from kilntest import DEFAULT_META


def test_query_format(machine):
    machine.use_seed(user_data="#cloud-config\nvars: {role: cortex}\n")
    machine.run()
    out = machine.kiln("query", "--format", "{{ v1.region }}/{{ vars.role }}/{{ tags.Role | upper }}").stdout
    assert out == "eu-west-1/cortex/CORTEX\n"
    p = machine.kiln("query", "--format", "{{ v1.nope }}", check=False)
    assert p.returncode == 1 and "--format:1:" in p.stderr and "nope" in p.stderr


def test_render_against_instance_data_and_data_file(machine, tmp_path):
    machine.use_seed()
    machine.run()
    t = tmp_path / "t" / "node.j2"
    t.parent.mkdir()
    (t.parent / "common.j2").write_text("az={{ v1.availability_zone }}")
    t.write_text("ip={{ ds.meta_data.local_ipv4 }} {% include 'common.j2' %}\n")
    # as the templates module renders: the final newline stays
    assert machine.kiln("render", str(t)).stdout == "ip=10.0.1.23 az=eu-west-1a\n"
    data = tmp_path / "data.yaml"
    data.write_text("ds: {meta_data: {local_ipv4: 192.0.2.1}}\nv1: {availability_zone: x-1b}\n")
    assert machine.kiln("render", str(t), "--data", str(data)).stdout == "ip=192.0.2.1 az=x-1b\n"
    t.write_text("line one\n{{ missing.thing }}\n")
    p = machine.kiln("render", str(t), check=False)
    assert p.returncode == 1 and f"{t}:2:4: error:" in p.stderr and p.stdout == ""


JINJA_UD = """## template: jinja
#cloud-config
runcmd:
  - echo "{{ v1.instance_id }} in {{ v1.availability_zone }}" >> "$KILN_ROOT/jinja.log"
hostname: cortex-{{ v1.instance_id | replace('i-', '') }}
"""


def test_jinja_user_data(machine):
    machine.use_seed(user_data=JINJA_UD)
    machine.run()
    assert machine.path("jinja.log").read_text() == "i-0123456789abcdef0 in eu-west-1a\n"
    assert machine.path("/etc/hostname").read_text() == "cortex-0123456789abcdef0\n"


def test_jinja_user_data_undefined_variable_changes_nothing(machine):
    machine.use_seed(user_data=JINJA_UD.replace("v1.availability_zone", "v1.availability_zon"))
    p = machine.run(check=False)
    assert p.returncode == 1
    assert "user-data:4:" in p.stderr and "availability_zon" in p.stderr
    assert not machine.path("jinja.log").exists()
    assert not machine.path("/etc/hostname").exists()


def test_jinja_rendering_to_bad_yaml_points_at_the_part_line(machine):
    machine.use_seed(user_data="## template: jinja\n#cloud-config\nruncmd: {{ v1.region }}\n")
    p = machine.run(check=False)
    assert p.returncode == 1
    assert "user-data:3:9: error: runcmd: expected list, got string" in p.stderr


def test_jinja_script_part(machine):
    machine.use_seed(user_data="## template: jinja\n#!/bin/sh\necho {{ v1.region }} > \"$KILN_ROOT/s.log\"\n")
    machine.run()
    assert machine.path("s.log").read_text() == "eu-west-1\n"


def test_validate_jinja_off_instance_and_with_data(machine, tmp_path):
    ud = tmp_path / "ud.yaml"
    ud.write_text(JINJA_UD)
    p = machine.kiln("validate", str(ud))
    assert "checked for syntax only" in p.stderr and "valid (1 warning)" in p.stdout
    ud.write_text(JINJA_UD.replace("{{ v1.instance_id }}", "{{ v1.instance_id }"))
    p = machine.kiln("validate", str(ud), check=False)
    assert p.returncode == 1 and f"{ud}:4:" in p.stderr
    data = tmp_path / "instance.json"
    data.write_text(json.dumps({"v1": {"instance_id": "i-1", "availability_zone": "z"}}))
    ud.write_text(JINJA_UD)
    p = machine.kiln("validate", str(ud), "--data", str(data))
    assert p.returncode == 0 and "warning" not in p.stderr
    data.write_text(json.dumps({"v1": {"instance_id": "i-1"}}))
    p = machine.kiln("validate", str(ud), "--data", str(data), check=False)
    assert p.returncode == 1 and "availability_zone" in p.stderr


def test_templated_hostname_follows_the_instance(machine):
    machine.use_seed(user_data="#cloud-config\nhostname: \"cortex-{{ v1.instance_id[-4:] }}\"\n")
    machine.run()
    assert machine.path("/etc/hostname").read_text() == "cortex-def0\n"
    machine.reboot()
    machine.seed(dict(DEFAULT_META, **{"instance-id": "i-0aaaaaaaaaaaa1234"}),
                 "#cloud-config\nhostname: \"cortex-{{ v1.instance_id[-4:] }}\"\n")
    machine.run()
    assert machine.path("/etc/hostname").read_text() == "cortex-1234\n"


def test_templated_hostname_is_consuls_node_name(machine):
    machine.write("/etc/group", "root:x:0:\nconsul:x:998:\n")
    machine.use_seed(user_data="#cloud-config\nhostname: \"cortex-{{ v1.instance_id[-4:] }}\"\n"
                               "consul:\n  agent:\n    server: false\n")
    machine.run()
    agent = json.loads(machine.path("/etc/consul.d/kiln-agent.json").read_text())
    assert agent["node_name"] == "cortex-def0"


def test_render_role_template_includes_from_the_image_dir(machine, tmp_path):
    machine.use_seed()
    machine.run()
    machine.write("/etc/kiln/templates/partials/header.j2", "# {{ v1.instance_id }}")
    t = machine.write("/etc/kiln/templates/cortex/cortex.yaml.j2", "{% include 'partials/header.j2' %}\nok\n")
    assert machine.kiln("render", str(t)).stdout == "# i-0123456789abcdef0\nok\n"
    # elsewhere: the template's own directory, or --include-dir
    other = tmp_path / "elsewhere" / "t.j2"
    other.parent.mkdir()
    other.write_text("{% include 'partials/header.j2' %}")
    assert machine.kiln("render", str(other), check=False).returncode == 1
    p = machine.kiln("render", str(other), "--include-dir", str(machine.path("/etc/kiln/templates")))
    assert p.stdout == "# i-0123456789abcdef0"
