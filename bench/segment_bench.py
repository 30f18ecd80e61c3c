#!/usr/bin/env python3
"""The Segment part of the benchmark (bench/run.py calls `run`): fnctl
against the Segment test server (tests/segment/server.py, straight, without
Prism: the test suite validates the contract, this measures), its requests
counted by the server.

  1. N instances, each with a Segment counterpart (moto reset first):
     - behind a fixed-window rate limit of LIMIT requests per WINDOW ms
       (default 100 per 10 s: Segment's quoted 600 a minute, scaled down in
       time), apply from empty pushing all N; against the limit's floor
       (requests - burst) / rate, where the requests are what the design
       needs: the pushes, their read-backs and the list pages;
     - without a limit, plan and drift in sync (best of 3) against the
       floor of their reads: IAM's (GAAD + ListRoles pages, concurrently)
       plus Segment's (the list pages, destinations and sources
       concurrently, with a bare HTTP client), read one after the other as
       fnctl reads them;
     - behind the limit again, `rotate --auto` starting N rotations (every
       role made due by tagging its ID as created in 2020), against the
       limit's floor.
  2. L instances (moto reset first): apply without a limit, then plan and
     drift in sync against the same floor.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import make_manifests
from common import client

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(os.path.dirname(HERE), "tests", "segment", "server.py")
TOKEN = "bench-segment-token-never-printed-0123456789"
VENDOR = "application/vnd.segment.v1+json"
PAGE = 200
UNLIMITED = 10 ** 9


class Server:
    """The Segment test server on a free port, stopped by `stop`."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--port", "0", "--token", TOKEN],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.proc.stdout.readline().strip()
        if not first.startswith("listening on "):
            self.proc.kill()
            raise SystemExit("bench: the Segment test server did not start: %r" % first)
        self.url = "http://" + first[len("listening on "):]
        # Its stdout is not read again; nothing more is printed there.

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/__control" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.load(r)

    def limit(self, limit, window_ms):
        self.control("PUT", "/rate-limit", {"limit": limit, "windowMs": window_ms})

    def take_counters(self):
        counters = self.control("GET", "/counters")
        self.control("DELETE", "/counters")
        return counters

    def populate(self, segments):
        """Creates every (kind, id) with a setting fnctl does not own."""
        bodies = [{"kind": kind, "id": sid, "name": "bench %s" % sid,
                   "settings": {"apiKey": "bench-foreign-secret-0000", "flushEvery": 100},
                   "sensitive": ["iamRoleExternalId", "apiKey"]} for kind, sid in segments]
        for start in range(0, len(bodies), 1000):
            self.control("POST", "/batch", {"instances": bodies[start:start + 1000]})

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def list_collection(url, collection):
    """Every page of one collection, one after the other: (pages, items)."""
    pages, items, cursor = 0, 0, None
    while True:
        query = "?pagination[count]=%d" % PAGE
        if cursor:
            query += "&pagination[cursor]=" + urllib.request.quote(cursor, safe="")
        req = urllib.request.Request(url + "/" + collection + query, headers={
            "Authorization": "Bearer " + TOKEN, "Accept": VENDOR})
        with urllib.request.urlopen(req, timeout=60) as r:
            data = json.load(r)["data"]
        pages += 1
        items += len(data[collection])
        cursor = data["pagination"].get("next")
        if not cursor:
            return pages, items


def segment_floor(server, runs):
    """The list pages of destinations and sources, the two concurrently."""
    walls, pages = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            got = list(pool.map(lambda c: list_collection(server.url, c),
                                ["destinations", "sources"]))
        walls.append(time.perf_counter() - started)
        pages = sum(p for p, _ in got)
    return {"wall_s": min(walls), "walls_s": walls, "requests": pages}


def seg_measured(tools, server, binary, args, work, label, runs=1):
    """fnctl `runs` times: best wall, peak RSS, and the first run's Segment
    counters (requests, refused, lists, patches)."""
    measured, counters = [], []
    for i in range(runs):
        server.take_counters()
        measured.append(tools.measured(binary, args, work, "%s-%d" % (label, i)))
        counters.append(server.take_counters())
    best = dict(min(measured, key=lambda d: d["wall_s"]))
    best["walls_s"] = [d["wall_s"] for d in measured]
    best["peak_rss_bytes"] = max(d["peak_rss_bytes"] for d in measured)
    best["segment"] = counters[0]
    return best


def limited(d, limit, window_ms):
    """Adds the limit's floor and the 429 share to a run behind the limit."""
    c = d["segment"]
    admitted = c["requests"] - c["refused"]
    rate = limit / (window_ms / 1000)
    d["limit"] = {"requests": limit, "window_ms": window_ms}
    d["floor_s"] = max(admitted - limit, 0) / rate
    d["refused_share"] = c["refused"] / max(c["requests"], 1)
    return d


