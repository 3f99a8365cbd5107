"""kiln's boot benchmark (issue 10): W1, the reference role, and W2, scaling.

    /usr/bin/python3 bench/bench.py --kiln build-release/kiln --spawn build-release/bench-spawn [options]

bench/run.sh is the one command (it builds the release binary and the
stopwatch first); see docs/performance.md for what the numbers mean.

Why this shape:
  * every repetition is a first boot of a new instance: a fresh scratch root,
    the four stages run as four processes, exactly as the four units run
    them (`kiln run --stage local|network|config|final`), so each stage pays
    its own process start-up, as it does at boot;
  * the "reboot" variant boots the same root again: new boot id, /run wiped,
    the volume unmounted -- per-instance work is skipped, per-boot work runs;
  * numbers come from outside kiln (bench/spawn.c: wall, user+sys CPU, peak
    RSS) and from the emulators (IMDS requests and bytes); per-stage and
    per-module times also from kiln's own status.json (what `kiln analyze`
    prints);
  * every boot is checked (exit codes, no errors in status, the files, the
    host name, the runcmd, the mount): a benchmark of a boot that silently
    failed would measure nothing;
  * it asserts no timing: targets are reported as met or missed, never
    enforced (benchmarks are not tests).
"""
import argparse
import datetime
import json
import os
import sys
from pathlib import Path

import report
import rig
import workloads
from harness import Consul, Imds

STAGES = ["local", "network", "config", "final"]
PY = "/usr/bin/python3"

# The targets (KB and MB are 1000 and 1000*1000 bytes: the stricter reading).
TARGETS = {"w1_wall_ms": 10.0, "w1_rss_bytes": 6_000_000, "w1_imds_requests": 12, "per_template_us": 50.0,
           "version_ms": 1.0, "binary_bytes": 400_000}


class Boot:
    """One boot: the four stage processes and what the emulators saw."""

    def __init__(self, runs, status, imds_stats, consul_stats):
        self.runs = runs  # stage -> rig.Measured
        self.inproc_ms = {}
        self.modules = {}
        for st in STAGES:
            s = status.get(st) or {}
            if isinstance(s.get("start"), (int, float)) and isinstance(s.get("finished"), (int, float)):
                self.inproc_ms[st] = (s["finished"] - s["start"]) * 1000.0
            for name, m in (s.get("modules") or {}).items():
                self.modules[f"{st}/{name}"] = (m.get("duration_ms", 0.0), m.get("result"))
        self.imds_ms = (status.get("datasource_stats") or {}).get("elapsed_ms", float("nan"))
        self.imds_requests = imds_stats["requests"]
        self.imds_bytes = imds_stats["bytes_out"] + imds_stats["bytes_in"]
        self.consul_requests = consul_stats["requests"] if consul_stats else None

    @property
    def wall_ms(self):
        return sum(m.wall_ms for m in self.runs.values())

    @property
    def cpu_ms(self):
        return sum(m.cpu_ms for m in self.runs.values())

    @property
    def rss_kb(self):
        return max(m.maxrss_kb for m in self.runs.values())


