#!/usr/bin/env python3
"""The benchmark driver behind scripts/bench (which starts moto and the
counting proxy and exports AWS_ENDPOINT_URL pointing at the proxy).

    run.py --bin FNCTL --n N --workdir DIR [--seed S] [--json FILE] [--strict]

Phases, in this order (so every read sees exactly the N fnctl roles):
  validate (best of 3) · apply from empty · plan of the N in-sync roles (best
  of 3) · the per-role read pattern, sequential and threaded · the floor
  (best of 3) · a sequential boto3 create loop in a second moto account.
Prints a table and a JSON document on stdout; progress goes to stderr.
Exit 0 even when targets are missed, unless --strict.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto_apply  # noqa: E402
import floor  # noqa: E402
import make_manifests  # noqa: E402
import per_role  # noqa: E402
from common import client, counts, reset  # noqa: E402

STS = "GetCallerIdentity"
GAAD = "GetAccountAuthorizationDetails"
LIST = "ListRoles"
READS = {STS, GAAD, LIST}
OTHER_ACCOUNT = "210987654321"
MB = 1024 * 1024


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


GNU_TIME = "/usr/bin/time"


def run_fnctl(binary, args, workdir, label):
    """Runs fnctl; returns (wall seconds, peak RSS bytes).

    Peak RSS comes from GNU time (`%M`, as `time -v` reports "Maximum resident
    set size"): wait4's ru_maxrss for a child forked by this Python process
    would include the ~45 MB the Python process had at fork (Linux carries
    the pre-exec high-water mark over exec). Without GNU time it falls back to
    wait4 and the figure is only an upper bound."""
    out_path = os.path.join(workdir, label + ".out")
    err_path = os.path.join(workdir, label + ".err")
    rss_path = os.path.join(workdir, label + ".rss")
    command = [binary] + args
    if os.access(GNU_TIME, os.X_OK):
        command = [GNU_TIME, "-f", "%M", "-o", rss_path] + command
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(err_path, errors="replace") as f:
            tail = f.read()[-2000:]
        raise SystemExit("bench: `fnctl %s` exited %d:\n%s" % (" ".join(args), proc.returncode, tail))
    rss_kb = usage.ru_maxrss
    if os.path.exists(rss_path):
        with open(rss_path) as f:
            rss_kb = int(f.read().split()[-1])
    return wall, rss_kb * 1024


def summarize_counts(c):
    calls = dict(sorted(c["calls"].items()))
    retries = sum(sum(v.values()) for v in c["errors"].values())
    return {
        "calls": calls,
        "total": c["total"],
        "retries": retries,
        "retries_by_action": c["errors"],
        "server_s": round(sum(c["upstream_s"].values()), 3),
        "server_s_by_action": c["upstream_s"],
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json")
    p.add_argument("--strict", action="store_true")
    a = p.parse_args()
    n, binary, work = a.n, a.bin, a.workdir

    account = client("sts").get_caller_identity()["Account"]
    policy_name = "bench-shared"
    policy_arn = "arn:aws:iam::%s:policy/%s" % (account, policy_name)
    manifests = os.path.join(work, "manifests")
    info = make_manifests.generate(manifests, n, seed=a.seed, managed_policy=policy_arn)
    names = info["role_names"]
    managed = info["managed_attachments"]
    log("%d instances in %d manifest files under %s" % (n, info["files"], manifests))
    result = {"n": n, "seed": a.seed, "managed_attachments": managed,
              "fnctl": binary, "moto_account": account,
              "rss_source": "GNU time %M" if os.access(GNU_TIME, os.X_OK)
              else "wait4 ru_maxrss (upper bound: includes the forking Python)"}

    # validate
    walls, rss = [], 0
    for i in range(a.runs):
        w, r = run_fnctl(binary, ["validate", "-f", manifests], work, "validate-%d" % i)
        walls.append(w)
        rss = max(rss, r)
    result["validate"] = {"wall_s": min(walls), "walls_s": walls, "peak_rss_bytes": rss}
    log("validate: best %.3f s" % min(walls))

    # apply from empty
    boto_apply.create_policy(policy_name)
    reset()
    log("apply: creating %d roles ..." % n)
    w, r = run_fnctl(binary, ["apply", "--auto-approve", "-f", manifests,
                              "--bundle-dir", os.path.join(work, "bundles")], work, "apply")
    c = counts()
    apply = {"wall_s": w, "peak_rss_bytes": r, **summarize_counts(c)}
    per_role_calls = Counter()
    for role in names:
        per_role_calls[c["roles"].get(role, 0)] += 1
    over = [role for i, role in enumerate(names)
            if c["roles"].get(role, 0) > 2 + (1 if i % 10 == 0 else 0)]
    writes = {k: v for k, v in c["calls"].items() if k not in READS}
    errors_writes = sum(sum(v.values()) for k, v in c["errors"].items() if k not in READS)
    apply["writes"] = sum(writes.values()) - errors_writes
    apply["reads"] = {k: v for k, v in c["calls"].items() if k in READS}
    apply["calls_per_role_histogram"] = {str(k): v for k, v in sorted(per_role_calls.items())}
    apply["iam_calls_per_role"] = round((c["total"] - c["calls"].get(STS, 0)) / n, 3)
    apply["writes_per_role"] = round(apply["writes"] / n, 3)
    apply["roles_over_budget"] = len(over)
    result["apply"] = apply
    log("apply: %.2f s, %d calls (%d retries)" % (w, c["total"], apply["retries"]))

    # plan over the N in-sync roles
    walls, rss, plan_counts = [], 0, []
    for i in range(a.runs):
        reset()
        try:
            w, r = run_fnctl(binary, ["plan", "--detailed-exitcode", "-f", manifests], work, "plan-%d" % i)
        except SystemExit as e:
            raise SystemExit("%s\n(bench: exit 2 means the plan after apply was not empty)" % e)
        walls.append(w)
        rss = max(rss, r)
        plan_counts.append(counts())
    result["plan"] = {"wall_s": min(walls), "walls_s": walls, "peak_rss_bytes": rss,
                      **summarize_counts(plan_counts[0]),
                      "calls_stable": all(pc["calls"] == plan_counts[0]["calls"] for pc in plan_counts)}
    log("plan: best %.3f s, %d calls" % (min(walls), plan_counts[0]["total"]))

    # the per-role read pattern
    for label, threads in (("per_role_sequential", 1), ("per_role_threads", a.threads)):
        reset()
        log("%s: %d roles, %d thread(s) ..." % (label, n, threads))
        w = per_role.run(names, threads)
        result[label] = {"wall_s": w, "threads": threads, **summarize_counts(counts())}
        log("%s: %.2f s" % (label, w))

    # the floor
    walls, first = [], None
    for i in range(a.runs):
        reset()
        f = floor.run(info["role_path"])
        walls.append(f["wall_s"])
        if first is None:
            first = {**f, **summarize_counts(counts())}
    first.update(wall_s=min(walls), walls_s=walls)
    result["floor"] = first
    log("floor: best %.3f s" % min(walls))

    # the boto3 create loop, in an empty second account
    other_arn = boto_apply.create_policy(policy_name, OTHER_ACCOUNT)
    reset()
    log("boto3 create loop: %d roles in account %s ..." % (n, OTHER_ACCOUNT))
    w = boto_apply.run(n, OTHER_ACCOUNT, other_arn)
    result["boto3_apply"] = {"wall_s": w, "account": OTHER_ACCOUNT, **summarize_counts(counts())}
    log("boto3 create loop: %.2f s" % w)

    # ratios and targets
    plan, fl = result["plan"], result["floor"]
    ratios = {
        "plan_over_floor": plan["wall_s"] / fl["wall_s"],
        "per_role_sequential_over_plan": result["per_role_sequential"]["wall_s"] / plan["wall_s"],
        "per_role_threads_over_plan": result["per_role_threads"]["wall_s"] / plan["wall_s"],
        "apply_over_boto3_loop": apply["wall_s"] / result["boto3_apply"]["wall_s"],
    }
    # Informational: the floor's time inside moto alone (without boto3's
    # response parsing), the slower of its two concurrent paginations.
    floor_server = max(fl["server_s_by_action"].values())
    ratios["plan_over_floor_server_time"] = plan["wall_s"] / floor_server
    result["floor"]["server_critical_path_s"] = floor_server
    result["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    expected_plan_calls = {GAAD: fl["gaad_pages"], LIST: fl["list_pages"], STS: 1}
    peak = max(result[k]["peak_rss_bytes"] for k in ("validate", "apply", "plan"))
    budget = 2 * n + managed
    targets = [
        ("plan <= 1.5x floor (wall)", ratios["plan_over_floor"] <= 1.5,
         "%.2fx" % ratios["plan_over_floor"]),
        ("per-role sequential >= 10x plan", ratios["per_role_sequential_over_plan"] >= 10,
         "%.1fx" % ratios["per_role_sequential_over_plan"]),
        ("per-role %d threads >= 10x plan" % a.threads, ratios["per_role_threads_over_plan"] >= 10,
         "%.1fx" % ratios["per_role_threads_over_plan"]),
        ("plan calls == GAAD pages + ListRoles pages + 1 STS",
         plan["calls"] == expected_plan_calls,
         "%s (expected %s)" % (fmt_calls(plan["calls"]), fmt_calls(dict(sorted(expected_plan_calls.items()))))),
        ("apply writes <= 2/role + 1/managed policy",
         apply["writes"] <= budget and not over,
         "%d writes, budget %d; %d role(s) over" % (apply["writes"], budget, len(over))),
        ("validate < 0.3 s", result["validate"]["wall_s"] < 0.3,
         "%.3f s" % result["validate"]["wall_s"]),
        ("peak RSS < 100 MB", peak < 100 * MB, "%.1f MB" % (peak / MB)),
    ]
    result["targets"] = [{"target": t, "pass": ok, "measured": m} for t, ok, m in targets]

    print(table(result, targets))
    doc = json.dumps(result, indent=2)
    print(doc)
    if a.json:
        with open(a.json, "w") as f:
            f.write(doc + "\n")
    missed = [t for t, ok, _ in targets if not ok]
    return 1 if (a.strict and missed) else 0


def fmt_calls(calls):
    short = {GAAD: "GAAD", STS: "STS"}
    return " ".join("%s=%d" % (short.get(k, k), v) for k, v in calls.items())


def table(r, targets):
    n = r["n"]
    rows = [("measurement", "wall s", "calls", "retries", "peak RSS MB", "calls by action")]

    def row(label, key, rss=True):
        d = r[key]
        rows.append((label, "%.3f" % d["wall_s"], str(d.get("total", "-")),
                     str(d.get("retries", "-")),
                     "%.1f" % (d["peak_rss_bytes"] / MB) if rss else "-",
                     fmt_calls(d["calls"]) if "calls" in d else "-"))

    row("fnctl validate (best of 3)", "validate")
    row("fnctl apply from empty", "apply")
    row("boto3 sequential create loop", "boto3_apply", rss=False)
    row("fnctl plan, in sync (best of 3)", "plan")
    row("per-role pattern, sequential", "per_role_sequential", rss=False)
    row("per-role pattern, %d threads" % r["per_role_threads"]["threads"], "per_role_threads", rss=False)
    row("floor: GAAD + ListRoles concurrently", "floor", rss=False)
    widths = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    lines = ["fnctl benchmark: N=%d instances (%d with a managed policy), seed %d"
             % (n, r["managed_attachments"], r["seed"]), ""]
    for i, x in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) if j in (0, 5) else c.rjust(widths[j])
                               for j, c in enumerate(x)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    a = r["apply"]
    lines += ["", "apply: %.3f IAM calls/role overall, %.3f writes/role; calls per role: %s"
              % (a["iam_calls_per_role"], a["writes_per_role"],
                 ", ".join("%s calls x %d roles" % kv for kv in a["calls_per_role_histogram"].items())),
              "", "ratios:"]
    for k, v in r["ratios"].items():
        lines.append("  %-32s %8.2f" % (k.replace("_", " "), v))
    lines.append("  (plan over floor server time: against the floor's time inside moto, %.3f s,"
                 % r["floor"]["server_critical_path_s"])
    lines.append("   i.e. without boto3's response parsing; informational, no target)")
    lines += ["", "targets:"]
    for t, ok, m in targets:
        lines.append("  %-4s %-52s %s" % ("PASS" if ok else "MISS", t, m))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
