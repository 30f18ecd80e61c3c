#!/usr/bin/env python3
"""A counting loopback reverse proxy in front of moto.

    count_proxy.py UPSTREAM_URL PORTFILE

Listens on a free 127.0.0.1 port (written to PORTFILE once it listens) and
forwards every request to UPSTREAM_URL (moto), counting AWS query-protocol
calls by their `Action=` (form body or query string). Used by scripts/bench
so that calls are counted outside fnctl, never by fnctl's own tally.

Control endpoints (not forwarded):
    GET  /__counts   JSON: {"calls": {Action: n}, "errors": {Action: {status: n}},
                            "upstream_s": {Action: seconds}, "roles": {RoleName: n},
                            "roles_by_action": {Action: {RoleName: n}}, "total": n,
                            "throttled": n}
    POST /__reset    zero everything (the write bucket stays as set)
    POST /__bucket?rate=R&burst=B
                     limit writes the way IAM does: a token bucket of B tokens
                     refilled at R per second, shared by every write (any Action
                     but Get*/List*/AssumeRole); a write that finds it empty is answered
                     IAM's `Throttling` (HTTP 400, query-protocol XML) without
                     reaching moto. rate=0 turns it off. The bucket starts full.

`errors` counts responses with status >= 500 or a Throttling error: the SDKs
retry those, so they are retries rather than calls the client meant to make.
A request that failed is still in `calls` (it reached the server) but not in
`roles` / `roles_by_action`, which count the calls that succeeded per role.
"""

import http.client
import http.server
import json
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict

UPSTREAM = urllib.parse.urlsplit(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000")

_lock = threading.Lock()
_state = {}


def _reset():
    with _lock:
        _state["calls"] = Counter()
        _state["errors"] = defaultdict(Counter)
        _state["upstream_s"] = Counter()
        _state["roles"] = Counter()
        _state["roles_by_action"] = defaultdict(Counter)
        _state["throttled"] = 0


_reset()
_local = threading.local()

# The write bucket (rate 0: writes are not limited).
_bucket = {"rate": 0.0, "burst": 0.0, "tokens": 0.0, "at": 0.0}

THROTTLING = (b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
              b'<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>'
              b'</Error><RequestId>7f5e1b1e-7417-4e57-9e0a-000000000001</RequestId></ErrorResponse>')


def _is_write(action):
    """An IAM action that changes something (not STS, not a path: moto's own API)."""
    return (" " not in action and not action.startswith(("Get", "List"))
            and action != "AssumeRole")


def _take_token():
    """True when the write may go on (the bucket is off or holds a token)."""
    with _lock:
        if _bucket["rate"] <= 0:
            return True
        now = time.monotonic()
        _bucket["tokens"] = min(_bucket["burst"],
                                _bucket["tokens"] + (now - _bucket["at"]) * _bucket["rate"])
        _bucket["at"] = now
        if _bucket["tokens"] >= 1.0:
            _bucket["tokens"] -= 1.0
            return True
        _state["throttled"] += 1
        return False


def _upstream():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port or 80, timeout=300)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _local.conn = conn
    return conn


def _drop_upstream():
    conn = getattr(_local, "conn", None)
    if conn is not None:
        conn.close()
        _local.conn = None


HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
       "trailer", "upgrade", "content-length", "host"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, the header and body writes meet the client's delayed ACK
    # (Nagle): ~40 ms added to every response.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _control(self):
        if self.path == "/__counts" and self.command == "GET":
            with _lock:
                doc = {
                    "calls": dict(_state["calls"]),
                    "errors": {a: dict(c) for a, c in _state["errors"].items()},
                    "upstream_s": {a: round(s, 4) for a, s in _state["upstream_s"].items()},
                    "roles": dict(_state["roles"]),
                    "roles_by_action": {a: dict(c) for a, c in _state["roles_by_action"].items()},
                    "total": sum(_state["calls"].values()),
                    "throttled": _state["throttled"],
                }
            self._reply(200, json.dumps(doc).encode())
            return True
        if self.path == "/__reset" and self.command == "POST":
            _reset()
            self._reply(200, b"{}")
            return True
        if self.path.startswith("/__bucket") and self.command == "POST":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            rate = float((query.get("rate") or ["0"])[0])
            burst = float((query.get("burst") or ["1"])[0])
            with _lock:
                _bucket.update(rate=rate, burst=burst, tokens=burst, at=time.monotonic())
            self._reply(200, json.dumps({"rate": rate, "burst": burst}).encode())
            return True
        return False

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/__") and self._control():
            return
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        ctype = self.headers.get("Content-Type", "")
        if body and "x-www-form-urlencoded" in ctype:
            params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
        action = (params.get("Action") or [None])[0]
        if action is None:
            target = self.headers.get("X-Amz-Target")
            action = target.split(".")[-1] if target else "%s %s" % (self.command, self.path.split("?")[0])
        role = (params.get("RoleName") or [None])[0]

        if _is_write(action) and not _take_token():
            with _lock:
                _state["calls"][action] += 1
                _state["errors"][action]["400"] += 1
            self.send_response_only(400, "Bad Request")
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(THROTTLING)))
            self.end_headers()
            self.wfile.write(THROTTLING)
            return

        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = self.headers.get("Host", UPSTREAM.netloc)
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                conn = _upstream()
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                _drop_upstream()
                if attempt == 2:
                    self._reply(502, b"proxy: upstream failed", "text/plain")
                    return
        elapsed = time.perf_counter() - started
        throttled = resp.status == 400 and b"<Code>Throttling</Code>" in data
        with _lock:
            _state["calls"][action] += 1
            _state["upstream_s"][action] += elapsed
            if resp.status >= 500 or throttled:
                _state["errors"][action][str(resp.status)] += 1
            elif role:
                _state["roles"][role] += 1
                _state["roles_by_action"][action][role] += 1
        if resp.will_close:
            _drop_upstream()
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() not in ("server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self._headers_buffer.append(b"\r\n")
        payload = b"".join(self._headers_buffer) + (data if self.command != "HEAD" else b"")
        self._headers_buffer = []
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    portfile = sys.argv[2] if len(sys.argv) > 2 else None
    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    if portfile:
        with open(portfile + ".tmp", "w") as f:
            f.write("%d\n" % port)
        import os
        os.replace(portfile + ".tmp", portfile)
    else:
        print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