class Bench:
    def __init__(self, args, workdir, imds, consul, feats):
        self.kiln = str(Path(args.kiln).resolve())
        self.args = args
        self.wd = workdir
        self.imds = imds
        self.consul = consul
        self.feats = feats
        self.env = rig.kiln_env()
        self.notes = []
        self.volume = None

    def image_config(self, extra=""):
        cfg = "datasource:\n  name: ec2\n  ec2: " + json.dumps(
            {"metadata_urls": [self.imds.endpoint], "timeout": 2, "max_wait": 30}) + "\n"
        if self.consul:
            cfg += workloads.consul_image_config(self.consul.endpoint)
        return cfg + extra

    def new_root(self, name, image_files=None, image_extra=""):
        root = rig.ScratchRoot(self.wd, name)
        root.machine.image_config(self.image_config())
        if image_extra:
            root.machine.image_config(image_extra, name="bench.yaml")
        for path, content in (image_files or {}).items():
            root.machine.write(path, content)
        return root

    def boot(self, root, tag, one_process=False):
        """The four stages as the units run them (four processes), or all in one `kiln run`."""
        self.imds.reset_stats()
        if self.consul:
            self.consul.reset_stats()
        runs = {}
        if one_process:
            argv = [self.kiln, "--root", str(root.path), "run"]
            runs["all"] = rig.run_measured(argv, self.env, str(self.wd.logs), f"{tag}-all").check()
        for st in [] if one_process else STAGES:
            argv = [self.kiln, "--root", str(root.path), "run", "--stage", st]
            runs[st] = rig.run_measured(argv, self.env, str(self.wd.logs), f"{tag}-{st}").check()
        status = root.status()
        errors = [e for st in STAGES for e in (status.get(st) or {}).get("errors", [])]
        if errors:
            raise RuntimeError(f"{tag}: the boot recorded errors: {errors}\n" +
                               "\n".join(m.output() for m in runs.values()))
        return Boot(runs, status, self.imds.stats(), self.consul.stats() if self.consul else None)


# ---- checks: the boot did what was asked ------------------------------------------------------------------------

def check_w1(bench, root, first_boot):
    m = root.machine
    for path in workloads.w1_expected_files():
        text = m.path(path).read_text()
        if "{{" in text or ("10.0.1.23" not in text and "cortex" not in text):
            raise RuntimeError(f"{path} was not rendered: {text[:200]!r}")
    if not m.path("/etc/hostname").read_text().startswith("cortex-"):
        raise RuntimeError("the host name was not set")
    if first_boot and "ready" not in m.path("/var/log/bench-runcmd.log").read_text():
        raise RuntimeError("the runcmd did not run")
    if bench.volume and not rig._mount_targets_under(str(m.path("/var/lib/cortex"))):
        raise RuntimeError("the data volume is not mounted")
    if bench.consul and "cortex" not in bench.consul.services():
        raise RuntimeError("cortex was not registered with Consul")


def check_files(root, directory, n):
    found = len(list(root.machine.path(directory).glob("*"))) if root.machine.path(directory).exists() else 0
    if found != n:
        raise RuntimeError(f"{directory}: {found} files rendered, {n} expected")


# ---- the workloads -----------------------------------------------------------------------------------------------

def run_w1(bench, reps, warmup):
    device, label = (bench.volume.device, bench.volume.label) if bench.volume else (None, None)
    bench.imds.set_user_data(workloads.w1_user_data(device, label, bench.feats))
    image_files = workloads.image_templates(workloads.W1_FILES) if bench.feats["templates"] else {}
    first, again, single = [], [], []
    for i in range(warmup + reps):
        if bench.consul:
            bench.consul.reset_state()
        root = bench.new_root(f"w1-{i:03d}", image_files)
        try:
            fb = bench.boot(root, f"w1-{i:03d}-first")
            check_w1(bench, root, True)
            root.reboot()
            rb = bench.boot(root, f"w1-{i:03d}-reboot")
            check_w1(bench, root, False)
        finally:
            root.remove()
        if bench.consul:
            bench.consul.reset_state()
        root = bench.new_root(f"w1-{i:03d}-one", image_files)
        try:
            sb = bench.boot(root, f"w1-{i:03d}-one", one_process=True)
            check_w1(bench, root, True)
        finally:
            root.remove()
        if i >= warmup:
            first.append(fb)
            again.append(rb)
            single.append(sb)
        progress(f"W1 {i + 1}/{warmup + reps}")
    return first, again, single


