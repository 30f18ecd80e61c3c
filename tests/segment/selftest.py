#!/usr/bin/env python3
"""Self-test of the Segment test backend: server.py behind Prism.

  python3 tests/segment/selftest.py [-v]

Starts tests/segment/server.py and `prism proxy --errors` on free ports,
drives the six operations through Prism (GET/PATCH of a destination and a
source, merge and replace, masking, 401/404/429/5xx, rate-limit readings,
list pages, request and response violations), prints Prism's start-up time and stops both. Exits 1 when a
check fails, 2 when the backend cannot be started (run scripts/setup to
install Prism). Standard library only.
"""

import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "openapi.yaml")
SERVER = os.path.join(HERE, "server.py")
PRISM = os.path.join(HERE, "node_modules", ".bin", "prism")
TOKEN = "selftest-token-0123456789"
VENDOR = "application/vnd.segment.v1+json"
BULLET = "\u2022"
EXTERNAL_ID = "Q7bX2mK9pL4vN8cR1tY6wZ3sD5fG0hJ2kA7eU9iO4pW1xC3n"  # 48 characters
RATE_HEADERS = ("X-RateLimit-Consumed", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip()

    @property
    def violations(self):
        v = self.headers.get("sl-violations")
        return json.loads(v) if v else []

    def errors_of(self, severity):
        return [v for v in self.violations if v.get("severity") == severity]

    def __repr__(self):
        return f"<{self.status} {self.content_type} violations={self.violations} {self.raw[:300]!r}>"


def request(base, method, path, body=None, headers=None, raw_body=None):
    data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return Response(r.status, r.headers, r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read().decode("utf-8"))


class Backend:
    def __init__(self, verbose=False):
        self.verbose = verbose
        self.server = self.prism = None
        self.prism_log = tempfile.NamedTemporaryFile(prefix="prism-", suffix=".log", delete=False)

    def start(self):
        if not os.access(PRISM, os.X_OK):
            raise RuntimeError(f"{PRISM} missing: run scripts/setup")
        self.server = subprocess.Popen(
            [sys.executable, SERVER, "--port", "0", "--token", TOKEN],
            stdout=subprocess.PIPE,
            stderr=None if self.verbose else subprocess.DEVNULL,
            text=True,
        )
        line = self.server.stdout.readline().strip()
        if not line.startswith("listening on 127.0.0.1:"):
            raise RuntimeError(f"server did not start: {line!r}")
        self.server_port = int(line.rsplit(":", 1)[1])
        self.control_base = f"http://127.0.0.1:{self.server_port}"

        self.prism_port = free_port()
        t0 = time.monotonic()
        self.prism = subprocess.Popen(
            [PRISM, "proxy", SPEC, self.control_base, "--errors",
             "-p", str(self.prism_port), "-h", "127.0.0.1"],
            stdout=self.prism_log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.prism_port}"
        deadline = t0 + 60
        while True:
            if self.prism.poll() is not None:
                raise RuntimeError(f"prism exited with {self.prism.returncode}:\n{self.prism_log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.prism_port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"prism did not listen within 60 s:\n{self.prism_log_text()}")
                time.sleep(0.02)
        self.startup = time.monotonic() - t0

    def prism_log_text(self):
        with open(self.prism_log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        for p in (self.prism, self.server):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.server and self.server.stdout:
            self.server.stdout.close()
        self.prism_log.close()
        os.unlink(self.prism_log.name)

    # API through Prism
    def api(self, method, path, body=None, token=TOKEN, content_type=VENDOR, headers=None, raw_body=None):
        h = {"Accept": VENDOR}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if body is not None or raw_body is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        return request(self.base, method, path, body, h, raw_body)

    # API straight to the server, bypassing Prism
    def direct(self, method, path, body=None, token=TOKEN):
        h = {"Accept": VENDOR, "Authorization": f"Bearer {token}"}
        if body is not None:
            h["Content-Type"] = VENDOR
        return request(self.control_base, method, path, body, h)

    def control(self, method, path, body=None):
        r = request(self.control_base, method, "/__control" + path, body,
                    {"Content-Type": "application/json"} if body is not None else {})
        if r.status >= 300:
            raise RuntimeError(f"control {method} {path}: {r}")
        return r.json

    def log(self):
        return self.control("GET", "/requests")["requests"]


class Checks:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, ok, what, detail=None):
        if ok:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failed += 1
            print(f"  FAIL  {what}" + (f"\n        {detail!r}" if detail is not None else ""))
        return ok

    def clean(self, r, what, status=200, content_type=None):
        """An answer that passed Prism untouched: expected status, no violation."""
        ok = r.status == status and not r.violations
        if content_type:
            ok = ok and r.content_type == content_type
        return self.check(ok, what, r)


def masked(value):
    return BULLET * 10 + value[-4:]


def run(b, c):
    ctl = b.control
    ctl("POST", "/reset", {})
    ctl("POST", "/instances", {
        "kind": "destination", "id": "fP7qoQw2HTWt9WdMr718gn", "name": "s3-archiver-prod",
        "functionId": "dfn_64f1c2a9e0b7d3c1a5f0e9b2",
        "settings": {"iamRoleArn": "arn:aws:iam::123456789012:role/old", "iamRoleExternalId": EXTERNAL_ID,
                     "s3Bucket": "acme-events-prod", "userSetting": "keep me"},
        "settingTypes": {"iamRoleArn": "STRING", "iamRoleExternalId": "STRING"},
    })
    ctl("POST", "/instances", {
        "kind": "source", "id": "qQEHquLrjRDN9j1ByrChyn", "name": "webhook-in",
        "functionId": "sfnc_wXzcDGFR3KmjLDrtSawNHf",
        "settings": {"iamRoleExternalId": EXTERNAL_ID, "apiKey": "pk_live_abcdefdada"},
        "sensitive": ["iamRoleExternalId", "apiKey"],
    })
    dest, src = "/destinations/fP7qoQw2HTWt9WdMr718gn", "/sources/qQEHquLrjRDN9j1ByrChyn"

    print("GET through Prism")
    r = b.api("GET", dest)
    c.clean(r, "getDestination: 200, vendor media type, no sl-violations", 200, VENDOR)
    d = (r.json or {}).get("data", {}).get("destination", {})
    c.check(d.get("settings", {}).get("iamRoleExternalId") == masked(EXTERNAL_ID),
            "sensitive value masked as ten bullets + last 4 characters", d.get("settings"))
    c.check(d.get("settings", {}).get("iamRoleArn") == "arn:aws:iam::123456789012:role/old",
            "non-sensitive value in clear")
    c.check(d.get("metadata", {}).get("id") == "64f1c2a9e0b7d3c1a5f0e9b2",
            "metadata.id is the function's catalog id (dfn_ prefix removed)", d.get("metadata"))
    c.check(all(h in r.headers for h in RATE_HEADERS), "rate-limit headers present", dict(r.headers))
    r = b.api("GET", src)
    c.clean(r, "getSource: 200, vendor media type, no sl-violations", 200, VENDOR)
    s = (r.json or {}).get("data", {}).get("source", {})
    c.check(s.get("settings") == {"iamRoleExternalId": masked(EXTERNAL_ID),
                                  "apiKey": BULLET * 10 + "dada"},
            "source: both sensitive keys masked (apiKey as in the README: ••••••••••dada)", s.get("settings"))
    c.check(s.get("metadata", {}).get("id") == "wXzcDGFR3KmjLDrtSawNHf", "source metadata.id (sfnc_ removed)")
    r = b.api("GET", dest, headers={"Accept": "application/json"})
    c.clean(r, "Accept: application/json answered as application/json", 200, "application/json")

    print("PATCH, merge mode (default)")
    r = b.api("PATCH", dest, {"settings": {"iamRoleArn": "arn:aws:iam::123456789012:role/new"}})
    c.clean(r, "updateDestination: 200, no sl-violations", 200, VENDOR)
    d = (r.json or {}).get("data", {}).get("destination", {})
    c.check(d.get("settings", {}).get("iamRoleArn") == "arn:aws:iam::123456789012:role/new"
            and d.get("settings", {}).get("iamRoleExternalId") == masked(EXTERNAL_ID),
            "answer holds the updated resource, masked", d.get("settings"))
    raw = ctl("GET", "/instances/destination/fP7qoQw2HTWt9WdMr718gn/settings")["settings"]
    c.check(raw == {"iamRoleArn": "arn:aws:iam::123456789012:role/new", "iamRoleExternalId": EXTERNAL_ID,
                    "s3Bucket": "acme-events-prod", "userSetting": "keep me"},
            "merge kept every other setting; raw settings unmasked", raw)
    r = b.api("PATCH", src, {"name": "webhook-in-2", "enabled": False, "settings": {"iamRoleExternalId": "N" * 48}})
    c.clean(r, "updateSource: 200, no sl-violations", 200, VENDOR)
    s = (r.json or {}).get("data", {}).get("source", {})
    c.check(s.get("name") == "webhook-in-2" and s.get("enabled") is False
            and s.get("settings", {}).get("apiKey") == BULLET * 10 + "dada", "source name/enabled updated, apiKey kept", s)
    r = b.api("PATCH", dest, {"settings": {"iamRoleArn": "x"}}, content_type="application/json")
    c.clean(r, "PATCH with Content-Type application/json accepted (Prism is lenient)", 200)

    print("concurrency")
    ctl("POST", "/instances", {"kind": "destination", "id": "parallel"})
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(lambda i: b.api("PATCH", "/destinations/parallel", {"settings": {f"k{i}": i}}), range(48)))
    c.check(all(r.status == 200 and not r.violations for r in rs), "48 PATCHes, 16 at a time: all 200",
            [r for r in rs if r.status != 200][:2])
    raw = ctl("GET", "/instances/destination/parallel/settings")["settings"]
    c.check(raw == {f"k{i}": i for i in range(48)}, "merge lost no concurrent write", len(raw))

    print("masked value written back")
    since = b.log()[-1]["seq"]
    r = b.api("PATCH", dest, {"settings": {"iamRoleExternalId": masked(EXTERNAL_ID)}})
    c.clean(r, "PATCH with a masked value: accepted, like Segment", 200)
    raw = ctl("GET", "/instances/destination/fP7qoQw2HTWt9WdMr718gn/settings")["settings"]
    c.check(raw["iamRoleExternalId"] == masked(EXTERNAL_ID), "stored as given (the secret is lost)")
    entry = [e for e in b.log() if e["seq"] > since][-1]
    c.check(entry["maskedValueKeys"] == ["iamRoleExternalId"] and entry["settingsKeys"] == ["iamRoleExternalId"],
            "request log flags maskedValueKeys", entry)
    c.check(TOKEN not in json.dumps(b.log()), "the token appears nowhere in the request log")
    only = b.control("GET", "/requests?path=" + src)["requests"]
    c.check(only and all(e["path"] == src for e in only), "request log filtered by path", only)

    print("PATCH, replace mode")
    ctl("PUT", "/patch-mode", {"mode": "replace"})
    r = b.api("PATCH", dest, {"settings": {"iamRoleArn": "arn:r", "iamRoleExternalId": EXTERNAL_ID}})
    c.clean(r, "PATCH in replace mode: 200", 200)
    raw = ctl("GET", "/instances/destination/fP7qoQw2HTWt9WdMr718gn/settings")["settings"]
    c.check(raw == {"iamRoleArn": "arn:r", "iamRoleExternalId": EXTERNAL_ID}, "replace dropped the other settings", raw)
    ctl("PUT", "/patch-mode", {"mode": "merge"})
    ctl("PUT", "/instances/source/qQEHquLrjRDN9j1ByrChyn/patch-mode", {"mode": "replace"})
    r = b.api("PATCH", src, {"settings": {"only": "this"}})
    raw = ctl("GET", "/instances/source/qQEHquLrjRDN9j1ByrChyn/settings")["settings"]
    c.check(r.status == 200 and raw == {"only": "this"}, "per-instance replace mode over a global merge", raw)
    ctl("PUT", "/instances/source/qQEHquLrjRDN9j1ByrChyn/patch-mode", {"mode": None})
    ctl("PUT", "/instances/source/qQEHquLrjRDN9j1ByrChyn/settings/apiKey", {"value": "pk_live_abcdefdada"})

    print("hand edit in Segment's UI (control API)")
    ctl("PUT", "/instances/destination/fP7qoQw2HTWt9WdMr718gn/settings/iamRoleArn", {"value": "arn:by-hand"})
    r = b.api("GET", dest)
    c.check(r.json["data"]["destination"]["settings"]["iamRoleArn"] == "arn:by-hand", "GET shows the hand edit")

    print("read-only only PATCH")
    r = b.api("PATCH", dest, {"id": "other", "sourceId": "x"})
    c.check(r.status == 400 and r.json["errors"][0]["type"] == "BadRequest"
            and not r.errors_of("Error"), "400, passed through with only a status-code Warning", r)
    r = b.api("PATCH", dest, {"id": "other", "enabled": True})
    c.clean(r, "mix of read-only and writable: 200, read-only ignored", 200)

    print("errors")
    n = len(b.log())
    r = b.api("GET", dest, token=None)
    c.check(r.status == 401 and r.content_type == "application/problem+json"
            and r.json.get("type") == "https://stoplight.io/prism/errors#UNAUTHORIZED",
            "no Authorization: Prism answers 401 problem+json itself", r)
    c.check(len(b.log()) == n, "... and the server never saw it")
    r = b.api("GET", dest, token="wrong-token")
    c.check(r.status == 401 and r.json == {"errors": [{"type": "Unauthorized", "message": "Unauthorized"}]}
            and all(v["severity"] == "Warning" for v in r.violations) and len(r.violations) == 1,
            "wrong token: the server's 401 passes with one status-code Warning", r)
    c.check(b.log()[-1]["auth"] == "invalid" and b.log()[-1]["status"] == 401, "logged as auth=invalid")
    r = b.api("GET", "/destinations/nope")
    c.clean(r, "unknown destination: 404 application/json, no sl-violations", 404, "application/json")
    c.check(r.json == {"errors": [{"type": "NotFound", "message": "Resource not found"}]}, "404 body", r.json)
    r = b.api("PATCH", "/sources/nope", {"enabled": True})
    c.clean(r, "unknown source: 404", 404, "application/json")
    r = b.api("PATCH", dest, {"settings": {"iamRoleArn": 42}})
    c.clean(r, "setting of the wrong type (settingTypes): server's 422, no sl-violations", 422, "application/json")
    c.check(r.json["errors"][0].get("field") == "settings.iamRoleArn", "422 names the field", r.json)
    r = b.direct("PATCH", dest, {"settings": "not an object"})
    c.check(r.status == 422 and r.json["errors"][0]["field"] == "settings",
            "non-object settings straight to the server: 422 in the spec's shape", r)

    print("fault injection")
    ctl("POST", "/faults", {"path": dest, "method": "GET", "status": 429, "count": 2, "msBeforeNext": 1500})
    for i in (1, 2):
        r = b.api("GET", dest)
        c.clean(r, f"injected 429 #{i}: no sl-violations", 429, "application/json")
    e = r.json["errors"][0]
    c.check(e["type"] == "RequestError" and e["message"] == "Too many requests"
            and e["data"]["remainingPoints"] == 0 and e["data"]["msBeforeNext"] == 1500
            and isinstance(e["data"]["consumedPoints"], int), "429 body as the README shows", e)
    c.check(r.headers.get("X-RateLimit-Remaining") == "0" and "X-RateLimit-Reset" in r.headers,
            "429 rate-limit headers", dict(r.headers))
    c.clean(b.api("GET", dest), "third GET after two injected 429s: 200", 200)
    c.clean(b.api("PATCH", dest, {"enabled": True}), "the GET fault did not hit PATCH", 200)
    for status in (500, 503):
        ctl("POST", "/faults", {"path": dest, "status": status, "count": 1})
        r = b.api("PATCH", dest, {"enabled": True})
        c.check(r.status == status and r.json["errors"][0]["type"] == "ServerError"
                and not r.errors_of("Error") and len(r.errors_of("Warning")) == 1,
                f"injected {status}: passed through with a status-code Warning", r)
    ctl("POST", "/faults", {"path": src, "status": 502, "body": "<html>Bad Gateway</html>", "contentType": "text/html"})
    r = b.api("GET", src)
    c.check(r.status == 502 and r.content_type == "text/html" and not r.errors_of("Error"),
            "injected 502 with a gateway's HTML body passes through", r)
    ctl("POST", "/faults", {"path": src, "delayMs": 300})
    t0 = time.monotonic()
    r = b.api("GET", src)
    c.check(r.status == 200 and time.monotonic() - t0 >= 0.3, "delay fault: answered after 300 ms", r)
    c.check(ctl("GET", "/faults")["faults"] == [], "every fault used up")
    ctl("PUT", "/rate-limit", {"limit": 2, "windowMs": 60000})
    statuses = [b.api("GET", src).status for _ in range(3)]
    c.check(statuses == [200, 200, 429], "real rate limit: the third request in the window gets 429", statuses)
    ctl("PUT", "/rate-limit", {"limit": 2, "windowMs": 60000, "headersOn": "success", "countRejected": False})
    r = [b.api("GET", src) for _ in range(3)][-1]
    c.check(r.status == 429 and "X-RateLimit-Reset" not in r.headers
            and r.json["errors"][0]["data"]["consumedPoints"] == 2,
            "readings: headers on successes only, a refused request not counted", dict(r.headers))
    ctl("PUT", "/rate-limit", {"limit": 5, "windowMs": 60000, "resetZone": "+0000", "listCost": 3})
    r = b.api("GET", "/destinations?pagination[count]=1")
    c.check(r.status == 200 and r.headers.get("X-RateLimit-Remaining") == "2"
            and r.headers.get("X-RateLimit-Reset", "").endswith(" +0000"),
            "readings: a list page costs 3 points, the reset zone is +0000", dict(r.headers))
    ctl("PUT", "/rate-limit", {"limit": 10000, "windowMs": 60000, "headersOn": "all", "countRejected": True,
                               "resetZone": "GMT", "listCost": 1})

    print("lists")
    ctl("POST", "/batch", {"instances": [
        {"kind": "destination", "id": f"dList{n:04d}", "settings": {"iamRoleExternalId": EXTERNAL_ID, "n": n}}
        for n in range(5)]})
    ids, cursor, pages = [], None, []
    while True:
        query = "?pagination[count]=2" + (f"&pagination[cursor]={cursor}" if cursor else "")
        r = b.api("GET", "/destinations" + query)
        pages.append(r)
        if r.status != 200:
            break
        ids += [d["id"] for d in r.json["data"]["destinations"]]
        cursor = r.json["data"]["pagination"].get("next")
        if not cursor:
            break
    c.check(all(p.status == 200 and not p.violations for p in pages) and len(pages) == 4,
            "listDestinations: 4 pages of 2 through Prism, no violation", pages)
    c.check(ids[-5:] == [f"dList{n:04d}" for n in range(5)] and len(ids) == len(set(ids)),
            "listDestinations: every destination once, in creation order", ids)
    last = pages[-1].json["data"]
    c.check(last["pagination"]["totalEntries"] == len(ids) and "next" not in last["pagination"]
            and last["destinations"][-1]["settings"]["iamRoleExternalId"] == masked(EXTERNAL_ID),
            "listDestinations: totalEntries, no next on the last page, settings masked", last["pagination"])
    r = b.api("GET", "/sources?pagination[count]=200")
    c.clean(r, "listSources: one page of 200", 200)
    ctl("PUT", "/lists", {"totals": False})
    r = b.api("GET", "/sources?pagination[count]=200")
    c.check(r.status == 200 and not r.violations and "totalEntries" not in r.json["data"]["pagination"],
            "lists without totalEntries (the spec allows it)", r)
    ctl("PUT", "/lists", {"totals": True})
    r = b.api("GET", "/destinations?pagination[count]=201")
    c.check(r.status == 422, "pagination[count] above 200: 422", r)
    n = len(b.log())
    r = b.api("GET", "/destinations")
    c.check(r.status == 422 and len(b.log()) == n, "a list without pagination: Prism 422, not forwarded", r)

    print("Prism's request validation")
    n = len(b.log())
    r = b.api("PATCH", dest, {"settings": "iamRoleArn=x"})
    c.check(r.status == 422 and r.content_type == "application/problem+json"
            and r.json.get("type") == "https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY"
            and r.json["validation"][0]["location"] == ["body", "settings"],
            "PATCH with string settings: Prism 422 problem+json UNPROCESSABLE_ENTITY", r)
    r = b.api("PATCH", src, {"settings": ["a"]})
    c.check(r.status == 422 and r.content_type == "application/problem+json", "source settings array: Prism 422", r)
    r = b.api("PATCH", dest, {"enabled": "yes"})
    c.check(r.status == 422 and r.content_type == "application/problem+json", "enabled not boolean: Prism 422", r)
    r = b.api("PATCH", dest, {"enabled": True}, content_type="text/plain")
    c.check(r.status == 422 and r.content_type == "application/problem+json", "text/plain body: Prism 422 (code 415)", r)
    r = b.api("PATCH", dest, raw_body=b"{not json")
    c.check(r.status == 400 and r.content_type == "text/plain" and r.raw == "Invalid JSON",
            "malformed JSON (Accept: vendor type): Prism 400 text/plain 'Invalid JSON'", r)
    r = b.api("PATCH", dest, raw_body=b"{not json", headers={"Accept": "*/*"})
    c.check(r.status == 400 and r.json == {"error": {"code": "invalid_json", "message": "Invalid JSON"}},
            "malformed JSON (Accept: */*): Prism 400 {error:{code:invalid_json}}", r)
    c.check(len(b.log()) == n, "none of these reached the server")
    r = b.api("PATCH", dest, {"enabled": True, "unknownTopLevel": 1})
    c.clean(r, "unknown top-level property: allowed by the spec, forwarded, 200", 200)

    print("Prism's response validation")
    ctl("POST", "/instances", {"kind": "destination", "id": "broken", "metadata": {"logos": "not an object"}})
    r = b.api("GET", "/destinations/broken")
    c.check(r.status == 500 and r.content_type == "application/problem+json"
            and r.json.get("type") == "https://stoplight.io/prism/errors#VIOLATIONS"
            and r.errors_of("Error"), "a response off the spec: Prism 500 VIOLATIONS + sl-violations Error", r)

    print("control API")
    ctl("POST", "/reset", {})
    c.check(ctl("GET", "/instances")["instances"] == [] and b.log() == [], "reset empties state and log")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="server log on stderr, Prism log at the end")
    args = ap.parse_args()
    b = Backend(args.verbose)
    c = Checks()
    try:
        try:
            b.start()
        except RuntimeError as e:
            print(f"selftest: cannot start the backend: {e}", file=sys.stderr)
            return 2
        print(f"server on 127.0.0.1:{b.server_port}, prism on 127.0.0.1:{b.prism_port}")
        print(f"Prism start-up: {b.startup:.2f} s (spawn to accepting connections)")
        try:
            run(b, c)
        except Exception as e:  # a crash is a failure, with Prism's log
            c.check(False, f"selftest crashed: {type(e).__name__}: {e}")
            import traceback
            traceback.print_exc()
        if c.failed or args.verbose:
            print("---- prism log (tail) ----")
            print("\n".join(b.prism_log_text().splitlines()[-40:]))
    finally:
        b.stop()
    print(f"{c.passed} passed, {c.failed} failed; Prism start-up {b.startup:.2f} s")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
