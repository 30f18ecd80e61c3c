#!/usr/bin/env python3
"""The floor: everything a plan needs, read the cheapest way IAM allows —
GetAccountAuthorizationDetails (Filter=Role) pages and ListRoles pages under
the role path, the two paginations issued concurrently with boto3.

    floor.py PATH_PREFIX   (prints {"wall_s", "gaad_pages", "list_pages", "roles"})
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import client

PAGE = 1000


def gaad(iam):
    pages, roles, kwargs = 0, 0, {}
    while True:
        page = iam.get_account_authorization_details(Filter=["Role"], MaxItems=PAGE, **kwargs)
        pages += 1
        roles += len(page.get("RoleDetailList", []))
        if not page.get("IsTruncated"):
            return pages, roles
        kwargs = {"Marker": page["Marker"]}


def list_roles(iam, prefix):
    pages, roles, kwargs = 0, 0, {}
    while True:
        page = iam.list_roles(PathPrefix=prefix, MaxItems=PAGE, **kwargs)
        pages += 1
        roles += len(page.get("Roles", []))
        if not page.get("IsTruncated"):
            return pages, roles
        kwargs = {"Marker": page["Marker"]}


def run(prefix):
    a, b = client(), client()
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        g = pool.submit(gaad, a)
        l = pool.submit(list_roles, b, prefix)
        (gp, groles), (lp, lroles) = g.result(), l.result()
    wall = time.perf_counter() - started
    return {"wall_s": wall, "gaad_pages": gp, "list_pages": lp,
            "gaad_roles": groles, "listed_roles": lroles}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "/bench/")))