def age_ids(role_names):
    """Tags every role's external ID as created in 2020: all are due."""
    iam = client()

    def tag(name):
        iam.tag_role(RoleName=name, Tags=[{"Key": "fnctl:external-id-created",
                                           "Value": "2020-01-01T00:00:00Z"}])
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(tag, role_names))


def in_sync(tools, server, binary, manifests, info, work, prefix, runs):
    """plan and drift in sync, and their floor: IAM's then Segment's reads."""
    out = {}
    server.limit(UNLIMITED, 60000)
    out[prefix + "plan"] = seg_measured(
        tools, server, binary, ["plan", "--detailed-exitcode", "-f", manifests], work,
        prefix + "plan", runs)
    out[prefix + "drift"] = seg_measured(
        tools, server, binary, ["drift", "-f", manifests], work, prefix + "drift", runs)
    iam = tools.the_floor(info["role_path"], runs)
    seg = segment_floor(server, runs)
    out[prefix + "floor"] = {"wall_s": iam["wall_s"] + seg["wall_s"], "iam": iam, "segment": seg}
    tools.log("%splan %.3f s, %d Segment requests; drift %.3f s; floor %.3f s "
              "(IAM %.3f s + Segment %.3f s, %d pages)"
              % (prefix, out[prefix + "plan"]["wall_s"],
                 out[prefix + "plan"]["segment"]["requests"], out[prefix + "drift"]["wall_s"],
                 out[prefix + "floor"]["wall_s"], iam["wall_s"], seg["wall_s"], seg["requests"]))
    return out


def run(a, binary, work, tools):
    """Both parts; returns the results to merge into the benchmark's."""
    result = {}
    server = Server()
    saved = {k: os.environ.get(k) for k in ("SEGMENT_PUBLIC_API_TOKEN", "SEGMENT_API_URL")}
    os.environ["SEGMENT_PUBLIC_API_TOKEN"] = TOKEN
    os.environ["SEGMENT_API_URL"] = server.url
    try:
        if a.segment_n > 0:
            result.update(part_n(a, binary, work, tools, server))
        if a.segment_large > 0:
            result.update(part_large(a, binary, work, tools, server))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
    return result


def part_n(a, binary, work, tools, server):
    n, limit, window = a.segment_n, a.segment_limit, a.segment_window_ms
    tools.moto_reset(a.moto)
    server.control("POST", "/reset", {})
    manifests = os.path.join(work, "segment-manifests")
    bundles = os.path.join(work, "segment-bundles")
    info = make_manifests.generate(manifests, n, seed=a.seed, segment=True, rotate_after_days=30)
    server.populate(info["segment"])
    out = {"segment_n": n, "segment_kinds": count_kinds(info)}
    tools.log("segment: apply of %d instances behind %d requests / %d ms ..." % (n, limit, window))
    server.limit(limit, window)
    out["segment_apply"] = limited(seg_measured(
        tools, server, binary, ["apply", "--auto-approve", "-f", manifests, "--bundle-dir", bundles],
        work, "segment-apply"), limit, window)
    log_limited(tools, "segment apply", out["segment_apply"])
    out.update(in_sync(tools, server, binary, manifests, info, work, "segment_", a.runs))
    age_ids(info["role_names"])
    tools.log("segment: rotate --auto starting %d rotations behind the limit ..." % n)
    server.limit(limit, window)
    out["segment_rotate_auto"] = limited(seg_measured(
        tools, server, binary,
        ["rotate", "--auto", "--min-age", "1h", "-f", manifests, "--bundle-dir", bundles],
        work, "segment-rotate-auto"), limit, window)
    log_limited(tools, "segment rotate --auto", out["segment_rotate_auto"])
    server.limit(UNLIMITED, 60000)
    return out


def part_large(a, binary, work, tools, server):
    large = a.segment_large
    tools.moto_reset(a.moto)
    server.control("POST", "/reset", {})
    server.limit(UNLIMITED, 60000)
    manifests = os.path.join(work, "segment-large-manifests")
    bundles = os.path.join(work, "segment-large-bundles")
    info = make_manifests.generate(manifests, large, seed=a.seed, segment=True)
    server.populate(info["segment"])
    out = {"segment_large": large, "segment_large_kinds": count_kinds(info)}
    tools.log("segment: apply of %d instances without a limit ..." % large)
    out["segment_large_apply"] = seg_measured(
        tools, server, binary, ["apply", "--auto-approve", "-f", manifests, "--bundle-dir", bundles],
        work, "segment-large-apply")
    tools.log("segment large apply: %.1f s, %d Segment requests"
              % (out["segment_large_apply"]["wall_s"],
                 out["segment_large_apply"]["segment"]["requests"]))
    out.update(in_sync(tools, server, binary, manifests, info, work, "segment_large_", a.runs))
    return out


