#!/usr/bin/env python3
"""Times commands interleaved: each round runs every command once, in an order that rotates
from round to round, so the drift of a shared machine (another tenant, a frequency change)
falls on all of them alike. hyperfine times one command's runs back to back; on this 2-vCPU
VM two such blocks of the same binary have differed by 0.7 ms out of 12.

    interleave.py [--json FILE] [--prepare SHELL_CMD] ROUNDS WARMUP NAME CMD [NAME CMD ...]

Prints a markdown table (mean, sd, median, min, relative to the first command) and, with
--json FILE, writes {name: mean_seconds}. Commands are split like a shell would (shlex) and
spawned directly (no shell), as hyperfine -N does. --prepare runs SHELL_CMD with sh -c,
untimed, before every timed run, with BENCH_NAME set to the name of the command about to run
(to give it a fresh target, sync, or warm or drop the page cache).
"""
import json
import os
import shlex
import statistics
import sys
import time


def run_once(argv):
    """Wall time and CPU time (user + system of the command and the children it waited for)."""
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ,
                          file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    elapsed = (time.perf_counter_ns() - start) / 1e9
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"interleave.py: {shlex.join(argv)} exited with {os.waitstatus_to_exitcode(status)}")
    return elapsed, usage.ru_utime + usage.ru_stime


def prepare(shell_cmd, name):
    if shell_cmd is None:
        return
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", shell_cmd], dict(os.environ, BENCH_NAME=name))
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"interleave.py: --prepare for {name} exited with {os.waitstatus_to_exitcode(status)}")


def main(args):
    json_out = prepare_cmd = None
    while len(args) >= 2 and args[0] in ("--json", "--prepare"):
        if args[0] == "--json":
            json_out = args[1]
        else:
            prepare_cmd = args[1]
        args = args[2:]
    if len(args) < 4 or len(args) % 2:
        sys.exit(__doc__)
    rounds, warmup = int(args[0]), int(args[1])
    names = args[2::2]
    cmds = [shlex.split(c) for c in args[3::2]]
    times = [[] for _ in cmds]
    cpu = [[] for _ in cmds]
    for r in range(warmup + rounds):
        order = list(range(len(cmds)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            prepare(prepare_cmd, names[i])
            t, c = run_once(cmds[i])
            if r >= warmup:
                times[i].append(t)
                cpu[i].append(c)
    means = [statistics.mean(t) for t in times]
    # CPU time is the work done, which a loaded machine stretches less than the wall time.
    print("| Command | Mean [ms] | Median [ms] | Min [ms] | Relative | CPU mean [ms] |")
    print("|:---|---:|---:|---:|---:|---:|")
    for name, t, c, mean in zip(names, times, cpu, means):
        sd = statistics.stdev(t) if len(t) > 1 else 0.0
        print(f"| `{name}` | {mean * 1e3:.1f} ± {sd * 1e3:.1f} | {statistics.median(t) * 1e3:.1f} | "
              f"{min(t) * 1e3:.1f} | {mean / means[0]:.2f} | {statistics.mean(c) * 1e3:.1f} |")
    if json_out:
        with open(json_out, "w") as f:
            json.dump(dict(zip(names, means)), f)


if __name__ == "__main__":
    main(sys.argv[1:])
