#!/usr/bin/env python3
"""Self-test of the test server's function endpoints, through Prism.

  python3 tests/segment/functions_selftest.py [-v]

Creates a destination function and a source function, instances of each
(a destination connected to a source, a source), reads them back masked,
lists functions and connected destinations, PATCHes code and definitions
under each reading of what Segment does not document (a settings PATCH
replacing or merging, deploys explicit or on update), deploys and deletes:
every request and answer validated by Prism against openapi.yaml. Exits 1
when a check fails, 2 when the backend cannot be started.
"""

import sys

from selftest import BULLET, Backend, Checks, main as _unused  # noqa: F401

DEFINITIONS = [
    {"name": "iamRoleArn", "label": "IAM role ARN", "description": "", "type": "STRING",
     "required": True, "sensitive": False},
    {"name": "iamRoleExternalId", "label": "IAM role external ID", "description": "", "type": "STRING",
     "required": True, "sensitive": True},
]
EXTERNAL_ID = "Q7bX2mK9pL4vN8cR1tY6wZ3sD5fG0hJ2kA7eU9iO4pW1xC3n"


def run(b, c, settings_patch, deploy):
    b.control("POST", "/reset", {})
    b.control("PUT", "/functions", {"settingsPatch": settings_patch, "deploy": deploy})
    r = b.api("POST", "/functions", {"code": "v1", "displayName": "S3 archiver", "resourceType": "DESTINATION",
                                     "description": "[fnctl:acme/s3-archiver]", "settings": DEFINITIONS})
    c.clean(r, f"[{settings_patch}/{deploy}] createFunction (destination)")
    fn = r.json["data"]["function"]
    c.check(fn["id"] == "dfn_" + fn["catalogId"], "a destination function's id is dfn_<catalogId>", fn)
    c.check(fn["displayName"] == "S3 archiver (Acme)", "the workspace's name is appended", fn)
    c.check(fn["isLatestVersion"] is False and fn["deployedAt"] is None, "never deployed", fn)
    r = b.api("POST", "/functions", {"code": "s1", "displayName": "S3 reader", "resourceType": "SOURCE"})
    c.clean(r, "createFunction (source)")
    source_fn = r.json["data"]["function"]
    c.check(source_fn["id"].startswith("sfnc_") and source_fn["displayName"] == "S3 reader",
            "a source function: sfnc_ and its own name", source_fn)
    r = b.api("GET", "/functions?resourceType=DESTINATION&pagination[count]=200")
    c.clean(r, "listFunctions")
    c.check([f["id"] for f in r.json["data"]["functions"]] == [fn["id"]] and
            "code" not in r.json["data"]["functions"][0], "listed by type, without code", r)
    settings = {"iamRoleArn": "arn:aws:iam::123456789012:role/r", "iamRoleExternalId": EXTERNAL_ID}
    made = []
    for _ in range(2):  # names are not unique
        r = b.api("POST", "/destinations", {"sourceId": "src123456", "metadataId": fn["catalogId"],
                                            "name": "prod (fnctl:acme)", "enabled": True, "settings": settings})
        c.clean(r, "createDestination")
        made.append(r.json["data"]["destination"])
    shown = made[0]["settings"]["iamRoleExternalId"]
    c.check(shown.endswith(EXTERNAL_ID[-4:]) and set(shown[:-4]) == {BULLET},
            "the sensitive definition's value comes back masked", made[0])
    c.check(made[0]["metadata"]["id"] == fn["catalogId"] and made[0]["id"] != made[1]["id"]
            and made[0]["metadata"]["name"] == "S3 archiver (Acme)",
            "metadata.id is the catalog id; a second create makes a second instance", made)
    r = b.api("GET", "/sources/src123456/connected-destinations?pagination[count]=200")
    c.clean(r, "listConnectedDestinationsFromSource")
    c.check(len(r.json["data"]["destinations"]) == 2, "both connected", r)
    r = b.api("POST", "/sources", {"slug": "fnctl-acme-reader", "enabled": True,
                                   "metadataId": source_fn["catalogId"], "settings": {}})
    c.clean(r, "createSource")
    r = b.api("POST", f"/functions/{fn['id']}/deploy")
    c.clean(r, "createFunctionDeployment")
    r = b.api("PATCH", f"/functions/{fn['id']}", {"code": "v2", "settings": DEFINITIONS[:1]})
    c.clean(r, "updateFunction")
    patched = r.json["data"]["function"]
    names = [d["name"] for d in patched["settings"]]
    c.check(names == (["iamRoleArn"] if settings_patch == "replace" else ["iamRoleExternalId", "iamRoleArn"]),
            f"a settings PATCH {settings_patch}s the definitions", names)
    c.check(patched["isLatestVersion"] is (deploy == "onUpdate"),
            f"deploys {deploy}: the new code runs only after a deploy unless on update", patched)
    r = b.api("DELETE", f"/destinations/{made[1]['id']}")
    c.clean(r, "deleteDestination")
    r = b.api("DELETE", f"/functions/{source_fn['id']}")
    c.clean(r, "deleteFunction")
    r = b.api("GET", f"/functions/{source_fn['id']}")
    c.check(r.status == 404, "a deleted function is gone", r)


def main():
    b = Backend("-v" in sys.argv)
    c = Checks()
    try:
        try:
            b.start()
        except RuntimeError as e:
            print(f"functions_selftest: cannot start the backend: {e}", file=sys.stderr)
            return 2
        for settings_patch in ("replace", "merge"):
            for deploy in ("explicit", "onUpdate"):
                run(b, c, settings_patch, deploy)
        if c.failed:
            print("\n".join(b.prism_log_text().splitlines()[-40:]))
    finally:
        b.stop()
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