def count_kinds(info):
    kinds = {"destination": 0, "source": 0}
    for kind, _ in info["segment"]:
        kinds[kind] += 1
    return kinds


def log_limited(tools, label, d):
    c = d["segment"]
    tools.log("%s: %.1f s, %d Segment requests (%d lists, %d PATCH, %d refused), floor %.1f s"
              % (label, d["wall_s"], c["requests"], c["lists"], c["patches"], c["refused"],
                 d["floor_s"]))


def pages(count):
    return -(-count // PAGE)


def judge(result):
    """(ratios, targets) of the Segment part."""
    ratios, targets = {}, []
    for prefix, size_key in (("segment_", "segment_n"), ("segment_large_", "segment_large")):
        if prefix + "plan" not in result:
            continue
        size = result[size_key]
        kinds = result[prefix + "kinds"]
        list_pages = pages(kinds["destination"]) + pages(kinds["source"])
        fl = result[prefix + "floor"]["wall_s"]
        for cmd in ("plan", "drift"):
            d = result[prefix + cmd]
            ratios["%s%s_over_floor" % (prefix, cmd)] = d["wall_s"] / fl
            targets.append((
                "Segment: %s <= 1.5x floor at %d instances" % (cmd, size),
                d["wall_s"] <= 1.5 * fl, "%.2fx (%.3f s against %.3f s)" % (d["wall_s"] / fl, d["wall_s"], fl)))
        requests = result[prefix + "plan"]["segment"]["requests"]
        budget = 10 if size <= 1000 else 30
        targets.append((
            "Segment: plan requests <= %d at %d instances (list pages %d)" % (budget, size, list_pages),
            requests <= budget and requests == list_pages,
            "%d requests" % requests))
    for key, label in (("segment_apply", "apply"), ("segment_rotate_auto", "rotate --auto")):
        if key not in result:
            continue
        d = result[key]
        ratio = d["wall_s"] / d["floor_s"] if d["floor_s"] else float("inf")
        ratios[key + "_over_floor"] = ratio
        targets.append((
            "Segment limit: %s of %d <= 1.3x (requests-burst)/rate" % (label, result["segment_n"]),
            ratio <= 1.3, "%.2fx (%.1f s against %.1f s)" % (ratio, d["wall_s"], d["floor_s"])))
        targets.append((
            "Segment limit: %s 429s <= 5%% of requests" % label, d["refused_share"] <= 0.05,
            "%.1f%% (%d of %d)" % (100 * d["refused_share"], d["segment"]["refused"],
                                   d["segment"]["requests"])))
        n = result["segment_n"]
        expected = n + n + 2 * (pages(result["segment_kinds"]["destination"])
                                + pages(result["segment_kinds"]["source"]))
        admitted = d["segment"]["requests"] - d["segment"]["refused"]
        targets.append((
            "Segment limit: %s requests = pushes + read-backs + list pages" % label,
            admitted == expected and d["segment"]["patches"] == n,
            "%d requests (%d PATCH), expected %d" % (admitted, d["segment"]["patches"], expected)))
    return ratios, targets


def rows(r, row, rows_out):
    """The Segment rows of the benchmark's table."""
    if "segment_apply" in r:
        lim = r["segment_apply"]["limit"]
        rows_out.append(("-- Segment: %d instances (%d destinations, %d sources) --"
                         % (r["segment_n"], r["segment_kinds"]["destination"],
                            r["segment_kinds"]["source"]), "", "", "", "", ""))
        rows_out.append(("   behind %d requests / %d ms; Segment requests (429s) in 'calls'"
                         % (lim["requests"], lim["window_ms"]), "", "", "", "", ""))
        row("fnctl apply from empty, pushing all", "segment_apply", segment=True)
        row("fnctl rotate --auto, starting all", "segment_rotate_auto", segment=True)
        rows_out.append(("   no limit", "", "", "", "", ""))
        row("fnctl plan, in sync (best of 3)", "segment_plan", segment=True)
        row("fnctl drift, in sync (best of 3)", "segment_drift", segment=True)
        row("floor: IAM reads + Segment list pages", "segment_floor", rss=False)
    if "segment_large_plan" in r:
        rows_out.append(("-- Segment: %d instances, no limit --" % r["segment_large"],
                         "", "", "", "", ""))
        row("fnctl apply from empty, pushing all", "segment_large_apply", segment=True)
        row("fnctl plan, in sync (best of 3)", "segment_large_plan", segment=True)
        row("fnctl drift, in sync (best of 3)", "segment_large_drift", segment=True)
        row("floor: IAM reads + Segment list pages", "segment_large_floor", rss=False)