def run_w2_point(bench, reps, warmup, tag, user_data, image_files=None, image_extra="", check=None,
                 reboots=None):
    """First boots of the point; with reboots (a list), each root is also rebooted once and measured."""
    bench.imds.set_user_data(user_data)
    boots = []
    for i in range(warmup + reps):
        if bench.consul:
            bench.consul.reset_state()
        root = bench.new_root(f"{tag}-{i:03d}", image_files, image_extra)
        try:
            b = bench.boot(root, f"{tag}-{i:03d}")
            if check:
                check(root)
            if reboots is not None:
                root.reboot()
                rb = bench.boot(root, f"{tag}-{i:03d}-reboot")
                if i >= warmup:
                    reboots.append(rb)
        finally:
            root.remove()
        if i >= warmup:
            boots.append(b)
    progress(f"W2 {tag} done")
    return boots


def run_w2(bench, reps, warmup, sizes):
    out = {"templates": {}, "templates, reboot": {}, "user-data": {}, "services": {}}
    for n in sizes["templates"]:
        ud, files, cfg = workloads.w2_templates(n, bench.feats)
        out["templates, reboot"][n] = []
        out["templates"][n] = run_w2_point(bench, reps, warmup, f"w2-tpl{n}", ud, files, cfg,
                                           check=lambda root, n=n: check_files(root, "/etc/bench", n),
                                           reboots=out["templates, reboot"][n])
    for kib in sizes["user-data"]:
        out["user-data"][kib] = run_w2_point(bench, reps, warmup, f"w2-ud{kib}k",
                                             workloads.w2_user_data_of_size(kib * 1024))
    if bench.consul:
        for n in sizes["services"]:
            out["services"][n] = run_w2_point(bench, reps, warmup, f"w2-svc{n}", workloads.w2_services(n))
    return out


def run_startup(bench, reps):
    """`kiln version` against the cost of starting any process (/bin/true)."""
    res = {}
    for name, argv in (("true", ["/bin/true"]), ("version", [bench.kiln, "version"])):
        runs = [rig.run_measured(argv, bench.env, str(bench.wd.logs), f"startup-{name}").check()
                for _ in range(reps + 5)][5:]
        res[name] = runs
    return res


