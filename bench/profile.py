"""Profile one stage of a W1 boot under a tool (callgrind, perf, strace, ltrace...).

    /usr/bin/python3 bench/profile.py --kiln build-release/kiln --stage network [--reboot] \\
        -- valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out

Sets up the same scratch root, emulators and volume as the bench's W1, runs
the stages before STAGE normally, then STAGE with the given command line
in front of kiln (its output is shown), and cleans up.  Why: a profile of
kiln alone in a half-made root measures the wrong thing; this is the
bench's own boot, stopped where the profile starts.
"""
import argparse
import os
import subprocess
import sys

import bench as bm
import rig
import workloads
from harness import Consul, Imds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kiln", required=True)
    p.add_argument("--stage", required=True, choices=bm.STAGES)
    p.add_argument("--reboot", action="store_true", help="profile the stage of the second boot")
    p.add_argument("--workload", default="w1", help="w1, or a W2 point: tpl<N>, ud<KiB>, svc<N>")
    p.add_argument("wrapper", nargs=argparse.REMAINDER, help="-- COMMAND... put in front of kiln")
    args = p.parse_args()
    wrapper = args.wrapper[1:] if args.wrapper[:1] == ["--"] else args.wrapper
    kiln = os.path.realpath(args.kiln)
    feats = workloads.features(kiln)
    env = rig.kiln_env()

    with rig.WorkDir() as wd, Imds(python=bm.PY) as imds:
        consul = Consul(python=bm.PY).start() if feats["consul"] else None
        try:
            ns = argparse.Namespace(kiln=kiln)
            b = bm.Bench(ns, wd, imds, consul, feats)
            files, extra = {}, ""
            if args.workload == "w1":
                if rig.is_root():
                    b.volume = rig.LoopVolume(wd)
                dev, label = (b.volume.device, b.volume.label) if b.volume else (None, None)
                imds.set_user_data(workloads.w1_user_data(dev, label, feats))
                files = workloads.image_templates(workloads.W1_FILES) if feats["templates"] else {}
            elif args.workload.startswith("tpl"):
                ud, files, extra = workloads.w2_templates(int(args.workload[3:]), feats)
                imds.set_user_data(ud)
            elif args.workload.startswith("ud"):
                imds.set_user_data(workloads.w2_user_data_of_size(int(args.workload[2:]) * 1024))
            elif args.workload.startswith("svc"):
                imds.set_user_data(workloads.w2_services(int(args.workload[3:])))
            root = b.new_root("profile", files, extra)
            boots = 2 if args.reboot else 1
            for n in range(boots):
                if n:
                    root.reboot()
                for st in bm.STAGES:
                    argv = [kiln, "--root", str(root.path), "run", "--stage", st]
                    if n == boots - 1 and st == args.stage:
                        return subprocess.run(wrapper + argv, env=env).returncode
                    subprocess.run(argv, env=env, check=True, capture_output=True)
        finally:
            if consul:
                consul.stop()
                consul.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
