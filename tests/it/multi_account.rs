//! Several accounts in one run (issue 7, item 3): each manifest's
//! `defaults.assumeRole` names a deployer role in its own account; fnctl
//! assumes it through STS and reconciles that account with those credentials.
//!
//! moto is multi-account: credentials from an assumed role act in that
//! role's account, and a request with the header `x-moto-account-id: ID`
//! acts in account ID. The test uses the header to set up the deployer roles
//! and to look at each account; fnctl itself only ever gets the default
//! account's credentials and reaches the others through STS.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_iam::error::BoxError;
use serde_json::{json, Value};

use crate::support::command::{fnctl, fnctl_command, fnctl_offline, run_command, Output};
use crate::support::env::{workspace, write_file};
use crate::support::fault_proxy::{FaultConfig, FaultProxy};
use crate::support::moto::{iam_client, Moto, MOTO_ACCOUNT};
use crate::support::spec::{role_of, INLINE, PATH};

const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const BUNDLES: &str = "bundles";

/// Adds `x-moto-account-id` to every request of a client.
#[derive(Debug)]
struct MotoAccount(String);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// An IAM client acting in `account` of `moto`.
async fn iam_in(moto: &Moto, account: &str) -> aws_sdk_iam::Client {
    let base = iam_client(moto).await;
    let config = base
        .config()
        .to_builder()
        .interceptor(MotoAccount(account.to_string()))
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

fn deployer_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/deployer")
}

/// The instances of an account: two in the first, one in the others.
fn instances(account: &str) -> Vec<String> {
    let short = &account[..3];
    if account == ACCOUNTS[0] {
        vec![format!("archiver-{short}"), format!("reader-{short}")]
    } else {
        vec![format!("archiver-{short}")]
    }
}

fn manifest(account: &str) -> String {
    let mut text = format!(
        r#"version: 1
defaults:
  scope: multi
  account: "{account}"
  assumeRole: {assume}
instances:
"#,
        assume = deployer_arn(account)
    );
    for name in instances(account) {
        let kind = if name.starts_with("reader") {
            "source"
        } else {
            "destination"
        };
        text.push_str(&format!(
            r#"  - name: {name}
    kind: {kind}
    bucket:
      name: events-{account}
      region: us-west-2
"#
        ));
    }
    text
}

/// A moto with a deployer role in each account (trusting the default
/// account) and a workspace with one manifest per account.
struct World {
    moto: Moto,
    ws: tempfile::TempDir,
    clients: BTreeMap<&'static str, aws_sdk_iam::Client>,
    default: aws_sdk_iam::Client,
}

impl World {
    async fn start() -> World {
        let moto = Moto::start();
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{MOTO_ACCOUNT}:root")},
                "Action": "sts:AssumeRole"
            }]
        })
        .to_string();
        let mut clients = BTreeMap::new();
        for account in ACCOUNTS {
            let iam = iam_in(&moto, account).await;
            let created = iam
                .create_role()
                .role_name("deployer")
                .assume_role_policy_document(&trust)
                .send()
                .await
                .unwrap_or_else(|e| panic!("create deployer in {account}: {e:?}"));
            assert_eq!(
                created.role().map(|r| r.arn()),
                Some(deployer_arn(account).as_str()),
                "the header makes moto act in {account}"
            );
            clients.insert(account, iam);
        }
        let default = iam_client(&moto).await;
        let ws = workspace();
        for account in ACCOUNTS {
            write_file(
                ws.path(),
                &format!("manifests/account-{account}.yaml"),
                &manifest(account),
            );
        }
        World {
            moto,
            ws,
            clients,
            default,
        }
    }

    fn path(&self) -> &Path {
        self.ws.path()
    }

    fn fnctl(&self, args: &[&str]) -> Output {
        fnctl(&self.moto)
            .current_dir(self.ws.path())
            .args(args)
            .run()
    }

    fn iam(&self, account: &str) -> &aws_sdk_iam::Client {
        &self.clients[account]
    }

    /// Role names under fnctl's path in an account.
    async fn roles_in(&self, account: &str) -> BTreeSet<String> {
        let client = if account == MOTO_ACCOUNT {
            &self.default
        } else {
            self.iam(account)
        };
        list_roles(client, account).await
    }

    async fn inline_policies(&self, account: &str, role: &str) -> Vec<String> {
        self.iam(account)
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListRolePolicies {role} in {account}: {e:?}"))
            .policy_names()
            .to_vec()
    }

    /// The bundle of an instance, wherever under `bundles/` fnctl put it
    /// (flat per the SPEC, or grouped by account).
    fn bundle(&self, instance: &str) -> Value {
        let found = find_file(&self.path().join(BUNDLES), &format!("{instance}.json"))
            .unwrap_or_else(|| panic!("no bundle for {instance} under {BUNDLES}/"));
        serde_json::from_str(&fs::read_to_string(&found).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", found.display()))
    }
}

