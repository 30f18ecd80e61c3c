#!/usr/bin/env python3
"""Trim Segment's Public API OpenAPI spec to what fnctl's tests need.

Reads the full spec (Segment Public API 36.2.0, from
speakeasy-sdks/terraform-provider-segment, file openapi.yaml, commit
0692de936220883b8493b2ad6b6e609a0bb151a4, MIT licensed) and writes
tests/segment/openapi.yaml holding only:

  - openapi, info, servers, security (verbatim);
  - GET of /destinations and /sources (listDestinations, listSources) and
    GET and PATCH of /destinations/{destinationId} and /sources/{sourceId}
    (getDestination, updateDestination, getSource, updateSource), verbatim;
  - for functions (see functions_api.py): POST /destinations and /sources,
    DELETE of one, GET /sources/{sourceId}/connected-destinations, GET and
    POST /functions, GET, PATCH and DELETE /functions/{functionId}, POST
    /functions/{functionId}/deploy, verbatim;
  - components.securitySchemes (verbatim) and every components.schemas entry
    those operations reference, directly or transitively (verbatim, in the
    source's order).

Dropped: every other path and method, the documentation-only `tags`
section and the `x-domain-hierarchy` / `x-tagGroups` extensions.

The spec is cut by lines (block-style YAML, keys found by indentation), so
what is kept is byte-for-byte the upstream text and a diff against upstream
stays readable. Standard library only; when PyYAML is importable the result
is also parsed and checked (the four operations are there, every $ref
resolves, every kept section parses equal to the same section of the
source).

Usage:
  python3 tests/segment/trim_spec.py [--source PATH] [--out PATH]
  python3 tests/segment/trim_spec.py --check   # exit 1 if the committed
                                               # file is not what the
                                               # source gives
"""

import argparse
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SOURCE = os.path.join(os.path.dirname(REPO), "shared", "segment", "openapi.yaml")
DEFAULT_OUT = os.path.join(HERE, "openapi.yaml")

UPSTREAM_REPO = "speakeasy-sdks/terraform-provider-segment"
UPSTREAM_FILE = "openapi.yaml"
UPSTREAM_COMMIT = "0692de936220883b8493b2ad6b6e609a0bb151a4"
UPSTREAM_VERSION = "36.2.0"

# path -> methods kept, in output order
KEEP = {
    "/destinations": ["get", "post"],
    "/destinations/{destinationId}": ["get", "patch", "delete"],
    "/sources": ["get", "post"],
    "/sources/{sourceId}": ["get", "patch", "delete"],
    "/sources/{sourceId}/connected-destinations": ["get"],
    "/functions": ["get", "post"],
    "/functions/{functionId}": ["get", "patch", "delete"],
    "/functions/{functionId}/deploy": ["post"],
}
OPERATION_IDS = {
    "listDestinations",
    "getDestination",
    "updateDestination",
    "listSources",
    "getSource",
    "updateSource",
    "createDestination",
    "deleteDestination",
    "createSource",
    "deleteSource",
    "listConnectedDestinationsFromSource",
    "createFunction",
    "listFunctions",
    "getFunction",
    "updateFunction",
    "deleteFunction",
    "createFunctionDeployment",
}

SCHEMA_REF = re.compile(r"#/components/schemas/([A-Za-z0-9_.\-]+)")
OTHER_REF = re.compile(r"#/components/(?!schemas/)([A-Za-z]+)/")


def die(msg):
    print(f"trim_spec: error: {msg}", file=sys.stderr)
    sys.exit(1)


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def is_blank(line):
    s = line.strip()
    return s == "" or s.startswith("#")


def children(lines, start, end, indent):
    """Mapping keys written at exactly `indent` spaces in lines[start:end]:
    ordered list of (key, first_line, end_line) where the block runs from the
    key line up to (not including) the next key at this indent or less."""
    out = []
    key_re = re.compile(r"^ {%d}([^\s#\-][^:]*|'[^']*'|\"[^\"]*\"):(\s|$)" % indent)
    i = start
    cur = None
    while i < end:
        line = lines[i]
        if not is_blank(line):
            ind = indent_of(line)
            if ind < indent:
                die(f"line {i + 1}: unexpected dedent while reading a block")
            if ind == indent:
                m = key_re.match(line)
                if not m:
                    die(f"line {i + 1}: expected a mapping key at indent {indent}: {line.rstrip()!r}")
                if cur:
                    out.append((cur[0], cur[1], i))
                cur = (m.group(1).strip("'\""), i)
        i += 1
    if cur:
        out.append((cur[0], cur[1], end))
    return out


def block(lines, entries, key):
    for k, s, e in entries:
        if k == key:
            return s, e
    die(f"key {key!r} not found")


