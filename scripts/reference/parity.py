#!/usr/bin/env python3
"""Compare fnctl's reference lint with parliament's and cloudsplaining's.

The corpus is src/policy/reference/parity.json: statements (the must-catch
list of issue 15, the ordinary grants of Segment functions, escalation and
exposure examples, wildcards) with the finding codes fnctl gives each. A Rust
unit test asserts fnctl's codes; this script runs both peers, at the versions
pinned in scripts/requirements-test.txt, over the same statements and prints
each peer's verdict beside fnctl's.

It fails (exit 1) when a peer decides differently on a case that has no
`why` for that peer, or when a recorded `why` no longer has a difference to
explain, so the corpus, fnctl and the table of differences stay in sync.

Only the codes a peer can produce are compared with it:
* parliament (analyze_policy_string with its community auditors):
  UNKNOWN_PREFIX -> unknown-service, UNKNOWN_ACTION -> unknown-action,
  RESOURCE_MISMATCH -> resource-mismatch, PRIVILEGE_ESCALATION ->
  privilege-escalation, PERMISSIONS_MANAGEMENT_ACTIONS -> resource-exposure;
* cloudsplaining (PolicyDocument with flag_resource_arn_statements, so ARNs in
  Resource do not hide its findings): allows_privilege_escalation ->
  privilege-escalation, permissions_management_without_constraints ->
  resource-exposure.

Usage: .venv/bin/python scripts/reference/parity.py [--markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "src" / "policy" / "reference" / "parity.json"

PARLIAMENT_CODES = {
    "UNKNOWN_PREFIX": "unknown-service",
    "UNKNOWN_ACTION": "unknown-action",
    "RESOURCE_MISMATCH": "resource-mismatch",
    "PRIVILEGE_ESCALATION": "privilege-escalation",
    "PERMISSIONS_MANAGEMENT_ACTIONS": "resource-exposure",
}
CLOUDSPLAINING_VOCABULARY = {"privilege-escalation", "resource-exposure"}
PEERS = {
    "parliament": set(PARLIAMENT_CODES.values()),
    "cloudsplaining": CLOUDSPLAINING_VOCABULARY,
}


def policy(statements: list[dict]) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": s["actions"], "Resource": s["resources"]} for s in statements
        ],
    }


def parliament_codes(statements: list[dict]) -> tuple[set[str], set[str]]:
    """(compared codes, parliament's other findings, for information)."""
    from parliament import analyze_policy_string

    result = analyze_policy_string(json.dumps(policy(statements)), include_community_auditors=True)
    codes, other = set(), set()
    for finding in result.findings:
        if finding.issue in PARLIAMENT_CODES:
            codes.add(PARLIAMENT_CODES[finding.issue])
        else:
            other.add(finding.issue)
    return codes, other


def cloudsplaining_codes(statements: list[dict]) -> set[str]:
    from cloudsplaining.scan.policy_document import PolicyDocument

    document = PolicyDocument(policy(statements), flag_resource_arn_statements=True)
    codes = set()
    if document.allows_privilege_escalation:
        codes.add("privilege-escalation")
    if document.permissions_management_without_constraints:
        codes.add("resource-exposure")
    return codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # parliament imports pkg_resources

    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    rows, problems = [], []
    for case in corpus["cases"]:
        fnctl = set(case["fnctl"])
        why = case.get("why", {})
        unknown_peers = set(why) - set(PEERS)
        if unknown_peers:
            problems.append(f"{case['name']}: `why` names unknown peers {sorted(unknown_peers)}")
        parliament, parliament_other = parliament_codes(case["statements"])
        verdicts = {"parliament": parliament, "cloudsplaining": cloudsplaining_codes(case["statements"])}
        notes = []
        for peer, vocabulary in PEERS.items():
            differs = (fnctl & vocabulary) != verdicts[peer]
            if differs and peer not in why:
                problems.append(
                    f"{case['name']}: {peer} says {sorted(verdicts[peer])}, fnctl {sorted(fnctl & vocabulary)}, "
                    "and parity.json gives no `why`"
                )
            if not differs and peer in why:
                problems.append(f"{case['name']}: {peer} now agrees; drop its `why` from parity.json")
            if differs:
                notes.append(f"{peer}: {why.get(peer, 'UNEXPLAINED')}")
        if "unused-resource" in fnctl:
            notes.append("unused-resource is fnctl's own (a warning); neither peer has it")
        rows.append(
            (
                case["group"],
                case["name"],
                ", ".join(sorted(fnctl)) or "-",
                ", ".join(sorted(parliament)) or "-",
                ", ".join(sorted(parliament_other)) or "-",
                ", ".join(sorted(verdicts["cloudsplaining"])) or "-",
                "agree" if not notes else " / ".join(notes),
            )
        )

    header = ("group", "case", "fnctl", "parliament", "parliament (not compared)", "cloudsplaining", "verdict")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    else:
        for row in rows:
            print("\t".join(row))
    for problem in problems:
        print(f"parity.py: {problem}", file=sys.stderr)
    agree = sum(1 for row in rows if row[-1] == "agree")
    print(f"parity.py: {len(rows)} cases, {agree} agree with both peers, {len(problems)} unexplained", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
