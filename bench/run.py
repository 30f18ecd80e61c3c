#!/usr/bin/env python3
"""The benchmark driver behind scripts/bench (which starts moto and the
counting proxy and exports AWS_ENDPOINT_URL pointing at the proxy).

    run.py --bin FNCTL --n N --workdir DIR --moto URL [--seed S] [--large L]
           [--large-rotation] [--bucket-n B --bucket-rate R] [--json FILE] [--strict]

Parts, in this order (each read sees exactly the roles of its part):
  1. N roles: validate (best of 3) · three cycles of apply from empty,
     rotate --start and rotate --finish --force over all N (moto reset
     between cycles; best of 3 each) · plan, drift, verify of the N in-sync
     roles (best of 3 each) · the per-role read pattern, sequential and
     threaded · the floor (best of 3) · a sequential boto3 create loop in a
     second moto account, then a boto3 loop of a rotation phase's writes
     over the roles it made · fnctl import of N such hand-made roles in
     fnctl's account (moto reset first; best of 3).
  2. Behind a write bucket (the proxy answers writes `Throttling` the way
     IAM does, R tokens a second after a burst of R): apply of B roles, then
     both rotation phases over them, each against (writes - burst) / rate.
  3. L roles (moto reset first; skipped with L = 0): apply from empty, plan
     and drift (best of 3 each) beside the floor of L roles, apply in sync,
     verify and import of the roles (each already managed: the read and the
     checks); with --large-rotation also both rotation phases over the L
     roles. The peak RSS of every command at L roles is printed.
  4. K accounts of M roles each (with --accounts K; moto reset first), each
     reached by assuming a deployer role: apply, plan and drift of all of
     them in one run, and plan and drift of one of them (`--account`), as a
     CI matrix sharded by account runs them.
  5. Segment (bench/segment_bench.py; moto reset first): S instances with a
     Segment counterpart behind a test-server rate limit (apply pushing all,
     rotate --auto starting all) and without one (plan, drift in sync),
     then SL instances without a limit (apply, plan, drift).
Prints a table and a JSON document on stdout; progress goes to stderr.
Exit 0 even when targets are missed, unless --strict.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto_apply  # noqa: E402
import floor  # noqa: E402
import make_manifests  # noqa: E402
import per_role  # noqa: E402
import segment_bench  # noqa: E402
from common import client, counts, endpoint, reset  # noqa: E402

STS = "GetCallerIdentity"
GAAD = "GetAccountAuthorizationDetails"
LIST = "ListRoles"
# Not IAM writes: reads, and STS reaching another account.
READS = {STS, GAAD, LIST, "AssumeRole"}
OTHER_ACCOUNT = "210987654321"
MB = 1024 * 1024


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


GNU_TIME = "/usr/bin/time"
# The commands measured at L roles, whose peak RSS is printed one by one.
LARGE_RSS = ("large_plan", "large_apply", "large_apply_sync", "large_drift", "large_verify",
             "large_rotate_start", "large_rotate_finish", "large_import")


def run_fnctl(binary, args, workdir, label, ok=(0,)):
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
    if proc.returncode not in ok:
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


def writes_of(c):
    """Writes IAM took (the proxy's answers other than throttles and 5xx)."""
    sent = sum(v for k, v in c["calls"].items() if k not in READS)
    refused = sum(sum(v.values()) for k, v in c["errors"].items() if k not in READS)
    return sent - refused


def bucket(rate, burst):
    """Turns the proxy's write bucket on (rate > 0) or off."""
    req = urllib.request.Request(
        endpoint() + "/__bucket?rate=%s&burst=%s" % (rate, burst), data=b"", method="POST")
    urllib.request.urlopen(req, timeout=30).read()


def moto_reset(moto_url):
    req = urllib.request.Request(moto_url + "/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=60).read()


def measured(binary, args, work, label, runs=1, ok=(0,)):
    """Runs fnctl `runs` times (proxy counters reset before each); returns
    the best wall time, every wall time, peak RSS and the first run's calls."""
    walls, rss, first = [], 0, None
    for i in range(runs):
        reset()
        w, r = run_fnctl(binary, args, work, "%s-%d" % (label, i), ok=ok)
        walls.append(w)
        rss = max(rss, r)
        c = counts()
        if first is None:
            first = c
    return {"wall_s": min(walls), "walls_s": walls, "peak_rss_bytes": rss,
            **summarize_counts(first), "writes": writes_of(first)}


def the_floor(prefix, runs):
    walls, first = [], None
    for _ in range(runs):
        reset()
        f = floor.run(prefix)
        walls.append(f["wall_s"])
        if first is None:
            first = {**f, **summarize_counts(counts())}
    first.update(wall_s=min(walls), walls_s=walls)
    # Informational: the floor's time inside moto alone (without boto3's
    # response parsing), the slower of its two concurrent paginations.
    first["server_critical_path_s"] = max(first["server_s_by_action"].values())
    return first


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--large", type=int, default=5000)
    p.add_argument("--large-rotation", action="store_true")
    p.add_argument("--accounts", type=int, default=0)
    p.add_argument("--account-roles", type=int, default=1000)
    p.add_argument("--bucket-n", type=int, default=100)
    p.add_argument("--bucket-rate", type=float, default=20.0)
    p.add_argument("--segment-n", type=int, default=1000)
    p.add_argument("--segment-large", type=int, default=5000)
    p.add_argument("--segment-limit", type=int, default=100)
    p.add_argument("--segment-window-ms", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", required=True)
    p.add_argument("--moto", required=True, help="moto's own URL (for resets)")
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
    bench_started = time.perf_counter()

    # --- part 1: N roles -------------------------------------------------
    result["validate"] = measured(binary, ["validate", "-f", manifests], work, "validate", a.runs)
    log("validate: best %.3f s" % result["validate"]["wall_s"])

    # apply from empty, then both rotation phases over every role: `runs`
    # cycles back to back (moto reset between them), best of each, so that
    # the ratios compare runs made moments apart on a machine whose load
    # changes; the first apply's calls are checked against the budget.
    cycles = {"apply": [], "rotate_start": [], "rotate_finish": []}
    for cycle in range(a.runs):
        if cycle:
            moto_reset(a.moto)
        boto_apply.create_policy(policy_name)
        bundles = os.path.join(work, "bundles-%d" % cycle)
        log("cycle %d: apply of %d roles, rotate --start, rotate --finish ..." % (cycle + 1, n))
        cycles["apply"].append(measured(
            binary, ["apply", "--auto-approve", "-f", manifests, "--bundle-dir", bundles],
            work, "apply-%d" % cycle))
        if cycle == 0:
            first_apply = counts()
        cycles["rotate_start"].append(measured(
            binary, ["rotate", "--all", "--start", "-f", manifests, "--bundle-dir", bundles],
            work, "rotate-start-%d" % cycle))
        cycles["rotate_finish"].append(measured(
            binary,
            ["rotate", "--all", "--finish", "--force", "-f", manifests, "--bundle-dir", bundles],
            work, "rotate-finish-%d" % cycle))
        log("cycle %d: apply %.2f s, rotate --start %.2f s, rotate --finish %.2f s"
            % (cycle + 1, cycles["apply"][-1]["wall_s"], cycles["rotate_start"][-1]["wall_s"],
               cycles["rotate_finish"][-1]["wall_s"]))
    for key, runs in cycles.items():
        best = dict(min(runs, key=lambda d: d["wall_s"]))
        best["walls_s"] = [d["wall_s"] for d in runs]
        best["peak_rss_bytes"] = max(d["peak_rss_bytes"] for d in runs)
        result[key] = best
    apply = result["apply"]
    c = first_apply
    per_role_calls = Counter()
    for role in names:
        per_role_calls[c["roles"].get(role, 0)] += 1
    over = [role for i, role in enumerate(names)
            if c["roles"].get(role, 0) > 2 + (1 if i % 10 == 0 else 0)]
    apply["reads"] = {k: v for k, v in c["calls"].items() if k in READS}
    apply["calls_per_role_histogram"] = {str(k): v for k, v in sorted(per_role_calls.items())}
    apply["iam_calls_per_role"] = round((c["total"] - c["calls"].get(STS, 0)) / n, 3)
    apply["writes_per_role"] = round(writes_of(c) / n, 3)
    apply["roles_over_budget"] = len(over)
    log("apply: best %.2f s; rotate --start %.2f s; --finish %.2f s"
        % (apply["wall_s"], result["rotate_start"]["wall_s"], result["rotate_finish"]["wall_s"]))

    try:
        result["plan"] = measured(binary, ["plan", "--detailed-exitcode", "-f", manifests],
                                  work, "plan", a.runs)
    except SystemExit as e:
        raise SystemExit("%s\n(bench: exit 2 means the plan after apply was not empty)" % e)
    log("plan: best %.3f s, %d calls" % (result["plan"]["wall_s"], result["plan"]["total"]))
    result["drift"] = measured(binary, ["drift", "-f", manifests], work, "drift", a.runs)
    log("drift: best %.3f s" % result["drift"]["wall_s"])
    result["verify"] = measured(binary, ["verify", "-f", manifests, "--bundle-dir", bundles],
                                work, "verify", a.runs)
    log("verify: best %.3f s" % result["verify"]["wall_s"])

    for label, threads in (("per_role_sequential", 1), ("per_role_threads", a.threads)):
        reset()
        log("%s: %d roles, %d thread(s) ..." % (label, n, threads))
        w = per_role.run(names, threads)
        result[label] = {"wall_s": w, "threads": threads, **summarize_counts(counts())}
        log("%s: %.2f s" % (label, w))

    result["floor"] = the_floor(info["role_path"], a.runs)
    log("floor: best %.3f s" % result["floor"]["wall_s"])

    other_arn = boto_apply.create_policy(policy_name, OTHER_ACCOUNT)
    reset()
    log("boto3 create loop: %d roles in account %s ..." % (n, OTHER_ACCOUNT))
    w = boto_apply.run(n, OTHER_ACCOUNT, other_arn)
    result["boto3_apply"] = {"wall_s": w, "account": OTHER_ACCOUNT, **summarize_counts(counts())}
    log("boto3 create loop: %.2f s" % w)
    # What a rotation phase's writes cost by themselves on this server, next
    # to the creates: the floor that the rotation-over-apply target sits on.
    reset()
    log("boto3 rotation-writes loop: %d roles in account %s ..." % (n, OTHER_ACCOUNT))
    w = boto_apply.rotation_writes(n, OTHER_ACCOUNT)
    result["boto3_rotation_writes"] = {"wall_s": w, "account": OTHER_ACCOUNT,
                                       **summarize_counts(counts())}
    log("boto3 rotation-writes loop: %.2f s" % w)
    # fnctl import of N roles made by hand (the boto3 loop's, in fnctl's
    # account, moto reset first): the plan's read plus writing the manifest.
    moto_reset(a.moto)
    boto_apply.run(n, None, boto_apply.create_policy(policy_name))
    result["import"] = measured(binary, ["import", "--out", os.path.join(work, "imported")],
                                work, "import", a.runs)
    log("import: best %.3f s, %d calls" % (result["import"]["wall_s"], result["import"]["total"]))

    # --- part 2: behind a write bucket ------------------------------------
    if a.bucket_n > 0:
        moto_reset(a.moto)
        rate, burst = a.bucket_rate, a.bucket_rate
        bm = os.path.join(work, "bucket-manifests")
        binfo = make_manifests.generate(bm, a.bucket_n, seed=a.seed)
        bb = os.path.join(work, "bucket-bundles")
        bucket(rate, burst)
        try:
            for key, args in (
                ("bucket_apply", ["apply", "--auto-approve", "-f", bm, "--bundle-dir", bb]),
                ("bucket_rotate_start", ["rotate", "--all", "--start", "-f", bm, "--bundle-dir", bb]),
                ("bucket_rotate_finish",
                 ["rotate", "--all", "--finish", "--force", "-f", bm, "--bundle-dir", bb]),
            ):
                bucket(rate, burst)  # full again: each run meets a fresh bucket
                log("%s: %d roles behind %g writes/s ..." % (key, len(binfo["role_names"]), rate))
                d = measured(binary, args, work, key)
                d.update(rate=rate, burst=burst, roles=a.bucket_n,
                         throttled=sum(sum(v.values()) for k, v in d["retries_by_action"].items()
                                       if k not in READS))
                d["ideal_s"] = max(d["writes"] - burst, 0) / rate
                result[key] = d
                log("%s: %.2f s, %d writes, %d throttled (ideal %.2f s)"
                    % (key, d["wall_s"], d["writes"], d["throttled"], d["ideal_s"]))
        finally:
            bucket(0, 1)

    # --- part 3: L roles ----------------------------------------------------
    if a.large > 0:
        moto_reset(a.moto)
        result["large"] = a.large
        lm = os.path.join(work, "large-manifests")
        linfo = make_manifests.generate(lm, a.large, seed=a.seed)
        lb = os.path.join(work, "large-bundles")
        log("large: apply of %d roles ..." % a.large)
        result["large_apply"] = measured(
            binary, ["apply", "--auto-approve", "-f", lm, "--bundle-dir", lb], work, "large-apply")
        log("large apply: %.2f s" % result["large_apply"]["wall_s"])
        result["large_plan"] = measured(binary, ["plan", "--detailed-exitcode", "-f", lm],
                                        work, "large-plan", a.runs)
        log("large plan: best %.3f s" % result["large_plan"]["wall_s"])
        result["large_drift"] = measured(binary, ["drift", "-f", lm], work, "large-drift", a.runs)
        log("large drift: best %.3f s" % result["large_drift"]["wall_s"])
        # Every command's peak RSS at L roles: apply again (nothing to
        # change, every bundle held already), verify, import of the roles.
        result["large_apply_sync"] = measured(
            binary, ["apply", "--auto-approve", "-f", lm, "--bundle-dir", lb], work,
            "large-apply-sync")
        log("large apply in sync: %.2f s" % result["large_apply_sync"]["wall_s"])
        result["large_verify"] = measured(binary, ["verify", "-f", lm, "--bundle-dir", lb],
                                          work, "large-verify")
        log("large verify: %.2f s" % result["large_verify"]["wall_s"])
        result["large_import"] = measured(
            binary, ["import", "--out", os.path.join(work, "large-imported")], work,
            "large-import", ok=(0, 2))
        log("large import: %.2f s" % result["large_import"]["wall_s"])
        result["large_floor"] = the_floor(linfo["role_path"], a.runs)
        log("large floor: best %.3f s" % result["large_floor"]["wall_s"])
        if a.large_rotation:
            for key, phase in (("large_rotate_start", ["--start"]),
                               ("large_rotate_finish", ["--finish", "--force"])):
                log("%s: %d roles ..." % (key, a.large))
                result[key] = measured(
                    binary, ["rotate", "--all"] + phase + ["-f", lm, "--bundle-dir", lb],
                    work, key.replace("_", "-"))
                log("%s: %.2f s" % (key, result[key]["wall_s"]))
    # --- part 4: K accounts -------------------------------------------------
    if a.accounts > 0:
        moto_reset(a.moto)
        am = os.path.join(work, "accounts-manifests")
        ab = os.path.join(work, "accounts-bundles")
        accounts = ["4000000000%02d" % (k + 1) for k in range(a.accounts)]
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % account},
            "Action": "sts:AssumeRole"}]})
        for k, other in enumerate(accounts):
            client(account=other).create_role(RoleName="bench-deployer",
                                              AssumeRolePolicyDocument=trust)
            make_manifests.generate(am, a.account_roles, seed=a.seed + k, account=other,
                                    prefix="a%02d-" % k)
        result["accounts"] = {"count": a.accounts, "roles_each": a.account_roles,
                              "ids": accounts}
        log("accounts: apply of %d accounts x %d roles ..." % (a.accounts, a.account_roles))
        result["accounts_apply"] = measured(
            binary, ["apply", "--auto-approve", "-f", am, "--bundle-dir", ab], work,
            "accounts-apply")
        log("accounts apply: %.2f s" % result["accounts_apply"]["wall_s"])
        for key, args in (
            ("accounts_plan", ["plan", "--detailed-exitcode", "-f", am]),
            ("accounts_drift", ["drift", "-f", am]),
            ("accounts_plan_one", ["plan", "--detailed-exitcode", "-f", am,
                                   "--account", accounts[0]]),
            ("accounts_drift_one", ["drift", "-f", am, "--account", accounts[0]]),
        ):
            result[key] = measured(binary, args, work, key.replace("_", "-"), a.runs)
            log("%s: best %.3f s" % (key, result[key]["wall_s"]))
    # --- part 5: Segment ------------------------------------------------------
    if a.segment_n > 0 or a.segment_large > 0:
        tools = argparse.Namespace(measured=measured, the_floor=the_floor, moto_reset=moto_reset,
                                   log=log)
        result.update(segment_bench.run(a, binary, work, tools))
    result["bench_wall_s"] = round(time.perf_counter() - bench_started, 1)

    ratios, targets = judge(result, a)
    result["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    result["targets"] = [{"target": t, "pass": ok, "measured": m} for t, ok, m in targets]

    print(table(result, targets))
    doc = json.dumps(result, indent=2)
    print(doc)
    if a.json:
        with open(a.json, "w") as f:
            f.write(doc + "\n")
    missed = [t for t, ok, _ in targets if not ok]
    return 1 if (a.strict and missed) else 0


def judge(result, a):
    """Ratios and targets (PASS/MISS) of a finished run."""
    n = result["n"]
    plan, fl, apply = result["plan"], result["floor"], result["apply"]
    ratios = {
        "plan_over_floor": plan["wall_s"] / fl["wall_s"],
        "drift_over_floor": result["drift"]["wall_s"] / fl["wall_s"],
        "verify_over_floor": result["verify"]["wall_s"] / fl["wall_s"],
        "per_role_sequential_over_plan": result["per_role_sequential"]["wall_s"] / plan["wall_s"],
        "per_role_threads_over_plan": result["per_role_threads"]["wall_s"] / plan["wall_s"],
        "apply_over_boto3_loop": apply["wall_s"] / result["boto3_apply"]["wall_s"],
        "rotate_start_over_apply": result["rotate_start"]["wall_s"] / apply["wall_s"],
        "rotate_finish_over_apply": result["rotate_finish"]["wall_s"] / apply["wall_s"],
        "plan_over_floor_server_time": plan["wall_s"] / fl["server_critical_path_s"],
        "import_over_plan": result["import"]["wall_s"] / plan["wall_s"],
        # The writes alone, without fnctl: a bare loop of a phase's three
        # writes per role against a bare loop of apply's creates.
        "boto3_rotation_writes_over_boto3_creates":
            result["boto3_rotation_writes"]["wall_s"] / result["boto3_apply"]["wall_s"],
        "rotate_start_over_boto3_rotation_writes":
            result["rotate_start"]["wall_s"] / result["boto3_rotation_writes"]["wall_s"],
    }
    for key in ("bucket_apply", "bucket_rotate_start", "bucket_rotate_finish"):
        # Within the burst there is nothing to compare with.
        if key in result and result[key]["ideal_s"] > 0:
            ratios[key + "_over_ideal"] = result[key]["wall_s"] / result[key]["ideal_s"]
    if "large_plan" in result:
        lf = result["large_floor"]["wall_s"]
        ratios["large_plan_over_floor"] = result["large_plan"]["wall_s"] / lf
        ratios["large_drift_over_floor"] = result["large_drift"]["wall_s"] / lf
        for key in ("large_rotate_start", "large_rotate_finish"):
            if key in result:
                ratios[key + "_over_apply"] = (result[key]["wall_s"]
                                               / result["large_apply"]["wall_s"])
    expected_plan_calls = {GAAD: fl["gaad_pages"], LIST: fl["list_pages"], STS: 1}
    rss_keys = [k for k in ("validate", "apply", "plan", "drift", "verify", "rotate_start",
                            "rotate_finish") if k in result]
    peak = max(result[k]["peak_rss_bytes"] for k in rss_keys)
    budget = 2 * n + result["managed_attachments"]
    over = apply["roles_over_budget"]
    targets = [
        ("plan <= 1.5x floor (wall)", ratios["plan_over_floor"] <= 1.5,
         "%.2fx" % ratios["plan_over_floor"]),
        ("drift <= 1.5x floor (wall)", ratios["drift_over_floor"] <= 1.5,
         "%.2fx" % ratios["drift_over_floor"]),
        ("per-role sequential >= 10x plan", ratios["per_role_sequential_over_plan"] >= 10,
         "%.1fx" % ratios["per_role_sequential_over_plan"]),
        ("per-role %d threads >= 10x plan" % a.threads, ratios["per_role_threads_over_plan"] >= 10,
         "%.1fx" % ratios["per_role_threads_over_plan"]),
        ("plan calls == GAAD pages + ListRoles pages + 1 STS",
         plan["calls"] == expected_plan_calls,
         "%s (expected %s)" % (fmt_calls(plan["calls"]),
                               fmt_calls(dict(sorted(expected_plan_calls.items()))))),
        ("import calls == plan's (GAAD + ListRoles pages + 1 STS)",
         result["import"]["calls"] == expected_plan_calls, fmt_calls(result["import"]["calls"])),
        ("apply writes <= 2/role + 1/managed policy",
         apply["writes"] <= budget and not over,
         "%d writes, budget %d; %d role(s) over" % (apply["writes"], budget, over)),
        ("rotate --start <= 1.5x apply (wall)", ratios["rotate_start_over_apply"] <= 1.5,
         "%.2fx" % ratios["rotate_start_over_apply"]),
        ("rotate --finish <= 1.5x apply (wall)", ratios["rotate_finish_over_apply"] <= 1.5,
         "%.2fx" % ratios["rotate_finish_over_apply"]),
        ("validate < 0.3 s", result["validate"]["wall_s"] < 0.3,
         "%.3f s" % result["validate"]["wall_s"]),
        ("peak RSS < 100 MB at N=%d" % n, peak < 100 * MB, "%.1f MB" % (peak / MB)),
    ]
    for key, label in (("bucket_apply", "apply"), ("bucket_rotate_start", "rotate --start"),
                       ("bucket_rotate_finish", "rotate --finish")):
        if key + "_over_ideal" in ratios:
            r = ratios[key + "_over_ideal"]
            targets.append(("behind a bucket: %s <= 1.3x (writes-burst)/rate" % label, r <= 1.3,
                            "%.2fx (%.1f s against %.1f s)"
                            % (r, result[key]["wall_s"], result[key]["ideal_s"])))
    if "large_plan" in result:
        large = a.large
        lpeak = max(result[k]["peak_rss_bytes"] for k in LARGE_RSS if k in result)
        targets += [
            ("plan <= 1.5x floor at N=%d" % large, ratios["large_plan_over_floor"] <= 1.5,
             "%.2fx" % ratios["large_plan_over_floor"]),
            ("drift <= 1.5x floor at N=%d" % large, ratios["large_drift_over_floor"] <= 1.5,
             "%.2fx" % ratios["large_drift_over_floor"]),
            ("peak RSS < 150 MB at N=%d (every command)" % large, lpeak < 150 * MB,
             "%.1f MB" % (lpeak / MB)),
        ]
        for key, label in (("large_rotate_start", "rotate --start"),
                           ("large_rotate_finish", "rotate --finish")):
            if key in result:
                r = ratios[key + "_over_apply"]
                targets.append(("%s <= 1.5x apply at N=%d" % (label, large), r <= 1.5, "%.2fx" % r))
    segment_ratios, segment_targets = segment_bench.judge(result)
    ratios.update(segment_ratios)
    targets += segment_targets
    return ratios, targets


def fmt_calls(calls):
    short = {GAAD: "GAAD", STS: "STS"}
    return " ".join("%s=%d" % (short.get(k, k), v) for k, v in calls.items())


def table(r, targets):
    n = r["n"]
    rows = [("measurement", "wall s", "calls", "retries", "peak RSS MB", "calls by action")]

    def row(label, key, rss=True, segment=False):
        if key not in r:
            return
        d = r[key]
        if segment:
            # Segment's requests and 429s; IAM's calls in the last column.
            c = d["segment"]
            rows.append((label, "%.3f" % d["wall_s"], str(c["requests"]), str(c["refused"]),
                         "%.1f" % (d["peak_rss_bytes"] / MB),
                         "Segment lists=%d PATCH=%d; IAM %d calls"
                         % (c["lists"], c["patches"], d["total"])))
            return
        rows.append((label, "%.3f" % d["wall_s"], str(d.get("total", "-")),
                     str(d.get("retries", "-")),
                     "%.1f" % (d["peak_rss_bytes"] / MB) if rss else "-",
                     fmt_calls(d["calls"]) if "calls" in d else "-"))

    row("fnctl validate (best of 3)", "validate")
    row("fnctl apply from empty", "apply")
    row("boto3 sequential create loop", "boto3_apply", rss=False)
    row("boto3 loop of a rotation phase's writes", "boto3_rotation_writes", rss=False)
    row("fnctl plan, in sync (best of 3)", "plan")
    row("fnctl drift, in sync (best of 3)", "drift")
    row("fnctl verify, in sync (best of 3)", "verify")
    row("fnctl import of N hand-made roles (best of 3)", "import")
    row("per-role pattern, sequential", "per_role_sequential", rss=False)
    row("per-role pattern, %d threads" % r["per_role_threads"]["threads"], "per_role_threads",
        rss=False)
    row("floor: GAAD + ListRoles concurrently", "floor", rss=False)
    row("fnctl rotate --all --start", "rotate_start")
    row("fnctl rotate --all --finish --force", "rotate_finish")
    if "bucket_apply" in r:
        b = r["bucket_apply"]
        rows.append(("-- behind a write bucket: %d roles, %g writes/s, burst %g --"
                     % (b["roles"], b["rate"], b["burst"]), "", "", "", "", ""))
        row("fnctl apply from empty", "bucket_apply")
        row("fnctl rotate --all --start", "bucket_rotate_start")
        row("fnctl rotate --all --finish --force", "bucket_rotate_finish")
    if "large_plan" in r:
        rows.append(("-- %d roles --" % r["large"], "", "", "", "", ""))
        row("fnctl apply from empty", "large_apply")
        row("fnctl plan, in sync (best of 3)", "large_plan")
        row("fnctl drift, in sync (best of 3)", "large_drift")
        row("fnctl apply, in sync", "large_apply_sync")
        row("fnctl verify", "large_verify")
        row("fnctl import of the roles", "large_import")
        row("floor: GAAD + ListRoles concurrently", "large_floor", rss=False)
        row("fnctl rotate --all --start", "large_rotate_start")
        row("fnctl rotate --all --finish --force", "large_rotate_finish")
    if "accounts" in r:
        rows.append(("-- %d accounts x %d roles, each reached through AssumeRole --"
                     % (r["accounts"]["count"], r["accounts"]["roles_each"]), "", "", "", "", ""))
        row("fnctl apply from empty, all accounts", "accounts_apply")
        row("fnctl plan, all accounts (best of 3)", "accounts_plan")
        row("fnctl drift, all accounts (best of 3)", "accounts_drift")
        row("fnctl plan --account (one shard)", "accounts_plan_one")
        row("fnctl drift --account (one shard)", "accounts_drift_one")
    segment_bench.rows(r, row, rows)
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
        lines.append("  %-40s %8.2f" % (k.replace("_", " "), v))
    lines.append("  (plan over floor server time: against the floor's time inside moto, %.3f s,"
                 % r["floor"]["server_critical_path_s"])
    lines.append("   i.e. without boto3's response parsing; informational, no target)")
    lines.append("  (boto3 rotation writes over boto3 creates: what a phase's three writes per")
    lines.append("   role cost on this server next to apply's 2.1, with no fnctl in the way;")
    lines.append("   informational, the floor under rotate-over-apply)")
    if "large_plan" in r:
        lines.append("")
        lines.append("peak RSS at %d roles, per command:" % r["large"])
        for key in LARGE_RSS:
            if key in r:
                lines.append("  %-28s %7.1f MB" % (key[len("large_"):].replace("_", " "),
                                                  r[key]["peak_rss_bytes"] / MB))
    lines += ["", "targets:"]
    for t, ok, m in targets:
        lines.append("  %-4s %-52s %s" % ("PASS" if ok else "MISS", t, m))
    lines.append("")
    lines.append("bench wall time: %.0f s" % r["bench_wall_s"])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