def progress(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- the report ---------------------------------------------------------------------------------------------------

def boot_rows(label, boots, stages=STAGES):
    rows = []
    for st in stages + ["all"]:
        pick = (lambda b: b.runs[st]) if st != "all" else (lambda b: b)
        walls = [pick(b).wall_ms for b in boots]
        cpus = [pick(b).cpu_ms for b in boots]
        rss = [pick(b).maxrss_kb if st != "all" else b.rss_kb for b in boots]
        inproc = [b.inproc_ms.get(st, float("nan")) for b in boots] if st != "all" else \
            [sum(b.inproc_ms.values()) for b in boots]
        imds = f"{report.median([b.imds_requests for b in boots]):.0f} / {report.median([b.imds_bytes for b in boots]):.0f}" \
            if st in ("network", "all") else ""
        rows.append([f"{label}, {st}" if st != "all" else f"**{label}, all stages**",
                     report.ms(report.median(walls)), report.ms(report.p90(walls)), report.ms(report.median(cpus)),
                     report.ms(report.median(inproc)), report.mib(max(rss)), imds])
    return rows


BOOT_HEADER = ["boot", "wall median (ms)", "wall p90 (ms)", "CPU user+sys median (ms)", "in kiln (ms)",
               "peak RSS max (MiB)", "IMDS requests / bytes"]


def top_modules(boots, n=8):
    names = sorted({k for b in boots for k in b.modules})
    med = [(report.median([b.modules[k][0] for b in boots if k in b.modules]), k) for k in names]
    med.sort(reverse=True)
    return [[k, report.ms(v)] for v, k in med[:n]]


def w2_rows(points, unit):
    rows = []
    for key, boots in points.items():
        walls = [b.wall_ms for b in boots]
        cpus = [b.cpu_ms for b in boots]
        rows.append([f"{key}{unit}", report.ms(report.median(walls)), report.ms(report.p90(walls)),
                     report.ms(report.median(cpus)), report.mib(max(b.rss_kb for b in boots)),
                     f"{report.median([b.imds_requests for b in boots]):.0f} / "
                     f"{report.median([b.imds_bytes for b in boots]):.0f}",
                     "" if boots[0].consul_requests is None else f"{report.median([b.consul_requests for b in boots]):.0f}"])
    return rows


W2_HEADER = ["point", "wall median (ms)", "wall p90 (ms)", "CPU median (ms)", "peak RSS max (MiB)",
             "IMDS requests / bytes", "Consul requests"]


def per_item_us(points, lo, hi, attr):
    if lo not in points or hi not in points:
        return None
    a = report.median([getattr(b, attr) for b in points[lo]])
    z = report.median([getattr(b, attr) for b in points[hi]])
    return (z - a) / (hi - lo) * 1000.0


def verdict(value, goal):
    return "n/a" if value is None else ("met" if value <= goal else "**missed**")


def render(bench, w1, w2, startup, binary_bytes, header):
    out = [header]
    t = TARGETS
    first, again, single = w1 if w1 else ([], [], [])
    version = startup["version"] if startup else []
    tpl = w2["templates"] if w2 else {}
    per_tpl = per_item_us(tpl, min(tpl), max(tpl), "wall_ms") if len(tpl) > 1 else None
    per_tpl_cpu = per_item_us(tpl, min(tpl), max(tpl), "cpu_ms") if len(tpl) > 1 else None
    out.append("\n### Targets\n\n")
    rows = []
    if first:
        w = report.median([b.wall_ms for b in first])
        rss = max(b.rss_kb for b in first) * 1024
        req = max(b.imds_requests for b in first)
        rows += [["W1 all stages, median wall", f"≤ {t['w1_wall_ms']:.0f} ms", f"{w:.2f} ms",
                  verdict(w, t["w1_wall_ms"])],
                 ["W1 peak RSS (largest of all processes, all repetitions)", "≤ 6 MB",
                  f"{rss / 1e6:.2f} MB ({rss / 1048576:.2f} MiB)", verdict(rss, t["w1_rss_bytes"])],
                 ["W1 IMDS requests", f"≤ {t['w1_imds_requests']}", str(req), verdict(req, t["w1_imds_requests"])]]
    if per_tpl is not None:
        rows.append([f"cost per template at {max(tpl)} templates (wall; CPU {per_tpl_cpu:.1f} µs)", "≤ 50 µs",
                     f"{per_tpl:.1f} µs", verdict(per_tpl, t["per_template_us"])])
    if version:
        v = report.median([m.wall_ms for m in version])
        rows.append(["`kiln version`, median wall", "≤ 1 ms", f"{v:.3f} ms", verdict(v, t["version_ms"])])
    rows.append(["stripped binary", "≤ 400 KB", f"{binary_bytes / 1000:.1f} KB ({binary_bytes} bytes)",
                 verdict(binary_bytes, t["binary_bytes"])])
    out.append(report.table(["target", "goal", "measured", ""], rows))
    if first:
        out.append(f"\n### W1: the reference role ({len(first)} repetitions, each a first boot and a reboot)\n\n")
        out.append(report.table(BOOT_HEADER, boot_rows("first boot", first) + boot_rows("reboot", again) +
                                boot_rows("first boot, one process (`kiln run`)", single, stages=[])))
        out.append("\nSlowest steps of a first boot (median ms, from status.json: the IMDS fetch, then modules):\n\n")
        out.append(report.table(["step", "median (ms)"],
                                [["network/IMDS fetch (datasource_stats.elapsed_ms)",
                                  report.ms(report.median([b.imds_ms for b in first]))]] + top_modules(first)))
    if w2:
        out.append(f"\n### W2: scaling ({len(next(iter(tpl.values()), []))} repetitions per point, first boots, "
                   "all four stages)\n\n")
        out.append(report.table(W2_HEADER, w2_rows(w2["templates"], " templates")
                                + w2_rows(w2["templates, reboot"], " templates, reboot (files unchanged)")
                                + w2_rows(w2["user-data"], " KiB user-data")
                                + w2_rows(w2["services"], " Consul services")))
        if per_tpl is not None:
            out.append(f"\nPer template ({min(tpl)} → {max(tpl)}): {per_tpl:.1f} µs wall, {per_tpl_cpu:.1f} µs CPU.\n")
            rb = w2["templates, reboot"]
            out.append(f"Per template on a reboot, files unchanged ({min(rb)} → {max(rb)}): "
                       f"{per_item_us(rb, min(rb), max(rb), 'wall_ms'):.1f} µs wall, "
                       f"{per_item_us(rb, min(rb), max(rb), 'cpu_ms'):.1f} µs CPU"
                       + ("" if bench.feats["templates"] else " (write_files runs once per instance: on a reboot "
                          "only the user-data's jinja loop is left)") + ".\n")
        ud = w2["user-data"]
        if len(ud) > 1:
            lo, hi = min(ud), max(ud)
            out.append(f"Per KiB of user-data ({lo} → {hi} KiB): "
                       f"{per_item_us(ud, lo, hi, 'wall_ms'):.1f} µs wall, {per_item_us(ud, lo, hi, 'cpu_ms'):.1f} µs CPU.\n")
        sv = w2["services"]
        if len(sv) > 1:
            lo, hi = min(sv), max(sv)
            out.append(f"Per Consul service ({lo} → {hi}): {per_item_us(sv, lo, hi, 'wall_ms'):.1f} µs wall, "
                       f"{per_item_us(sv, lo, hi, 'cpu_ms'):.1f} µs CPU.\n")
    if startup:
        out.append(f"\n### Start-up ({len(version)} runs each)\n\n")
        rows = []
        for name, label in (("true", "`/bin/true` (the cost of any process)"), ("version", "`kiln version`")):
            runs = startup[name]
            rows.append([label, report.ms(report.median([m.wall_ms for m in runs])),
                         report.ms(report.p90([m.wall_ms for m in runs])),
                         report.ms(report.median([m.cpu_ms for m in runs])), report.mib(max(m.maxrss_kb for m in runs))])
        out.append(report.table(["command", "wall median (ms)", "wall p90 (ms)", "CPU median (ms)", "peak RSS (MiB)"],
                                rows))
    if bench.notes:
        out.append("\nNotes:\n\n" + "".join(f"- {n}\n" for n in bench.notes))
    return "".join(out)


# ---- main -----------------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description="kiln's boot benchmark (W1, W2, start-up)")
    p.add_argument("--kiln", required=True, help="the kiln binary to measure (bench/run.sh: the release build)")
    p.add_argument("--spawn", required=True, help="the compiled bench/spawn.c")
    p.add_argument("--smoke", action="store_true", help="a tiny run (seconds): proves the bench works, measures little")
    p.add_argument("--reps", type=int, help="W1 repetitions (default 50; smoke 3)")
    p.add_argument("--w2-reps", type=int, help="repetitions per W2 point (default 20; smoke 2)")
    p.add_argument("--only", default="w1,w2,startup", help="comma-separated subset of w1,w2,startup")
    p.add_argument("--workdir", default="/var/tmp", help="where scratch roots are made (default /var/tmp)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs of every run)")
    p.add_argument("--out", help="also write the results (markdown) to this file")
    p.add_argument("--json", help="also write raw numbers (JSON) to this file")
    p.add_argument("--doc", help="rewrite the results section of this document (docs/performance.md)")
    p.add_argument("--command", default="bench/run.sh", help="the command line to record in the report")
    p.add_argument("--binary-label", help="what the binary is, for the report (default: this commit's release build)")
    return p.parse_args(argv)


def raw(w1, w2, startup):
    def boots(bs):
        return [{"wall_ms": b.wall_ms, "cpu_ms": b.cpu_ms, "rss_kb": b.rss_kb, "imds_requests": b.imds_requests,
                 "imds_bytes": b.imds_bytes, "consul_requests": b.consul_requests,
                 "stages": {st: {"wall_ms": m.wall_ms, "cpu_ms": m.cpu_ms, "rss_kb": m.maxrss_kb,
                                 "inproc_ms": b.inproc_ms.get(st)} for st, m in b.runs.items()},
                 "modules": b.modules} for b in bs]
    return {"w1": {"first": boots(w1[0]), "reboot": boots(w1[1]), "one_process": boots(w1[2])} if w1 else None,
            "w2": {dim: {str(k): boots(v) for k, v in pts.items()} for dim, pts in w2.items()} if w2 else None,
            "startup": {k: [{"wall_ms": m.wall_ms, "cpu_ms": m.cpu_ms, "rss_kb": m.maxrss_kb} for m in v]
                        for k, v in startup.items()} if startup else None}


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    rig.SPAWN = str(Path(args.spawn).resolve())
    only = set(args.only.split(","))
    reps = args.reps or (3 if args.smoke else 50)
    w2_reps = args.w2_reps or (2 if args.smoke else 20)
    warmup = 1 if args.smoke else 2
    sizes = ({"templates": [1, 10], "user-data": [1], "services": [1]} if args.smoke else
             {"templates": [1, 10, 100, 1000], "user-data": [1, 4, 16], "services": [1, 10, 100]})
    feats = workloads.features(args.kiln)
    info = report.machine_info(rig.SOURCE_DIR)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    with rig.WorkDir(args.workdir, keep=args.keep) as wd, Imds(python=PY) as imds:
        consul = Consul(python=PY).start() if feats["consul"] else None
        try:
            bench = Bench(args, wd, imds, consul, feats)
            if not feats["consul"]:
                bench.notes.append("Consul registration skipped: this kiln has no `consul` module yet "
                                   "(W1 runs without it, W2's services points are not run).")
            if not feats["templates"]:
                bench.notes.append("Files rendered with `write_files` in jinja user-data: this kiln has no "
                                   "`templates` module yet (W2: one `{% for %}` loop writes the N files).")
            if rig.is_root() and "w1" in only:
                bench.volume = rig.LoopVolume(wd)
            elif "w1" in only:
                bench.notes.append("Not root: no data volume (no loop device), /run not on tmpfs.")
            host_fs = "%s on %s" % rig.filesystem_of(wd.path)
            fs = {"root": (f"ext4 on {wd.roots_fs} (a loop file made for the run, on the host's {host_fs})"
                           if wd.roots_fs else host_fs),
                  "run": "tmpfs (mounted per scratch root)" if rig.is_root() else "same as the root",
                  "volume": f"ext4 on {bench.volume.device} (a loop file on the host's filesystem, formatted once)"
                  if bench.volume else "none"}
            w1 = run_w1(bench, reps, warmup) if "w1" in only else None
            w2 = run_w2(bench, w2_reps, warmup, sizes) if "w2" in only else None
            startup = run_startup(bench, 20 if args.smoke else 300) if "startup" in only else None
        finally:
            if consul:
                consul.stop()
                consul.cleanup()

    stripped = Path(args.spawn).with_name("kiln.stripped")
    rig.sh("strip", "-o", stripped, args.kiln)
    binary_bytes = os.path.getsize(stripped)
    header = report.machine_section(info, fs, args.command + (" --smoke" if args.smoke else ""), started,
                                    Path("/proc/loadavg").read_text().split()[:3], args.binary_label)
    text = render(bench, w1, w2, startup, binary_bytes, header)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(raw(w1, w2, startup), indent=1))
    if args.doc:
        report.update_doc(args.doc, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