def strip_trailing_blank(lines, s, e):
    while e > s + 1 and lines[e - 1].strip() == "":
        e -= 1
    return s, e


def trim(source_text):
    lines = source_text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    top = children(lines, 0, len(lines), 0)
    out = []

    def emit(s, e):
        s, e = strip_trailing_blank(lines, s, e)
        out.extend(lines[s:e])

    for key in ("openapi", "info", "servers", "security"):
        emit(*block(lines, top, key))

    kept_text = []
    out.append("paths:\n")
    ps, pe = block(lines, top, "paths")
    paths = children(lines, ps + 1, pe, 2)
    for path, methods in KEEP.items():
        s, e = block(lines, paths, path)
        out.append(lines[s])
        ops = children(lines, s + 1, e, 4)
        for method in methods:
            ms, me = strip_trailing_blank(lines, *block(lines, ops, method))
            out.extend(lines[ms:me])
            kept_text.extend(lines[ms:me])

    cs, ce = block(lines, top, "components")
    comps = children(lines, cs + 1, ce, 2)
    out.append("components:\n")
    emit(*block(lines, comps, "securitySchemes"))
    ss, se = block(lines, comps, "schemas")
    schemas = children(lines, ss + 1, se, 4)
    by_name = {k: (s, e) for k, s, e in schemas}

    wanted = set()
    todo = list(SCHEMA_REF.findall("".join(kept_text)))
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in by_name:
            die(f"$ref to unknown schema {name!r}")
        wanted.add(name)
        s, e = by_name[name]
        todo.extend(SCHEMA_REF.findall("".join(lines[s:e])))

    out.append("  schemas:\n")
    for name, s, e in schemas:
        if name in wanted:
            emit(s, e)

    body = "".join(out)
    other = sorted(set(OTHER_REF.findall(body)))
    if other:
        die(f"kept text references components other than schemas: {other}")
    return body, sorted(wanted)


def header(source_text):
    digest = hashlib.sha256(source_text.encode("utf-8")).hexdigest()
    ops = ", ".join(sorted(OPERATION_IDS))
    return (
        "# GENERATED by tests/segment/trim_spec.py -- do not edit by hand.\n"
        f"# Trimmed copy of the Segment Public API OpenAPI spec, version {UPSTREAM_VERSION},\n"
        f"# from https://github.com/{UPSTREAM_REPO} (file {UPSTREAM_FILE},\n"
        f"# commit {UPSTREAM_COMMIT}), MIT licensed: see\n"
        "# tests/segment/LICENSE.md. Source file sha256:\n"
        f"# {digest}\n"
        f"# Kept: {ops}, the components they reference, servers and security.\n"
    )


def check_with_pyyaml(text, schemas, source_text):
    try:
        import yaml  # optional
    except ImportError:
        print("trim_spec: PyYAML not importable; skipped the parse check", file=sys.stderr)
        return
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(text, Loader=loader)
    found = {op["operationId"] for p in doc["paths"].values() for op in p.values()}
    if found != OPERATION_IDS:
        die(f"operations in the result: {sorted(found)}")
    names = set(doc["components"]["schemas"])
    if names != set(schemas):
        die("parsed schema names differ from the ones cut out")

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "$ref":
                    if not v.startswith("#/components/schemas/") or v.rsplit("/", 1)[1] not in names:
                        die(f"unresolved $ref {v}")
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(doc)

    full = yaml.load(source_text, Loader=loader)
    same = all(doc[k] == full[k] for k in ("openapi", "info", "servers", "security"))
    same = same and doc["components"]["securitySchemes"] == full["components"]["securitySchemes"]
    same = same and all(doc["components"]["schemas"][n] == full["components"]["schemas"][n] for n in names)
    same = same and all(
        op == full["paths"][p][m] for p, ops in doc["paths"].items() for m, op in ops.items()
    )
    if not same:
        die("a kept section parses differently from the same section of the source")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=DEFAULT_SOURCE, help="full spec (default: %(default)s)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="trimmed spec (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = ap.parse_args()

    with open(args.source, encoding="utf-8") as f:
        source_text = f.read()
    if f"version: {UPSTREAM_VERSION}\n" not in source_text[:2000]:
        die(f"{args.source} is not version {UPSTREAM_VERSION} of the spec")
    body, schemas = trim(source_text)
    text = header(source_text) + body
    check_with_pyyaml(text, schemas, source_text)

    if args.check:
        try:
            with open(args.out, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            die(f"{args.out} is not what {args.source} gives; rerun trim_spec.py")
        print(f"trim_spec: {args.out} is up to date")
        return
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print(
        f"trim_spec: wrote {args.out}: {len(OPERATION_IDS)} operations, "
        f"{len(schemas)} schemas, {text.count(chr(10))} lines"
    )


if __name__ == "__main__":
    main()
