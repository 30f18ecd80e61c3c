#!/usr/bin/env python3
"""A small stateful stand-in for Segment's Public API, for fnctl's tests.

Serves the six operations fnctl uses, in the shapes of
tests/segment/openapi.yaml (Segment Public API 36.2.0):

  GET   /destinations                   listDestinations (paged)
  GET   /destinations/{destinationId}   getDestination
  PATCH /destinations/{destinationId}   updateDestination
  GET   /sources                        listSources (paged)
  GET   /sources/{sourceId}             getSource
  PATCH /sources/{sourceId}             updateSource

plus the function endpoints of functions_api.py (createFunction and the
rest, createDestination, createSource, deletes, connected destinations),
plus a control API under /__control/ (not part of Segment's API) with which
tests create instances, read the raw settings, edit settings by hand, switch
the PATCH mode, set the rate limit (and how it behaves where Segment does
not document it), inject faults and read the request log. README.md next to
this file documents both.

Python 3.11 standard library only. Binds 127.0.0.1 only.

  python3 server.py --port 0 --token TOKEN

prints `listening on 127.0.0.1:<port>` as its first line on stdout.
"""

import argparse
import base64
import copy
import email.utils
import json
import re
import secrets
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import functions_api

BULLET = "\u2022"  # "•", what Segment masks sensitive values with
DEFAULT_SENSITIVE = ["iamRoleExternalId"]
KINDS = {"destination": "destinations", "source": "sources"}
COLLECTIONS = {v: k for k, v in KINDS.items()}
WRITABLE = {
    "destination": {"name", "enabled", "settings"},  # UpdateDestinationV1Input
    "source": {"name", "enabled", "slug", "settings"},  # UpdateSourceV1Input
}
SETTING_TYPES = {"STRING", "BOOLEAN", "ARRAY", "TEXT_MAP"}  # FunctionSettingV1.type
# Media types the spec declares for the 200 answers of the six operations.
VENDOR_V1 = "application/vnd.segment.v1+json"
OK_MEDIA_TYPES = [
    VENDOR_V1,
    "application/vnd.segment.v1beta+json",
    "application/vnd.segment.v1alpha+json",
    "application/json",
]
ERROR_MEDIA_TYPE = "application/json"  # the spec declares only this for 404/422/429
FAULT_STATUSES = {429, 500, 502, 503, 504}
ID_ALPHABET = string.ascii_letters + string.digits
MAX_PAGE = 200  # PaginationInput.count: "between 1 and 200"
# How the rate limit behaves where Segment's docs do not say; each switch
# has the default first (see README.md, "Rate limit readings").
RATE_READINGS = {
    # When a window begins: at multiples of the window length ("aligned"),
    # or with the first request after the last window ended ("first", as
    # the rate-limiter-flexible library Segment's 429 body suggests does).
    "windowStart": ["first", "aligned"],
    # Which answers carry the X-RateLimit-* headers: all of them, or only
    # the successful ones (what the docs promise).
    "headersOn": ["all", "success"],
    # Whether a refused request counts against the window (the docs'
    # example body shows consumedPoints 21, one over a limit of 20).
    "countRejected": [True, False],
    # X-RateLimit-Reset is whole seconds: rounded up or down.
    "resetRounding": ["ceil", "floor"],
    # The zone of X-RateLimit-Reset: "GMT" (as HTTP dates) or "+0000".
    "resetZone": ["GMT", "+0000"],
}


def new_id(n=22):
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(n))


def mask(value):
    """Segment's masking of a sensitive setting, as exported workspaces show
    it: ten bullets, then the last 4 characters, whatever the value's
    length ("••••••••••dada"). A value of 4 characters or fewer shows ten
    bullets only (it would otherwise show whole); the empty string stays
    empty."""
    if not isinstance(value, str) or value == "":
        return value
    if len(value) <= 4:
        return BULLET * 10
    return BULLET * 10 + value[-4:]


def has_bullet(value):
    return isinstance(value, str) and BULLET in value


def slugify(text):
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "function"


def type_ok(kind, value):
    if value is None:
        return True
    if kind == "STRING":
        return isinstance(value, str)
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind == "ARRAY":
        return isinstance(value, list)
    if kind == "TEXT_MAP":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return True


