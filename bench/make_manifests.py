#!/usr/bin/env python3
"""Generate N instances' manifests for the benchmark (fixed seed).

    make_manifests.py DIR N [--seed S] [--files F] [--managed-policy ARN]
                      [--accounts K]

Writes F files (default 10) of about N/F instances each, scope `bench`, role
path `/bench/`, every instance with the S3 bucket shorthand; every 10th also
attaches the managed policy ARN when one is given. Prints a JSON summary
(role names, role path, managed attachments) on stdout.

With `--accounts K`, the N instances are spread over K accounts in one
folder, as an organisation's monorepo holds them: F files per account, each
naming its account in `defaults` (the ids are `ACCOUNT_IDS`), the seed and
instance names differing per account. This is the input of a CI shard
(`--account ID`) measured against a whole organisation's manifests.
"""

import argparse
import json
import os
import random

SCOPE = "bench"
ROLE_PATH = "/bench/"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"]


def instance_name(i, prefix=""):
    return "%sbench-%05d" % (prefix, i)


def role_name(i, prefix=""):
    return "segment-fn-" + instance_name(i, prefix)


def segment_id(i, prefix=""):
    """The Segment id of instance i (destinations and sources are separate
    id spaces in Segment, so one numbering serves both)."""
    return "%sseg%05d" % (prefix.replace("-", ""), i)


def generate(directory, n, seed=1, files=10, managed_policy=None, account=None, prefix="",
             segment=False, rotate_after_days=None):
    """`account`: reach it by assuming its role `bench-deployer` (and guard
    on it); `prefix` keeps instance names unique across accounts; `segment`
    gives every instance a Segment counterpart (`segment_id`), listed with
    its kind in the summary's `segment`; `rotate_after_days` a rotation
    schedule."""
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    files = max(1, min(files, n))
    names, managed, segments = [], 0, []
    for f in range(files):
        lo, hi = f * n // files, (f + 1) * n // files
        lines = [
            "version: 1",
            "defaults:",
            "  scope: %s" % SCOPE,
            "  rolePath: %s" % ROLE_PATH,
            "  tags: { team: bench, shard: \"%02d\" }" % f,
        ]
        if segment:
            lines += ["  segment: { region: us }"]
        if account:
            lines += [
                "  account: \"%s\"" % account,
                "  assumeRole: arn:aws:iam::%s:role/bench-deployer" % account,
            ]
        lines += ["instances:"]
        for i in range(lo, hi):
            kind = "destination" if rng.random() < 0.8 else "source"
            access = rng.choice(["write", "write", "read"])
            lines += [
                "  - name: %s" % instance_name(i, prefix),
                "    kind: %s" % kind,
                "    role:",
                "      description: bench instance %d" % i,
                "    bucket:",
                "      name: bench-bucket-%04d" % rng.randrange(10000),
                "      region: %s" % rng.choice(REGIONS),
                "      prefix: events/%s/" % instance_name(i, prefix),
                "      access: %s" % access,
            ]
            if segment:
                lines += ["    segment: { id: %s }" % segment_id(i, prefix)]
                segments.append((kind, segment_id(i, prefix)))
            if rotate_after_days:
                lines += ["    externalId: { rotateAfterDays: %d }" % rotate_after_days]
            if managed_policy and i % 10 == 0:
                lines += ["    managedPolicies: [\"%s\"]" % managed_policy]
                managed += 1
            names.append(role_name(i, prefix))
        with open(os.path.join(directory, "%sbench-%02d.yaml" % (prefix, f)), "w") as out:
            out.write("\n".join(lines) + "\n")
    return {"role_names": names, "role_path": ROLE_PATH, "scope": SCOPE,
            "managed_attachments": managed, "files": files, "segment": segments}


def account_id(k):
    """The id of the k-th account of `--accounts` (0-based), as bench/run.py
    numbers its accounts."""
    return "4000000000%02d" % (k + 1)


def generate_accounts(directory, n, accounts, seed=1, files=10, managed_policy=None):
    """N instances over `accounts` accounts, about N/accounts each."""
    summary = {"role_names": [], "role_path": ROLE_PATH, "scope": SCOPE,
               "managed_attachments": 0, "files": 0, "accounts": []}
    for k in range(accounts):
        share = (k + 1) * n // accounts - k * n // accounts
        info = generate(directory, share, seed=seed + k, files=files,
                        managed_policy=managed_policy, account=account_id(k),
                        prefix="a%02d-" % k)
        summary["role_names"] += info["role_names"]
        summary["managed_attachments"] += info["managed_attachments"]
        summary["files"] += info["files"]
        summary["accounts"].append(account_id(k))
    return summary


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("n", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--files", type=int, default=10)
    p.add_argument("--managed-policy")
    p.add_argument("--accounts", type=int, default=0,
                   help="spread the instances over this many accounts (ids 4000000000NN)")
    a = p.parse_args()
    if a.accounts > 0:
        print(json.dumps(generate_accounts(a.dir, a.n, a.accounts, a.seed, a.files,
                                           a.managed_policy)))
    else:
        print(json.dumps(generate(a.dir, a.n, a.seed, a.files, a.managed_policy)))


if __name__ == "__main__":
    main()
