#!/usr/bin/env python3
"""Times commands interleaved: each round runs every command once, in an order that rotates
from round to round, so the drift of a shared machine (another tenant, a frequency change)
falls on all of them alike. hyperfine times one command's runs back to back; on this 2-vCPU
VM two such blocks of the same binary have differed by 0.7 ms out of 12.

    interleave.py ROUNDS WARMUP NAME CMD [NAME CMD ...]

Prints a markdown table (mean, sd, median, min, relative to the first command) and, with
--json FILE, writes {name: mean_seconds}. Commands are split like a shell would (shlex) and
spawned directly (no shell), as hyperfine -N does.
"""
import json
import os
import shlex
import statistics
import sys
import time


def run_once(argv):
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ,
                          file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status = os.waitpid(pid, 0)
    elapsed = (time.perf_counter_ns() - start) / 1e9
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"interleave.py: {shlex.join(argv)} exited with {os.waitstatus_to_exitcode(status)}")
    return elapsed


def main(args):
    json_out = None
    if len(args) >= 2 and args[0] == "--json":
        json_out, args = args[1], args[2:]
    if len(args) < 4 or len(args) % 2:
        sys.exit(__doc__)
    rounds, warmup = int(args[0]), int(args[1])
    names = args[2::2]
    cmds = [shlex.split(c) for c in args[3::2]]
    times = [[] for _ in cmds]
    for r in range(warmup + rounds):
        order = list(range(len(cmds)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            t = run_once(cmds[i])
            if r >= warmup:
                times[i].append(t)
    means = [statistics.mean(t) for t in times]
    print("| Command | Mean [ms] | Median [ms] | Min [ms] | Relative |")
    print("|:---|---:|---:|---:|---:|")
    for name, t, mean in zip(names, times, means):
        sd = statistics.stdev(t) if len(t) > 1 else 0.0
        print(f"| `{name}` | {mean * 1e3:.1f} ± {sd * 1e3:.1f} | {statistics.median(t) * 1e3:.1f} | "
              f"{min(t) * 1e3:.1f} | {mean / means[0]:.2f} |")
    if json_out:
        with open(json_out, "w") as f:
            json.dump(dict(zip(names, means)), f)


if __name__ == "__main__":
    main(sys.argv[1:])
