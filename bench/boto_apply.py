#!/usr/bin/env python3
"""The baseline for `fnctl apply` from empty: a sequential boto3 loop making
the same creates (CreateRole with trust policy and tags, PutRolePolicy, and
AttachRolePolicy where the instance has a managed policy) for N other roles,
in another moto account so the account fnctl planned stays as it was.

    boto_apply.py N ACCOUNT [MANAGED_POLICY_NAME]
"""

import json
import secrets
import sys
import time

from common import client

SEGMENT_DESTINATIONS = "458175278816"


def documents(i):
    external_id = secrets.token_urlsafe(32)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::%s:root" % SEGMENT_DESTINATIONS},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
    }]}
    bucket = "bench-bucket-%04d" % (i % 10000)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:PutObject"],
        "Resource": ["arn:aws:s3:::%s/events/bench-%05d/*" % (bucket, i)],
    }]}
    return json.dumps(trust), json.dumps(policy)


def create_policy(name, account=None):
    """A local managed policy (moto has no AWS managed ones by default)."""
    return client(account=account).create_policy(
        PolicyName=name,
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}),
    )["Policy"]["Arn"]


def run(n, account, policy_arn=None):
    """Creates N roles sequentially; returns wall seconds."""
    iam = client(account=account)
    prepared = [documents(i) for i in range(n)]
    started = time.perf_counter()
    for i, (trust, policy) in enumerate(prepared):
        name = "boto3-bench-%05d" % i
        iam.create_role(
            RoleName=name, Path="/bench-boto3/", AssumeRolePolicyDocument=trust,
            Description="bench instance %d" % i, MaxSessionDuration=3600,
            Tags=[{"Key": k, "Value": v} for k, v in (
                ("fnctl:scope", "bench"), ("fnctl:instance", "bench-%05d" % i),
                ("fnctl:external-id", "0" * 16), ("team", "bench"))],
        )
        iam.put_role_policy(RoleName=name, PolicyName="fnctl-permissions", PolicyDocument=policy)
        if policy_arn and i % 10 == 0:
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return time.perf_counter() - started


def rotation_writes(n, account):
    """The writes of one rotation phase over the N roles `run` made, as a
    sequential boto3 loop: per role the lease with the rotation tags
    (TagRole), the trust policy with two IDs (UpdateAssumeRolePolicy) and
    the lease's release (UntagRole). No settle, no read-back: the cost of
    the writes alone, beside `run`'s creates. Returns wall seconds."""
    iam = client(account=account)
    prepared = [documents(i)[0] for i in range(n)]
    started = time.perf_counter()
    for i, trust in enumerate(prepared):
        name = "boto3-bench-%05d" % i
        iam.tag_role(RoleName=name, Tags=[
            {"Key": "fnctl:lock", "Value": "bench 2099-01-01T00:00:00Z"},
            {"Key": "fnctl:rotation-pending", "Value": "1" * 16},
            {"Key": "fnctl:rotation-started", "Value": "2026-01-01T00:00:00Z"}])
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
        iam.untag_role(RoleName=name, TagKeys=["fnctl:lock"])
    return time.perf_counter() - started


if __name__ == "__main__":
    arn = create_policy(sys.argv[3], sys.argv[2]) if len(sys.argv) > 3 else None
    print(json.dumps({"wall_s": run(int(sys.argv[1]), sys.argv[2], arn)}))
