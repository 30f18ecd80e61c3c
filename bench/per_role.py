#!/usr/bin/env python3
"""The per-role read pattern Terraform's AWS provider uses to refresh a role:
GetRole, ListRolePolicies, GetRolePolicy per inline policy,
ListAttachedRolePolicies — with boto3, sequentially or with T threads.

    per_role.py THREADS ROLE_NAME...   (prints {"wall_s": ..., "roles": ...})
"""

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common import client


def read_role(iam, name):
    iam.get_role(RoleName=name)
    names, kwargs = [], {}
    while True:
        page = iam.list_role_policies(RoleName=name, **kwargs)
        names += page["PolicyNames"]
        if not page.get("IsTruncated"):
            break
        kwargs = {"Marker": page["Marker"]}
    for policy in names:
        iam.get_role_policy(RoleName=name, PolicyName=policy)
    kwargs = {}
    while True:
        page = iam.list_attached_role_policies(RoleName=name, **kwargs)
        if not page.get("IsTruncated"):
            break
        kwargs = {"Marker": page["Marker"]}


def run(names, threads=1):
    """Reads every role; returns wall seconds (clients made beforehand)."""
    if threads <= 1:
        iam = client()
        started = time.perf_counter()
        for name in names:
            read_role(iam, name)
        return time.perf_counter() - started
    clients = [client() for _ in range(threads)]
    local = threading.local()
    pool_ids = iter(range(threads))
    lock = threading.Lock()

    def work(name):
        if not hasattr(local, "iam"):
            with lock:
                local.iam = clients[next(pool_ids)]
        read_role(local.iam, name)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, names))
    return time.perf_counter() - started


if __name__ == "__main__":
    roles = sys.argv[2:]
    print(json.dumps({"wall_s": run(roles, int(sys.argv[1])), "roles": len(roles)}))