class ApiError(Exception):
    def __init__(self, status, type_, message, field=None, data=None, headers=None):
        super().__init__(message)
        self.status = status
        self.error = {"type": type_, "message": message}
        if field is not None:
            self.error["field"] = field
        if data is not None:
            self.error["data"] = data
        self.headers = headers or {}


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class State:
    """Everything the server holds; one lock guards it all."""

    def __init__(self, patch_mode="merge", rate_limit=10000, window_ms=60000):
        self.lock = threading.Lock()
        self.initial = (patch_mode, rate_limit, window_ms)
        self.reset()

    def reset(self):
        patch_mode, rate_limit, window_ms = self.initial
        self.instances = {"destination": {}, "source": {}}
        self.patch_mode = patch_mode
        self.faults = []
        self.fault_seq = 0
        self.log = []
        self.seq = 0
        self.rate_limit = rate_limit
        self.window_ms = window_ms
        self.window_start = time.time()
        self.consumed = 0
        self.readings = {k: v[0] for k, v in RATE_READINGS.items()}
        self.list_cost = 1  # points a list page costs ("complexity" of a request)
        self.list_totals = True  # totalEntries in list answers (the spec makes it optional)
        self.counters = {"requests": 0, "refused": 0, "lists": 0, "patches": 0}
        functions_api.reset(self)

    # -- instances -----------------------------------------------------

    def create(self, body):
        kind = body.get("kind")
        if kind not in KINDS:
            raise ControlError(400, 'kind must be "destination" or "source"')
        iid = body.get("id") or new_id()
        if not isinstance(iid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", iid):
            raise ControlError(400, "id must be 1-255 characters of [A-Za-z0-9_-]")
        if iid in self.instances[kind]:
            raise ControlError(409, f"{kind} {iid} exists")
        settings = body.get("settings", {})
        if not isinstance(settings, dict):
            raise ControlError(400, "settings must be an object")
        sensitive = body.get("sensitive", DEFAULT_SENSITIVE)
        if not isinstance(sensitive, list) or not all(isinstance(k, str) for k in sensitive):
            raise ControlError(400, "sensitive must be a list of setting names")
        setting_types = body.get("settingTypes", {})
        if not isinstance(setting_types, dict) or not all(
            t in SETTING_TYPES for t in setting_types.values()
        ):
            raise ControlError(400, f"settingTypes values must be one of {sorted(SETTING_TYPES)}")
        patch_mode = body.get("patchMode")
        if patch_mode not in (None, "merge", "replace"):
            raise ControlError(400, 'patchMode must be "merge" or "replace"')
        name = body.get("name", f"{kind} {iid}")
        enabled = body.get("enabled", True)
        if not isinstance(name, str) or not isinstance(enabled, bool):
            raise ControlError(400, "name must be a string, enabled a boolean")

        prefix = "dfn_" if kind == "destination" else "sfnc_"
        function_id = body.get("functionId") or prefix + new_id()
        catalog_id = body.get("catalogId") or (
            function_id[len(prefix):] if function_id.startswith(prefix) else function_id
        )
        function_name = body.get("functionName") or name
        if kind == "destination":
            metadata = {
                "id": catalog_id,
                "name": function_name,
                "description": "",
                "slug": slugify(function_name),
                "logos": {"default": ""},
                "options": [],
                "status": "PUBLIC",
                "previousNames": [],
                "categories": [],
                "website": "",
                "components": [],
                "supportedFeatures": {},
                "supportedMethods": {},
                "supportedPlatforms": {},
                "actions": [],
                "presets": [],
            }
        else:
            metadata = {
                "id": catalog_id,
                "name": function_name,
                "slug": slugify(function_name),
                "description": "",
                "logos": {"default": ""},
                "options": [],
                "categories": [],
                "isCloudEventSource": False,
            }
        extra = body.get("metadata", {})
        if not isinstance(extra, dict):
            raise ControlError(400, "metadata must be an object")
        metadata.update(copy.deepcopy(extra))

        inst = {
            "kind": kind,
            "id": iid,
            "name": name,
            "enabled": enabled,
            "metadata": metadata,
            "functionId": function_id,
            "settings": copy.deepcopy(settings),
            "sensitive": list(dict.fromkeys(sensitive)),
            "settingTypes": dict(setting_types),
            "patchMode": patch_mode,
            "history": [],
        }
        if kind == "destination":
            inst["sourceId"] = body.get("sourceId") or new_id()
        else:
            inst["slug"] = body.get("slug") or slugify(name)
            inst["workspaceId"] = body.get("workspaceId") or "9aQ1Lj62S4bomZKLF4DPqW"
            inst["writeKeys"] = body.get("writeKeys", [])
            inst["labels"] = body.get("labels", [])
        self.record_change(inst, "control", sorted(settings), {})
        self.instances[kind][iid] = inst
        return inst

    def get(self, kind, iid):
        return self.instances[kind].get(iid)

    def record_change(self, inst, by, keys, masked):
        inst["history"].append(
            {"time": time.time(), "by": by, "keys": list(keys), "maskedValueKeys": sorted(masked)}
        )

    # -- views ---------------------------------------------------------

    @staticmethod
    def public_view(inst):
        """The resource as the API returns it (DestinationV1 / SourceV1),
        sensitive string values masked."""
        settings = {
            k: (mask(v) if k in inst["sensitive"] else copy.deepcopy(v))
            for k, v in inst["settings"].items()
        }
        if inst["kind"] == "destination":
            return {
                "id": inst["id"],
                "name": inst["name"],
                "enabled": inst["enabled"],
                "metadata": copy.deepcopy(inst["metadata"]),
                "sourceId": inst["sourceId"],
                "settings": settings,
            }
        return {
            "id": inst["id"],
            "slug": inst["slug"],
            "name": inst["name"],
            "workspaceId": inst["workspaceId"],
            "enabled": inst["enabled"],
            "writeKeys": list(inst["writeKeys"]),
            "settings": settings,
            "labels": copy.deepcopy(inst["labels"]),
            "metadata": copy.deepcopy(inst["metadata"]),
        }

    @staticmethod
    def raw_view(inst):
        return copy.deepcopy(inst)

    # -- rate limiting -------------------------------------------------

    def roll(self):
        """Starts a new window when the current one is over."""
        now = time.time()
        window = self.window_ms / 1000
        if now >= self.window_start + window:
            if self.readings["windowStart"] == "aligned":
                self.window_start = now - (now % window)
            else:
                self.window_start = now
            self.consumed = 0

    def consume(self, points=1):
        self.roll()
        self.consumed += points

    def admit(self, points):
        """Whether the window has `points` left; takes them if so (and, when
        refused requests count, also if not)."""
        self.roll()
        if self.consumed + points > self.rate_limit:
            if self.readings["countRejected"]:
                self.consumed += points
            return False
        self.consumed += points
        return True

    def window_end(self):
        return self.window_start + self.window_ms / 1000

    def format_reset(self, reset_at):
        rounded = int(reset_at + 0.999) if self.readings["resetRounding"] == "ceil" else int(reset_at)
        text = email.utils.formatdate(rounded, usegmt=True)
        if self.readings["resetZone"] != "GMT":
            text = text[: -len("GMT")] + self.readings["resetZone"]
        return text

    def rate_headers(self, reset_at=None, remaining=None):
        if reset_at is None:
            reset_at = self.window_end()
        if remaining is None:
            remaining = max(self.rate_limit - self.consumed, 0)
        return {
            "X-RateLimit-Consumed": str(self.consumed),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": self.format_reset(reset_at),
        }

    def error_headers(self, **kwargs):
        """The rate headers of an answer that is not a success."""
        return self.rate_headers(**kwargs) if self.readings["headersOn"] == "all" else {}

    # -- lists ---------------------------------------------------------

    def page(self, kind, query):
        """One page of a collection of instances (see `page_of`)."""
        views = [self.public_view(i) for i in self.instances[kind].values()]
        data = self.page_of(views, query)
        return {KINDS[kind]: data["items"], "pagination": data["pagination"]}

    def page_of(self, items, query):
        """One page of a list of answers: `pagination[count]` (required, 1-200)
        and the opaque `pagination[cursor]` (base64 of an offset, like
        Segment's "MA==")."""
        count = (query.get("pagination[count]") or [None])[0]
        if count is None:
            raise ApiError(422, "ValidationFailure", "pagination.count is required", field="pagination.count")
        try:
            count = int(float(count))
        except ValueError:
            count = 0
        if not 1 <= count <= MAX_PAGE:
            raise ApiError(422, "ValidationFailure", f"pagination.count must be between 1 and {MAX_PAGE}",
                           field="pagination.count")
        cursor = (query.get("pagination[cursor]") or [None])[0]
        offset = 0
        if cursor is not None:
            try:
                offset = int(base64.b64decode(cursor, validate=True).decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                offset = -1
            if offset < 0:
                raise ApiError(422, "ValidationFailure", "pagination.cursor is not valid",
                               field="pagination.cursor")
        page = items[offset:offset + count]
        encode = lambda n: base64.b64encode(str(n).encode()).decode()  # noqa: E731
        pagination = {"current": encode(offset)}
        if offset + count < len(items):
            pagination["next"] = encode(offset + count)
        if offset > 0:
            pagination["previous"] = encode(max(offset - count, 0))
        if self.list_totals:
            pagination["totalEntries"] = len(items)
        return {"items": page, "pagination": pagination}

    # -- faults --------------------------------------------------------

    def add_fault(self, body):
        status = body.get("status")
        delay_ms = body.get("delayMs", 0)
        if status is None and not delay_ms:
            raise ControlError(400, "a fault needs a status or a delayMs")
        if status is not None and status not in FAULT_STATUSES:
            raise ControlError(400, f"status must be one of {sorted(FAULT_STATUSES)}")
        count = body.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise ControlError(400, "count must be a positive integer")
        method = body.get("method")
        if method is not None and method not in ("GET", "PATCH", "POST", "DELETE"):
            raise ControlError(400, 'method must be "GET", "PATCH", "POST" or "DELETE"')
        after_write = body.get("afterWrite", False)
        if not isinstance(after_write, bool) or (after_write and status not in (500, 502, 503, 504)):
            raise ControlError(400, "afterWrite is a boolean, with a 5xx status")
        path = body.get("path")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise ControlError(400, "path must start with /")
        if not isinstance(delay_ms, (int, float)) or delay_ms < 0:
            raise ControlError(400, "delayMs must be a number >= 0")
        ms_before_next = body.get("msBeforeNext", 1000)
        if not isinstance(ms_before_next, int) or ms_before_next < 0:
            raise ControlError(400, "msBeforeNext must be an integer >= 0")
        retry_after = body.get("retryAfter")
        if retry_after is not None and not isinstance(retry_after, (int, str)):
            raise ControlError(400, "retryAfter must be an integer or a string")
        for k in ("body", "contentType"):
            if body.get(k) is not None and not isinstance(body[k], str):
                raise ControlError(400, f"{k} must be a string")
        self.fault_seq += 1
        fault = {
            "id": self.fault_seq,
            "path": path,
            "method": method,
            "status": status,
            "count": count,
            "msBeforeNext": ms_before_next,
            "retryAfter": retry_after,
            "delayMs": delay_ms,
            "body": body.get("body"),
            "contentType": body.get("contentType"),
            # The request is carried out (the object made), then its answer
            # is lost: the client sees the fault's status instead.
            "afterWrite": after_write,
        }
        self.faults.append(fault)
        return fault

    def take_fault(self, method, path):
        for f in self.faults:
            if (f["path"] is None or f["path"] == path) and (f["method"] in (None, method)):
                f["count"] -= 1
                if f["count"] <= 0:
                    self.faults.remove(f)
                return dict(f)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "segment-test-server/1"

    # -- plumbing ------------------------------------------------------

    @property
    def state(self):
        return self.server.state

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("server: " + (fmt % args) + "\n")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, body, content_type="application/json", headers=None, raw=False):
        data = body if raw else json.dumps(body, ensure_ascii=False).encode("utf-8")
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        # One request per connection: Node's keep-alive agent (Prism's
        # upstream client) otherwise sees "socket hang up" under concurrency.
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        url = urlsplit(self.path)
        path = unquote(url.path)
        raw_body = self.read_body()
        if path.startswith("/__control/") or path == "/__control":
            self.control(path, parse_qs(url.query), raw_body)
        else:
            self.api(path, url.query, raw_body)

    # -- Segment API ---------------------------------------------------

    def api(self, path, query, raw_body):
        st = self.state
        entry = {
            "method": self.command,
            "path": path,
            "query": query,
            "contentType": self.headers.get("Content-Type"),
            "accept": self.headers.get("Accept"),
            "userAgent": self.headers.get("User-Agent"),
            "auth": "ok",
            "bodyKeys": None,
            "settingsKeys": None,
            "maskedValueKeys": [],
            "fault": None,
        }
        self.fault_delay = 0
        with st.lock:
            try:
                status, body, ctype, headers = self.api_locked(path, parse_qs(query), raw_body, entry)
            except ApiError as e:
                status, body, ctype = e.status, {"errors": [e.error]}, ERROR_MEDIA_TYPE
                headers = {**st.error_headers(), **e.headers}
                entry["error"] = e.error["type"]
            st.counters["requests"] += 1
            st.counters["refused"] += status == 429
            st.counters["patches"] += self.command == "PATCH" and status != 429
            st.seq += 1
            entry["seq"] = st.seq
            entry["time"] = time.time()
            entry["status"] = status
            st.log.append(entry)
        if self.fault_delay:
            time.sleep(self.fault_delay / 1000)
        self.send(status, body, ctype, headers, raw=not isinstance(body, dict))

    def api_locked(self, path, query, raw_body, entry):
        st = self.state
        auth = self.headers.get("Authorization")
        if auth is None:
            entry["auth"] = "missing"
        else:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                token.strip().encode(), self.server.token.encode()
            ):
                entry["auth"] = "invalid"
        if entry["auth"] != "ok":
            # Not declared by the spec for these operations (see README.md).
            raise ApiError(401, "Unauthorized", "Unauthorized")

        fault = st.take_fault(self.command, path)
        lost_answer = None
        if fault and fault["afterWrite"]:
            lost_answer, fault = fault, None
        if fault:
            st.consume()
            entry["fault"] = fault["status"] if fault["status"] else f"delay {fault['delayMs']}ms"
            self.fault_delay = fault["delayMs"]
            if fault["status"] == 429:
                reset_at = time.time() + fault["msBeforeNext"] / 1000
                raise ApiError(
                    429,
                    "RequestError",
                    "Too many requests",
                    data={
                        "remainingPoints": 0,
                        "msBeforeNext": fault["msBeforeNext"],
                        "consumedPoints": st.consumed,
                    },
                    headers={
                        **st.error_headers(reset_at=reset_at, remaining=0),
                        **({"Retry-After": str(fault["retryAfter"])} if fault["retryAfter"] is not None else {}),
                    },
                )
            if fault["status"]:
                headers = st.error_headers()
                if fault["retryAfter"] is not None:
                    headers["Retry-After"] = str(fault["retryAfter"])
                if fault["body"] is not None:
                    return fault["status"], fault["body"], fault["contentType"] or "text/plain", headers
                msg = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                       504: "Gateway Timeout"}[fault["status"]]
                return (
                    fault["status"],
                    {"errors": [{"type": "ServerError", "message": msg}]},
                    ERROR_MEDIA_TYPE,
                    headers,
                )

        listing = re.fullmatch(r"/(destinations|sources)", path) and self.command == "GET"
        if not fault and not st.admit(st.list_cost if listing else 1):
            ms = max(int((st.window_end() - time.time()) * 1000), 0)
            raise ApiError(
                429,
                "RequestError",
                "Too many requests",
                data={"remainingPoints": 0, "msBeforeNext": ms, "consumedPoints": st.consumed},
                headers=st.error_headers(remaining=0),
            )

        answer = functions_api.handle(
            self, st, path, query, raw_body,
            lambda status, type_, message, field=None: ApiError(status, type_, message, field=field),
            new_id, st.page_of,
        )
        if answer is not None and lost_answer:
            entry["fault"] = f"{lost_answer['status']} after the write"
            return (
                lost_answer["status"],
                {"errors": [{"type": "ServerError", "message": "Internal Server Error"}]},
                ERROR_MEDIA_TYPE,
                st.error_headers(),
            )
        if answer is not None:
            return 200, {"data": answer}, self.ok_media_type(), st.rate_headers()

        if listing:
            kind = COLLECTIONS[path.strip("/")]
            st.counters["lists"] += 1
            return 200, {"data": st.page(kind, query)}, self.ok_media_type(), st.rate_headers()

        m = re.fullmatch(r"/(destinations|sources)/([^/]+)", path)
        if not m:
            raise ApiError(404, "NotFound", "Resource not found")
        kind = COLLECTIONS[m.group(1)]
        inst = st.get(kind, m.group(2))
        if self.command not in ("GET", "PATCH"):
            raise ApiError(404, "NotFound", "Resource not found")
        if inst is None:
            raise ApiError(404, "NotFound", "Resource not found")

        if self.command == "PATCH":
            self.patch(inst, raw_body, entry)
        body = {"data": {kind: st.public_view(inst)}}
        return 200, body, self.ok_media_type(), st.rate_headers()

    def ok_media_type(self):
        accept = self.headers.get("Accept") or ""
        wanted = [p.split(";")[0].strip().lower() for p in accept.split(",")]
        for mt in wanted:
            if mt in OK_MEDIA_TYPES:
                return mt
        return VENDOR_V1

    def patch(self, inst, raw_body, entry):
        st = self.state
        kind = inst["kind"]
        try:
            body = json.loads(raw_body.decode("utf-8")) if raw_body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            # Through Prism this never arrives (Prism answers 400 itself);
            # straight to the server, 422 is the nearest code the spec declares.
            raise ApiError(422, "ValidationFailure", "Request body is not valid JSON")
        if not isinstance(body, dict):
            raise ApiError(422, "ValidationFailure", "Request body must be an object")
        entry["bodyKeys"] = sorted(body)
        settings = body.get("settings")
        if "settings" in body:
            entry["settingsKeys"] = sorted(settings) if isinstance(settings, dict) else None
        masked = {k for k, v in settings.items() if has_bullet(v)} if isinstance(settings, dict) else set()
        entry["maskedValueKeys"] = sorted(masked)
        writable = WRITABLE[kind] & set(body)
        if not writable:
            raise ApiError(
                400,
                "BadRequest",
                "Only read-only properties are being updated" if body else "Nothing to update",
            )
        if "name" in body and not (
            isinstance(body["name"], str) or (kind == "destination" and body["name"] is None)
        ):
            raise ApiError(422, "ValidationFailure", '"name" must be a string', field="name")
        if "enabled" in body and not isinstance(body["enabled"], bool):
            raise ApiError(422, "ValidationFailure", '"enabled" must be a boolean', field="enabled")
        if "slug" in body and not isinstance(body["slug"], str):
            raise ApiError(422, "ValidationFailure", '"slug" must be a string', field="slug")
        if "settings" in body:
            if not isinstance(settings, dict):
                raise ApiError(422, "ValidationFailure", '"settings" must be an object', field="settings")
            for k, v in settings.items():
                t = inst["settingTypes"].get(k)
                if t and not type_ok(t, v):
                    raise ApiError(
                        422, "ValidationFailure", f'"{k}" must be of type {t}', field=f"settings.{k}"
                    )

        if "name" in body:
            inst["name"] = body["name"] if body["name"] is not None else ""
        if "enabled" in body:
            inst["enabled"] = body["enabled"]
        if "slug" in body:
            inst["slug"] = body["slug"]
        if "settings" in body:
            if (inst["patchMode"] or st.patch_mode) == "replace":
                inst["settings"] = copy.deepcopy(settings)
            else:
                inst["settings"].update(copy.deepcopy(settings))
            st.record_change(inst, "api", sorted(settings), masked)

    # -- control API ---------------------------------------------------

    def control(self, path, query, raw_body):
        st = self.state
        try:
            try:
                body = json.loads(raw_body.decode("utf-8")) if raw_body else {}
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ControlError(400, "body is not JSON")
            if not isinstance(body, dict):
                raise ControlError(400, "body must be a JSON object")
            with st.lock:
                status, out = self.control_locked(path, query, body)
        except ControlError as e:
            status, out = e.status, {"error": str(e)}
        except (ValueError, TypeError, AttributeError) as e:
            status, out = 400, {"error": f"bad control request: {e}"}
        self.send(status, out)

    def control_locked(self, path, query, body):
        st = self.state
        method = self.command
        parts = path.strip("/").split("/")[1:]  # after "__control"

        if parts == ["health"] and method == "GET":
            return 200, {"ok": True}
        if parts == ["reset"] and method == "POST":
            st.reset()
            return 200, {"ok": True}
        if len(parts) == 2 and parts[0] == "functions" and method == "PATCH":
            # A hand edit in Segment's app: fields of the function replaced as given.
            fn = st.functions.get(parts[1])
            if fn is None:
                raise ControlError(404, f"no function {parts[1]}")
            for key in ("code", "description", "settings"):
                if key in body:
                    fn[key] = copy.deepcopy(body[key])
            return 200, copy.deepcopy(fn)
        if parts == ["functions"]:
            if method == "PUT":
                for key, allowed in functions_api.FUNCTION_READINGS.items():
                    if key in body:
                        if body[key] not in allowed:
                            raise ControlError(400, f"{key} must be one of {allowed}")
                        st.function_readings[key] = body[key]
                if "workspaceName" in body:
                    st.workspace_name = str(body["workspaceName"])
            elif method != "GET":
                raise ControlError(405, "GET or PUT")
            return 200, {**st.function_readings, "workspaceName": st.workspace_name,
                         "functions": copy.deepcopy(list(st.functions.values()))}
        if parts == ["patch-mode"]:
            if method == "PUT":
                mode = body.get("mode")
                if mode not in ("merge", "replace"):
                    raise ControlError(400, 'mode must be "merge" or "replace"')
                st.patch_mode = mode
            elif method != "GET":
                raise ControlError(405, "GET or PUT")
            return 200, {"mode": st.patch_mode}
        if parts == ["rate-limit"]:
            if method == "PUT":
                limit = body.get("limit", st.rate_limit)
                window = body.get("windowMs", st.window_ms)
                if not isinstance(limit, int) or limit < 0 or not isinstance(window, int) or window < 1:
                    raise ControlError(400, "limit must be an integer >= 0, windowMs >= 1")
                readings = dict(st.readings)
                for key, allowed in RATE_READINGS.items():
                    if key in body:
                        if body[key] not in allowed:
                            raise ControlError(400, f"{key} must be one of {allowed}")
                        readings[key] = body[key]
                list_cost = body.get("listCost", st.list_cost)
                if not isinstance(list_cost, int) or list_cost < 1:
                    raise ControlError(400, "listCost must be an integer >= 1")
                st.rate_limit, st.window_ms, st.readings, st.list_cost = limit, window, readings, list_cost
                st.window_start, st.consumed = time.time(), 0
            elif method != "GET":
                raise ControlError(405, "GET or PUT")
            return 200, {"limit": st.rate_limit, "windowMs": st.window_ms, "consumed": st.consumed,
                         "listCost": st.list_cost, **st.readings}
        if parts == ["lists"]:
            if method == "PUT":
                totals = body.get("totals", st.list_totals)
                if not isinstance(totals, bool):
                    raise ControlError(400, "totals must be a boolean")
                st.list_totals = totals
            elif method != "GET":
                raise ControlError(405, "GET or PUT")
            return 200, {"totals": st.list_totals}
        if parts == ["counters"]:
            if method == "GET":
                return 200, dict(st.counters)
            if method == "DELETE":
                st.counters = {k: 0 for k in st.counters}
                return 200, dict(st.counters)
            raise ControlError(405, "GET or DELETE")
        if parts == ["batch"] and method == "POST":
            # Many instances in one call (benchmarks, large tests): the log
            # keeps no entry for them and the answer only counts them.
            bodies = body.get("instances")
            if not isinstance(bodies, list) or not all(isinstance(b, dict) for b in bodies):
                raise ControlError(400, 'body: {"instances": [{...}, ...]}')
            for one in bodies:
                st.create(one)
            return 201, {"created": len(bodies)}
        if parts == ["faults"]:
            if method == "POST":
                return 201, {"fault": st.add_fault(body)}
            if method == "GET":
                return 200, {"faults": copy.deepcopy(st.faults)}
            if method == "DELETE":
                st.faults = []
                return 200, {"faults": []}
            raise ControlError(405, "GET, POST or DELETE")
        if parts == ["requests"]:
            if method == "GET":
                since = int((query.get("since") or ["0"])[0])
                path_ = (query.get("path") or [None])[0]
                return 200, {
                    "requests": [
                        e for e in st.log if e["seq"] > since and path_ in (None, e["path"])
                    ]
                }
            if method == "DELETE":
                st.log = []
                return 200, {"requests": []}
            raise ControlError(405, "GET or DELETE")
        if parts == ["instances"]:
            if method == "POST":
                return 201, {"instance": st.raw_view(st.create(body))}
            if method == "GET":
                return 200, {
                    "instances": [st.raw_view(i) for k in KINDS for i in st.instances[k].values()]
                }
            raise ControlError(405, "GET or POST")
        if len(parts) >= 3 and parts[0] == "instances":
            kind, iid = parts[1], parts[2]
            if kind not in KINDS:
                raise ControlError(404, 'kind must be "destination" or "source"')
            inst = st.get(kind, iid)
            if inst is None:
                raise ControlError(404, f"no {kind} {iid}")
            rest = parts[3:]
            if not rest:
                if method == "GET":
                    return 200, {"instance": st.raw_view(inst)}
                if method == "DELETE":
                    del st.instances[kind][iid]
                    return 200, {"deleted": {"kind": kind, "id": iid}}
                if method == "PATCH":
                    # Reconnected by hand: another source, another function, a new name.
                    if "sourceId" in body:
                        if kind != "destination" or not isinstance(body["sourceId"], str):
                            raise ControlError(400, "sourceId: a string, for a destination")
                        inst["sourceId"] = body["sourceId"]
                    if "catalogId" in body:
                        inst["metadata"]["id"] = str(body["catalogId"])
                    if "name" in body:
                        inst["name"] = str(body["name"])
                    return 200, {"instance": st.raw_view(inst)}
                raise ControlError(405, "GET, PATCH or DELETE")
            if rest == ["settings"]:
                if method == "GET":
                    return 200, {"settings": copy.deepcopy(inst["settings"])}
                if method == "PATCH":
                    # Edits by hand in Segment's UI: set some keys, remove others.
                    set_ = body.get("set", {})
                    unset = body.get("unset", [])
                    if not isinstance(set_, dict) or not isinstance(unset, list):
                        raise ControlError(400, 'body: {"set": {...}, "unset": [...]}')
                    inst["settings"].update(copy.deepcopy(set_))
                    for k in unset:
                        inst["settings"].pop(k, None)
                    st.record_change(inst, "control", sorted(set(set_) | set(unset)), set())
                    return 200, {"settings": copy.deepcopy(inst["settings"])}
                raise ControlError(405, "GET or PATCH")
            if len(rest) == 2 and rest[0] == "settings":
                key = rest[1]
                if method == "PUT":
                    if "value" not in body:
                        raise ControlError(400, 'body: {"value": ...}')
                    inst["settings"][key] = copy.deepcopy(body["value"])
                    st.record_change(inst, "control", [key], set())
                    return 200, {"settings": copy.deepcopy(inst["settings"])}
                if method == "DELETE":
                    inst["settings"].pop(key, None)
                    st.record_change(inst, "control", [key], set())
                    return 200, {"settings": copy.deepcopy(inst["settings"])}
                raise ControlError(405, "PUT or DELETE")
            if rest == ["sensitive"]:
                if method == "PUT":
                    keys = body.get("keys")
                    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                        raise ControlError(400, 'body: {"keys": [...]}')
                    inst["sensitive"] = list(dict.fromkeys(keys))
                elif method != "GET":
                    raise ControlError(405, "GET or PUT")
                return 200, {"keys": list(inst["sensitive"])}
            if rest == ["patch-mode"]:
                if method == "PUT":
                    mode = body.get("mode")
                    if mode not in (None, "merge", "replace"):
                        raise ControlError(400, 'mode must be "merge", "replace" or null')
                    inst["patchMode"] = mode
                elif method != "GET":
                    raise ControlError(405, "GET or PUT")
                return 200, {"mode": inst["patchMode"], "effective": inst["patchMode"] or st.patch_mode}
        raise ControlError(404, f"no control endpoint {method} {path}")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 is too few for parallel tests


def main():
    ap = argparse.ArgumentParser(description="Segment Public API test server (see README.md)")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    ap.add_argument("--token", required=True, help="the only Bearer token accepted")
    ap.add_argument("--patch-mode", choices=["merge", "replace"], default="merge")
    ap.add_argument("--rate-limit", type=int, default=10000, help="requests per window before a real 429")
    ap.add_argument("--window-ms", type=int, default=60000, help="rate-limit window length")
    ap.add_argument("--verbose", action="store_true", help="log each request on stderr")
    args = ap.parse_args()
    if not args.token:
        ap.error("--token must not be empty")

    httpd = Server(("127.0.0.1", args.port), Handler)
    httpd.state = State(args.patch_mode, args.rate_limit, args.window_ms)
    httpd.token = args.token
    httpd.verbose = args.verbose
    print(f"listening on 127.0.0.1:{httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
