"""Shared by the benchmark helpers: boto3 clients and the proxy's counters."""

import json
import os
import urllib.request

import boto3
from botocore.config import Config

# Standard retry mode: 5xx (moto's occasional concurrent-write 500) and
# throttling are retried, as the Rust SDK does.
CONFIG = Config(retries={"mode": "standard", "max_attempts": 5},
                max_pool_connections=32)


def endpoint():
    return os.environ["AWS_ENDPOINT_URL"]


def client(service="iam", account=None):
    c = boto3.session.Session().client(
        service, endpoint_url=endpoint(), region_name="us-east-1", config=CONFIG)
    if account:
        # moto multi-account: act in another account with the same credentials.
        def add_header(request, **_):
            request.headers["x-moto-account-id"] = account
        c.meta.events.register("before-send.*.*", add_header)
    return c


def counts():
    with urllib.request.urlopen(endpoint() + "/__counts", timeout=30) as r:
        return json.load(r)


def reset():
    req = urllib.request.Request(endpoint() + "/__reset", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=30).read()