async fn list_roles(client: &aws_sdk_iam::Client, account: &str) -> BTreeSet<String> {
    client
        .list_roles()
        .path_prefix(PATH)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListRoles in {account}: {e:?}"))
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .collect()
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().and_then(|n| n.to_str()) == Some(name) {
            return Some(path);
        }
    }
    None
}

fn expected_roles(account: &str) -> BTreeSet<String> {
    instances(account).iter().map(|i| role_of(i)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_accounts_in_one_run_each_through_its_deployer_role() {
    let world = World::start().await;

    let plan = world.fnctl(&["plan", "--detailed-exitcode"]);
    plan.assert_exit(2)
        .assert_stdout_contains("Plan: 4 to create");
    for account in ACCOUNTS {
        plan.assert_stdout_contains(account);
        for instance in instances(account) {
            plan.assert_stdout_contains(&role_of(&instance));
        }
    }
    let json_plan = world.fnctl(&["plan", "--format", "json"]);
    json_plan.assert_success();
    let report: Value = serde_json::from_str(&json_plan.stdout).expect("plan JSON");
    let mut planned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for change in report["changes"].as_array().expect("changes") {
        planned
            .entry(change["account"].as_str().expect("account").to_string())
            .or_default()
            .insert(change["role"].as_str().expect("role").to_string());
    }
    let wanted: BTreeMap<String, BTreeSet<String>> = ACCOUNTS
        .iter()
        .map(|a| (a.to_string(), expected_roles(a)))
        .collect();
    assert_eq!(planned, wanted, "each change in its own account");
    for account in ACCOUNTS {
        assert!(
            world.roles_in(account).await.is_empty(),
            "plan created roles in {account}"
        );
    }

    world
        .fnctl(&["apply", "--auto-approve", "--bundle-dir", BUNDLES])
        .assert_success();

    for account in ACCOUNTS {
        assert_eq!(
            world.roles_in(account).await,
            expected_roles(account),
            "roles of account {account}"
        );
        for instance in instances(account) {
            let role = role_of(&instance);
            assert_eq!(
                world.inline_policies(account, &role).await,
                vec![INLINE.to_string()],
                "{role} in {account}"
            );
            let bundle = world.bundle(&instance);
            assert_eq!(
                bundle["settings"]["iamRoleArn"],
                json!(format!("arn:aws:iam::{account}:role{PATH}{role}")),
                "bundle of {instance}"
            );
            assert_eq!(bundle["instance"], json!(instance));
        }
    }
    assert!(
        world.roles_in(MOTO_ACCOUNT).await.is_empty(),
        "nothing may land in the caller's own account {MOTO_ACCOUNT}"
    );

    world
        .fnctl(&["plan", "--detailed-exitcode"])
        .assert_exit(0)
        .assert_stdout_contains("No changes");
    world.fnctl(&["drift"]).assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn account_flag_limits_plan_and_apply_to_that_account() {
    let world = World::start().await;

    // --account from empty: only that account is planned and created.
    let [first, second, third] = ACCOUNTS;
    let plan = world.fnctl(&["plan", "--detailed-exitcode", "--account", second]);
    plan.assert_exit(2).assert_stdout_contains(second);
    assert!(
        !plan.stdout.contains(first) && !plan.stdout.contains(third),
        "plan --account {second} shows other accounts:\n{}",
        plan.stdout
    );
    world
        .fnctl(&[
            "apply",
            "--auto-approve",
            "--bundle-dir",
            BUNDLES,
            "--account",
            second,
        ])
        .assert_success();
    assert_eq!(world.roles_in(second).await, expected_roles(second));
    for other in [first, third] {
        assert!(
            world.roles_in(other).await.is_empty(),
            "apply --account {second} created roles in {other}"
        );
    }

    // Everything in place, then out-of-band changes in two accounts.
    world
        .fnctl(&["apply", "--auto-approve", "--bundle-dir", BUNDLES])
        .assert_success();
    world.fnctl(&["plan", "--detailed-exitcode"]).assert_exit(0);
    for account in [first, second] {
        let role = role_of(&instances(account)[0]);
        world
            .iam(account)
            .delete_role_policy()
            .role_name(&role)
            .policy_name(INLINE)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteRolePolicy {role} in {account}: {e:?}"));
        assert!(world.inline_policies(account, &role).await.is_empty());
    }

    let plan = world.fnctl(&["plan", "--detailed-exitcode", "--account", second]);
    plan.assert_exit(2)
        .assert_stdout_contains(&role_of(&instances(second)[0]));
    assert!(
        !plan.stdout.contains(&role_of(&instances(first)[0])),
        "plan --account {second} shows {first}'s drift:\n{}",
        plan.stdout
    );
    world
        .fnctl(&["plan", "--detailed-exitcode", "--account", third])
        .assert_exit(0);

    world
        .fnctl(&[
            "apply",
            "--auto-approve",
            "--bundle-dir",
            BUNDLES,
            "--account",
            second,
        ])
        .assert_success();
    let repaired = role_of(&instances(second)[0]);
    assert_eq!(
        world.inline_policies(second, &repaired).await,
        vec![INLINE.to_string()],
        "apply --account {second} repairs {second}"
    );
    let untouched = role_of(&instances(first)[0]);
    assert!(
        world.inline_policies(first, &untouched).await.is_empty(),
        "apply --account {second} changed {first}"
    );

    world
        .fnctl(&["plan", "--detailed-exitcode", "--account", second])
        .assert_exit(0);
    let plan = world.fnctl(&["plan", "--detailed-exitcode"]);
    plan.assert_exit(2).assert_stdout_contains(&untouched);
    assert!(!plan.stdout.contains(&repaired), "{}", plan.stdout);
    assert!(world.roles_in(MOTO_ACCOUNT).await.is_empty());
}

/// A shard keeps only its accounts' instances, but checks every file: an
/// error in another account's manifest stops it before any call to AWS.
#[tokio::test(flavor = "multi_thread")]
async fn a_shard_refuses_a_manifest_error_in_another_accounts_file() {
    let world = World::start().await;
    let [first, second, _] = ACCOUNTS;
    // Counts every call fnctl makes, STS's included.
    let proxy = FaultProxy::start(world.moto.port(), FaultConfig::quiet());
    let second_file = format!("manifests/account-{second}.yaml");
    let broken = format!(
        "{}  - name: {}\n    kind: source\n  - name: misnamed\n    kind: destination\n    bucket:\n      name: Not_A_Bucket\n      region: us-west-2\n",
        manifest(second),
        instances(first)[1],
    );
    write_file(world.path(), &second_file, &broken);
    let shard = |args: &[&str]| -> Output {
        run_command(fnctl_command(&proxy.endpoint(), world.path(), args))
    };

    for args in [
        &["plan", "--account", first][..],
        &[
            "apply",
            "--auto-approve",
            "--bundle-dir",
            BUNDLES,
            "--account",
            first,
        ],
    ] {
        let out = shard(args);
        out.assert_exit(1)
            .assert_stderr_contains("nothing was sent to AWS");
        for expected in [
            // A duplicate of an instance of the shard's own account, found
            // in the other account's file, and an error of that file alone.
            format!(
                "error[duplicate-instance]: instance `{}`",
                instances(first)[1]
            ),
            "error[invalid-bucket-name]".to_string(),
            format!("--> {second_file}:"),
        ] {
            out.assert_stderr_contains(&expected);
        }
        assert_eq!(
            proxy.requests(),
            0,
            "{args:?} called AWS: {}",
            proxy.summary()
        );
    }
    assert!(world.roles_in(first).await.is_empty());

    // Fixed, the same shard goes through the proxy and plans its account only.
    write_file(world.path(), &second_file, &manifest(second));
    let plan = shard(&["plan", "--detailed-exitcode", "--account", first]);
    plan.assert_exit(2);
    assert!(proxy.requests() > 0, "the shard reached AWS elsewhere");
    for instance in instances(first) {
        plan.assert_stdout_contains(&role_of(&instance));
    }
    assert!(!plan.stdout.contains(second), "{}", plan.stdout);
}

/// Manifests that name accounts without a role to assume share the job's
/// credentials: a shard given credentials for its account plans that
/// account's instances, the others' being dropped as they are read.
#[test]
fn a_shard_plans_its_account_among_accounts_reached_by_the_same_credentials() {
    let moto = Moto::start();
    let ws = workspace();
    let other = ACCOUNTS[1];
    for (file, account, instance) in [
        ("mine.yaml", MOTO_ACCOUNT, "mine"),
        ("theirs.yaml", other, "theirs"),
    ] {
        write_file(
            ws.path(),
            &format!("manifests/{file}"),
            &format!("version: 1\ndefaults:\n  account: \"{account}\"\ninstances:\n  - name: {instance}\n    kind: destination\n"),
        );
    }
    let run = |args: &[&str]| fnctl(&moto).current_dir(ws.path()).args(args).run();

    let plan = run(&["plan", "--detailed-exitcode", "--account", MOTO_ACCOUNT]);
    plan.assert_exit(2).assert_stdout_contains(&role_of("mine"));
    assert!(!plan.stdout.contains(&role_of("theirs")), "{}", plan.stdout);

    // Unsharded, the guard sees the other account's instance.
    run(&["plan"])
        .assert_exit(1)
        .assert_stderr_contains("not the account the manifests name");
    // The other account's shard has no credentials here: still an error.
    run(&["plan", "--account", other])
        .assert_exit(1)
        .assert_stderr_contains("matches no account");
}

#[test]
fn assume_role_into_another_account_than_the_guard_is_a_validation_error() {
    let ws = workspace();
    write_file(
        ws.path(),
        "manifests/mismatch.yaml",
        &format!(
            r#"version: 1
defaults:
  account: "{second}"
  assumeRole: {assume}
instances:
  - name: fn-mismatch
    kind: destination
"#,
            second = ACCOUNTS[1],
            assume = deployer_arn(ACCOUNTS[0])
        ),
    );
    let out = fnctl_offline()
        .current_dir(ws.path())
        .args(["validate"])
        .run();
    out.assert_exit(1);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("account-mismatch"), "{out:?}");
    assert!(text.contains("mismatch.yaml"), "names the file: {out:?}");

    let json_out = fnctl_offline()
        .current_dir(ws.path())
        .args(["validate", "--format", "json"])
        .run();
    json_out.assert_exit(1);
    assert!(json_out.stdout.contains("account-mismatch"), "{json_out:?}");

    // plan refuses before any AWS call (the endpoint is unreachable anyway:
    // the error must be the manifest's, not a connection failure).
    let plan = fnctl_offline().current_dir(ws.path()).args(["plan"]).run();
    plan.assert_exit(1);
    assert!(plan.stderr.contains("account-mismatch"), "{plan:?}");
}
