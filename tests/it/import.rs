//! `fnctl import` end to end: an account of hand-made Segment function roles
//! of every shape (Segment's guide, Terraform's layout, paths, boundaries,
//! managed policies, wildcard and conditioned grants, and the shapes fnctl
//! cannot say: `StringLike`, two IDs, another principal, two inline
//! policies, `NotAction`, no external ID, both kinds, another scope's role)
//! and a Segment workspace (the test server behind Prism) whose instances
//! name them. After `import`: `validate` passes, `plan --adopt` adopts with
//! fnctl's tags only, `apply --adopt` changes no trust policy, permission,
//! setting or Segment instance (IAM read before and after), `verify` and a
//! clean plan follow, an import run again (before and after adoption) writes
//! the same bytes, and `--snapshot` of the AWS CLI's exports gives the same
//! manifest as the live read.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::support::aws_cli::{gaad_export, iam_tags, list_roles_export};
use crate::support::command::fnctl_offline;
use crate::support::env::{workspace, write_file, Env, RoleState, BUNDLES};
use crate::support::segment::{SegmentApi, TOKEN};
use crate::support::spec::{DESTINATION_ACCOUNT, SOURCE_ACCOUNT};

/// Roles made like Segment's guide says, each linked to a destination.
const GUIDE_ROLES: usize = 38;
/// moto's account.
const ACCOUNT: &str = "123456789012";
/// `apply --adopt` of the imported manifests.
const ADOPT: [&str; 7] = [
    "apply",
    "--adopt",
    "--auto-approve",
    "-f",
    "manifests",
    "--bundle-dir",
    "bundles",
];

/// (role → (instance, Segment id)) imported and (role → code) skipped.
type Listing = (
    BTreeMap<String, (String, Option<String>)>,
    BTreeMap<String, String>,
);

/// What import must do with a role.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Written as this instance, linked to this Segment instance.
    Imported(&'static str, Option<String>),
    /// Left out with this code.
    Skipped(&'static str),
}

/// One hand-made role.
struct Shape {
    name: String,
    path: &'static str,
    trust: Value,
    inline: Vec<(&'static str, Value)>,
    attached: Vec<String>,
    boundary: Option<String>,
    tags: Vec<(&'static str, &'static str)>,
    description: Option<&'static str>,
    max_session: Option<i32>,
    expect: Expect,
}

/// An external ID for role number `n`, 48 characters as fnctl makes them;
/// the last four (all Segment shows of it) differ from role to role.
fn id(n: usize) -> String {
    format!("{}ImportTest{n:04}", "k".repeat(34))
}

/// Segment's guide: no Sid, `arn:…:root`, a scalar ID.
fn guide_trust(account: &str, id: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": id}}}]})
}

fn policy(statements: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn shape(name: &str, trust: Value, expect: Expect) -> Shape {
    Shape {
        name: name.to_string(),
        path: "/segment-functions/",
        trust,
        inline: Vec::new(),
        attached: Vec::new(),
        boundary: None,
        tags: Vec::new(),
        description: None,
        max_session: None,
        expect,
    }
}

fn policy_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
}

/// The account's roles and the workspace's instances as they are built.
struct Fleet {
    shapes: Vec<Shape>,
    /// (kind, id, settings) with the external ID each holds.
    instances: Vec<(&'static str, String, Value)>,
    /// The number of the next role's external ID.
    next_id: usize,
}

impl Fleet {
    fn next(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }
}

fn role_arn(path: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role{path}{name}")
}

/// Every role of the account, and the Segment instances that name them.
fn fleet() -> Fleet {
    let mut f = Fleet {
        shapes: Vec::new(),
        instances: Vec::new(),
        next_id: GUIDE_ROLES,
    };
    guide_roles(&mut f);
    other_layouts(&mut f);
    findings(&mut f);
    links_and_names(&mut f);
    left_out(&mut f);
    f
}

/// Roles made as Segment's guide says, each linked to a destination.
fn guide_roles(f: &mut Fleet) {
    for n in 0..GUIDE_ROLES {
        let name = format!("segment-fn-guide-{n:02}");
        let bucket = format!("acme-events-{n:02}");
        // Even: fnctl's own statement, so the `bucket:` shorthand says it.
        let statement = if n % 2 == 0 {
            json!([{"Sid": "BucketWrite", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [format!("arn:aws:s3:::{bucket}/segment/*")]}])
        } else {
            json!({"Effect": "Allow", "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/*")})
        };
        let segment_id = format!("dstGuide{n:04}x");
        let mut role = shape(
            &name,
            guide_trust(DESTINATION_ACCOUNT, &id(n)),
            Expect::Imported("", Some(segment_id.clone())),
        );
        role.inline = vec![("s3-access", policy(statement))];
        role.description = Some("Segment S3 archiver, made by hand");
        f.instances.push((
            "destination",
            segment_id,
            json!({"iamRoleArn": role_arn("/segment-functions/", &name), "iamRoleExternalId": id(n),
                "s3Bucket": bucket, "s3BucketRegion": "us-west-2", "flushEvery": 100, "apiKey": "foreign-secret-0001"}),
        ));
        f.shapes.push(role);
    }
}

/// Terraform's layout, source functions, other paths.
fn other_layouts(f: &mut Fleet) {
    // Terraform: Sid "", lists, its own path, tags and session length.
    let k = f.next();
    let mut terraform = shape(
        "tf-orders-export",
        json!({"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow",
            "Principal": {"AWS": [format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root")]}, "Action": ["sts:AssumeRole"],
            "Condition": {"StringEquals": {"sts:ExternalId": [id(k)]}}}]}),
        Expect::Imported("tf-orders-export", Some("dstTerraform01".into())),
    );
    terraform.path = "/terraform/";
    terraform.tags = vec![("ManagedBy", "terraform"), ("team", "orders")];
    terraform.description = Some("Managed by Terraform");
    terraform.max_session = Some(7200);
    terraform.inline = vec![(
        "tf-orders",
        policy(json!([
            {"Sid": "AllowSqs", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["arn:aws:sqs:us-east-1:123456789012:orders"]},
            {"Sid": "NoDeletes", "Effect": "Deny", "Action": ["sqs:DeleteQueue"], "Resource": ["*"]}
        ])),
    )];
    f.instances.push((
        "destination",
        "dstTerraform01".into(),
        json!({"iamRoleArn": role_arn("/terraform/", "tf-orders-export"), "iamRoleExternalId": id(k), "queue": "orders", "retries": [1, 2]}),
    ));
    f.shapes.push(terraform);
    // A source function, a bare account id as principal.
    let k = f.next();
    f.shapes.push(shape(
        "webhook-source",
        json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": SOURCE_ACCOUNT},
            "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": id(k)}}}}),
        Expect::Imported("webhook-source", Some("srcWebhook0001".into())),
    ));
    f.instances.push((
        "source",
        "srcWebhook0001".into(),
        json!({"iamRoleArn": role_arn("/segment-functions/", "webhook-source"), "iamRoleExternalId": id(k), "mode": "strict"}),
    ));
    // A source function with no instance, at a deeper path, no description.
    let k = f.next();
    let mut deep = shape(
        "deep-source",
        guide_trust(SOURCE_ACCOUNT, &id(k)),
        Expect::Imported("deep-source", None),
    );
    deep.path = "/teams/data/";
    deep.max_session = Some(43200);
    f.shapes.push(deep);
}

/// Grants the lint flags, conditions, managed policies, boundaries.
fn findings(f: &mut Fleet) {
    // A wildcard grant: imported with allowWildcards and the findings named.
    let k = f.next();
    let mut wild = shape(
        "wild-grant",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("wild-grant", None),
    );
    wild.inline = vec![(
        "everything",
        policy(json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])),
    )];
    f.shapes.push(wild);
    // A grant that can open a bucket to others: allowFindings.
    let k = f.next();
    let mut exposure = shape(
        "bucket-policy-writer",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("bucket-policy-writer", None),
    );
    exposure.inline = vec![(
        "policy-writer",
        policy(
            json!([{"Effect": "Allow", "Action": "s3:PutBucketPolicy", "Resource": "arn:aws:s3:::acme-shared"}]),
        ),
    )];
    f.shapes.push(exposure);
    // A grant under a condition: verify judges it granted.
    let k = f.next();
    let mut conditioned = shape(
        "conditioned-grant",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("conditioned-grant", None),
    );
    conditioned.inline = vec![(
        "queue-send",
        policy(json!([{"Effect": "Allow", "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:us-east-1:123456789012:events", "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}])),
    )];
    f.shapes.push(conditioned);
    // Managed policies and a boundary.
    let k = f.next();
    let mut managed = shape(
        "managed-policies",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("managed-policies", None),
    );
    managed.attached = vec![policy_arn("fn-extra"), policy_arn("oob-extra")];
    f.shapes.push(managed);
    let k = f.next();
    let mut bounded = shape(
        "bounded",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("bounded", None),
    );
    bounded.boundary = Some(policy_arn("fn-boundary"));
    bounded.description = Some("Bounded by fn-boundary");
    f.shapes.push(bounded);
}

/// A short ID, Segment instances that cannot be linked, names to clean.
fn links_and_names(f: &mut Fleet) {
    // A short external ID: kept (the plan warns), nothing changes.
    let mut weak = shape(
        "weak-id",
        guide_trust(DESTINATION_ACCOUNT, "short-id-12"),
        Expect::Imported("weak-id", None),
    );
    weak.description = Some("");
    f.shapes.push(weak);
    // Segment holds another ID than the trust policy: imported, not linked.
    let k = f.next();
    f.shapes.push(shape(
        "segment-other-id",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("segment-other-id", None),
    ));
    f.instances.push((
        "destination",
        "dstOtherId0001".into(),
        json!({"iamRoleArn": role_arn("/segment-functions/", "segment-other-id"), "iamRoleExternalId": id(k + 500)}),
    ));
    // Two instances name one role: imported, not linked.
    let k = f.next();
    f.shapes.push(shape(
        "shared-role",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("shared-role", None),
    ));
    for suffix in ["A", "B"] {
        f.instances.push((
            "destination",
            format!("dstShared000{suffix}"),
            json!({"iamRoleArn": role_arn("/segment-functions/", "shared-role"), "iamRoleExternalId": id(k)}),
        ));
    }
    // Names IAM allows that instance names do not, and one that collides.
    let k = f.next();
    f.shapes.push(shape(
        "Dup+Name",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("dup-name", None),
    ));
    let k = f.next();
    f.shapes.push(shape(
        "dup-name",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Imported("dup-name-2", None),
    ));
}

/// What fnctl cannot say: left out, each with its reason.
fn left_out(f: &mut Fleet) {
    // What fnctl cannot say: left out, each with its reason.
    let k = f.next();
    f.shapes.push(shape("string-like", json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root")}, "Action": "sts:AssumeRole",
        "Condition": {"StringLike": {"sts:ExternalId": id(k)}}}]}), Expect::Skipped("trust-external-id-operator")));
    let k = f.next();
    f.shapes.push(shape("two-ids", json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root")}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": [id(k), id(k + 500)]}}}]}), Expect::Skipped("trust-several-external-ids")));
    let k = f.next();
    f.shapes.push(shape("extra-principal", json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": [format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root"), "arn:aws:iam::111122223333:root"]}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": id(k)}}}]}), Expect::Skipped("trust-other-principals")));
    let k = f.next();
    let mut two_inline = shape(
        "two-inline",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Skipped("several-inline-policies"),
    );
    two_inline.inline = vec![
        (
            "first",
            policy(
                json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"}]),
            ),
        ),
        (
            "second",
            policy(
                json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]),
            ),
        ),
    ];
    f.shapes.push(two_inline);
    let k = f.next();
    let mut not_action = shape(
        "not-action",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Skipped("inline-policy-unexpressible"),
    );
    not_action.inline = vec![(
        "all-but",
        policy(json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}])),
    )];
    f.shapes.push(not_action);
    f.shapes.push(shape("no-external-id", json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]}),
        Expect::Skipped("trust-without-external-id")));
    let k = f.next();
    f.shapes.push(shape("both-kinds", json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": [format!("arn:aws:iam::{DESTINATION_ACCOUNT}:root"), format!("arn:aws:iam::{SOURCE_ACCOUNT}:root")]},
        "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": id(k)}}}]}), Expect::Skipped("trust-both-kinds")));
    let k = f.next();
    let mut owned = shape(
        "owned-elsewhere",
        guide_trust(DESTINATION_ACCOUNT, &id(k)),
        Expect::Skipped("already-managed"),
    );
    owned.tags = vec![
        ("fnctl:managed-by", "fnctl"),
        ("fnctl:scope", "payments"),
        ("fnctl:instance", "owned-elsewhere"),
    ];
    f.shapes.push(owned);
}

/// The instance name a guide role gets.
fn guide_instance(name: &str) -> String {
    name.trim_start_matches("segment-fn-").to_string()
}

async fn create(env: &Env, shape: &Shape) {
    let mut call = env
        .iam
        .create_role()
        .role_name(&shape.name)
        .path(shape.path)
        .assume_role_policy_document(shape.trust.to_string());
    if let Some(description) = shape.description {
        call = call.description(description);
    }
    if let Some(seconds) = shape.max_session {
        call = call.max_session_duration(seconds);
    }
    if let Some(boundary) = &shape.boundary {
        call = call.permissions_boundary(boundary);
    }
    if !shape.tags.is_empty() {
        call = call.set_tags(Some(iam_tags(&shape.tags)));
    }
    call.send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {}: {e:?}", shape.name));
    for (name, document) in &shape.inline {
        env.iam
            .put_role_policy()
            .role_name(&shape.name)
            .policy_name(*name)
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutRolePolicy {}: {e:?}", shape.name));
    }
    for arn in &shape.attached {
        env.iam
            .attach_role_policy()
            .role_name(&shape.name)
            .policy_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("AttachRolePolicy {}: {e:?}", shape.name));
    }
}

/// The world of the test: the account, the workspace and Segment.
struct World {
    env: Env,
    segment: SegmentApi,
    shapes: Vec<Shape>,
    /// (kind, id) of every Segment instance.
    instances: Vec<(&'static str, String)>,
}

impl World {
    async fn start() -> World {
        let env = Env::start().await;
        let segment = SegmentApi::start();
        let Fleet {
            shapes, instances, ..
        } = fleet();
        for shape in &shapes {
            create(&env, shape).await;
        }
        env.iam
            .create_role()
            .role_name("ec2-not-segment")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
            .send()
            .await
            .expect("CreateRole");
        for (kind, id, settings) in &instances {
            env.remember_secret(settings["iamRoleExternalId"].as_str().unwrap());
            segment.create(kind, id, settings.clone(), &["iamRoleExternalId", "apiKey"]);
        }
        env.remember_secret("foreign-secret-0001");
        let instances = instances
            .into_iter()
            .map(|(kind, id, _)| (kind, id))
            .collect();
        World {
            env,
            segment,
            shapes,
            instances,
        }
    }

    fn run(&self, args: &[&str]) -> crate::support::command::Output {
        with_segment(&self.env, &self.segment, args)
    }

    fn manifest(&self, dir: &str) -> String {
        std::fs::read_to_string(self.env.path().join(dir).join(format!("{ACCOUNT}.yaml")))
            .expect("the imported manifest")
    }

    /// Every Segment function role as IAM holds it now.
    async fn iam(&self) -> BTreeMap<String, RoleState> {
        let mut all = BTreeMap::new();
        for shape in &self.shapes {
            all.insert(
                shape.name.clone(),
                self.env.existing_role(&shape.name).await,
            );
        }
        all
    }

    /// (role → (instance, Segment id)) imported and (role → code) skipped, as expected.
    fn expected(&self) -> Listing {
        let mut imported = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        for shape in &self.shapes {
            match &shape.expect {
                Expect::Imported("", segment) => {
                    imported.insert(
                        shape.name.clone(),
                        (guide_instance(&shape.name), segment.clone()),
                    );
                }
                Expect::Imported(instance, segment) => {
                    imported.insert(shape.name.clone(), (instance.to_string(), segment.clone()));
                }
                Expect::Skipped(code) => {
                    skipped.insert(shape.name.clone(), code.to_string());
                }
            }
        }
        (imported, skipped)
    }
}

/// fnctl run in `env` with a token for `segment`.
fn with_segment(env: &Env, segment: &SegmentApi, args: &[&str]) -> crate::support::command::Output {
    let url = segment.url();
    env.fnctl_with_env(
        args,
        &[
            ("SEGMENT_PUBLIC_API_TOKEN", TOKEN),
            ("SEGMENT_API_URL", &url),
        ],
    )
}

/// `import --format json` as (role → (instance, segment)) and (role → code).
fn listed(out: &str) -> Listing {
    let report: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["format_version"], "1");
    let imported = report["imported"]
        .as_array()
        .expect("imported")
        .iter()
        .map(|i| {
            (
                i["role"].as_str().unwrap().to_string(),
                (
                    i["instance"].as_str().unwrap().to_string(),
                    i["segment"].as_str().map(str::to_string),
                ),
            )
        })
        .collect();
    let skipped = report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            (
                s["role"].as_str().unwrap().to_string(),
                s["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (imported, skipped)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_made_fleet_is_adopted_with_nothing_changed() {
    let world = World::start().await;
    let (want_imported, want_skipped) = world.expected();
    assert!(world.shapes.len() >= 50, "{} roles", world.shapes.len());
    let linked = want_imported.values().filter(|(_, s)| s.is_some()).count();
    assert_eq!(linked, 40, "linked instances");
    let before = world.iam().await;

    let out = world.run(&["import", "--out", "manifests", "--format", "json"]);
    out.assert_exit(2);
    assert_eq!(
        listed(&out.stdout),
        (want_imported.clone(), want_skipped.clone())
    );
    check_warnings(&out.stderr, &want_skipped);
    let manifest = world.manifest("manifests");
    check_manifest_text(&manifest);
    check_snapshot_gives(&world, &manifest).await;
    world.run(&["import", "--out", "manifests"]).assert_exit(2);
    assert_eq!(
        world.manifest("manifests"),
        manifest,
        "a second import wrote other bytes"
    );

    world.run(&["validate", "-f", "manifests"]).assert_exit(0);
    let plan = world.run(&["plan", "--adopt", "-f", "manifests", "--format", "json"]);
    plan.assert_exit(0);
    check_adoption_only(&plan.stdout, want_imported.len());
    world.run(&ADOPT).assert_exit(0);
    check_nothing_changed(&before, &world.iam().await, &want_imported);
    check_no_segment_write(&world);
    settled(&|args| world.run(args));
    check_import_after_adoption(&world, &manifest, &want_imported);
    world.segment.assert_no_violation();
}

/// After adoption, `verify` passes, and `plan` and `drift` find nothing.
fn settled(run: &dyn Fn(&[&str]) -> crate::support::command::Output) {
    run(&["verify", "-f", "manifests", "--bundle-dir", "bundles"]).assert_exit(0);
    run(&["plan", "-f", "manifests", "--detailed-exitcode"]).assert_exit(0);
    run(&["drift", "-f", "manifests"]).assert_exit(0);
}

/// Each role left out is named on stderr with why; so are the instances
/// not linked.
fn check_warnings(stderr: &str, skipped: &BTreeMap<String, String>) {
    for (role, code) in skipped {
        assert!(
            stderr.contains(&format!("warning: skipped role {role}: "))
                && stderr.contains(&format!("[{code}]")),
            "the warning names {role} and why:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("warning: role segment-other-id: Segment instance dstOtherId0001"),
        "{stderr}"
    );
    assert!(stderr.contains("dstShared000A, dstShared000B"), "{stderr}");
}

/// The AWS CLI's exports give the same bytes, with no call to AWS.
async fn check_snapshot_gives(world: &World, manifest: &str) {
    let exports = workspace();
    let gaad = gaad_export(&world.env.iam).await;
    let roles = list_roles_export(&world.env.iam).await;
    let gaad_path = write_file(exports.path(), "gaad.json", &gaad.to_string());
    let roles_path = write_file(exports.path(), "roles.json", &roles.to_string());
    let offline = fnctl_offline()
        .current_dir(world.env.path())
        .env("SEGMENT_PUBLIC_API_TOKEN", TOKEN)
        .env("SEGMENT_API_URL", world.segment.url())
        .args(["import", "--out", "from-snapshot", "--snapshot"])
        .arg(&gaad_path)
        .arg("--snapshot")
        .arg(&roles_path)
        .run();
    offline.assert_exit(2);
    assert_eq!(
        world.manifest("from-snapshot"),
        manifest,
        "--snapshot differs from the live read"
    );
    std::fs::remove_dir_all(world.env.path().join("from-snapshot")).unwrap();
}

/// Apply --adopt added fnctl's tags to the imported roles and changed
/// nothing else of any role.
fn check_nothing_changed(
    before: &BTreeMap<String, RoleState>,
    after: &BTreeMap<String, RoleState>,
    imported: &BTreeMap<String, (String, Option<String>)>,
) {
    for (role, was) in before {
        let now = &after[role];
        let kept_tags: BTreeMap<&String, &String> = now
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with("fnctl:") || was.tags.contains_key(*k))
            .collect();
        assert_eq!(
            kept_tags,
            was.tags.iter().collect::<BTreeMap<_, _>>(),
            "{role}: tags other than fnctl's changed"
        );
        assert_eq!(
            (&now.trust, &now.inline, &now.attached, &now.boundary),
            (&was.trust, &was.inline, &was.attached, &was.boundary),
            "{role}: apply --adopt changed its policies"
        );
        assert_eq!(
            (&now.path, &now.description, now.max_session_duration),
            (&was.path, &was.description, was.max_session_duration),
            "{role}: apply --adopt changed its settings"
        );
        let managed = now.tags.contains_key("fnctl:managed-by");
        let expected = imported.contains_key(role) || role == "owned-elsewhere";
        assert_eq!(managed, expected, "{role}");
    }
}

/// No Segment instance was written to.
fn check_no_segment_write(world: &World) {
    for (kind, id) in &world.instances {
        let patches = world
            .segment
            .requests(&format!("/{kind}s/{id}"))
            .iter()
            .filter(|r| r["method"] == "PATCH")
            .count();
        assert_eq!(patches, 0, "{kind} {id} was changed in Segment");
    }
}

/// After adoption, an import into the same folder keeps what it adopted;
/// elsewhere, the adopted roles are fnctl's already: left out, said so.
fn check_import_after_adoption(
    world: &World,
    manifest: &str,
    adopted: &BTreeMap<String, (String, Option<String>)>,
) {
    world.run(&["import", "--out", "manifests"]).assert_exit(2);
    assert_eq!(
        world.manifest("manifests"),
        manifest,
        "import after adoption wrote other bytes"
    );
    let elsewhere = world.run(&["import", "--out", "elsewhere", "--format", "json"]);
    elsewhere.assert_exit(2);
    let (imported, skipped) = listed(&elsewhere.stdout);
    assert!(imported.is_empty(), "{imported:?}");
    assert!(
        adopted
            .keys()
            .all(|role| skipped.get(role).map(String::as_str) == Some("already-managed")),
        "{skipped:?}"
    );
    assert!(
        !world.env.path().join("elsewhere").exists(),
        "nothing imported, nothing written"
    );
}

/// What a reviewer reads in the manifest: the modeline, the accepted
/// findings named, the shorthand where it is exact, the live names kept.
fn check_manifest_text(manifest: &str) {
    let first = manifest.lines().next().unwrap_or("");
    assert_eq!(
        first,
        "# yaml-language-server: $schema=../schemas/fnctl.schema.json"
    );
    for expected in [
        "  account: \"123456789012\"",
        "  rolePath: /segment-functions/",
        "  - name: guide-00\n    kind: destination\n    role:\n      name: segment-fn-guide-00\n      description: \"Segment S3 archiver, made by hand\"\n      inlinePolicyName: s3-access\n    bucket:\n      name: acme-events-00\n      region: us-west-2\n      prefix: segment/\n      access: write\n    segment: { id: dstGuide0000x }\n    settings:\n      flushEvery: 100\n",
        "    permissions:\n      - actions: [s3:PutObject]\n        resources: [arn:aws:s3:::acme-events-01/*]\n",
        "      path: /terraform/",
        "      maxSessionDuration: 7200",
        "        ManagedBy: terraform",
        "      - sid: NoDeletes\n        effect: Deny\n",
        "      retries: [1,2]",
        "    # service-wildcard: action `s3:*` grants every action of `s3`\n",
        "    allowWildcards: true\n",
        "    # resource-exposure: ",
        "    allowFindings: [resource-exposure]\n",
        "conditions: {\"StringEquals\":{\"aws:SourceAccount\":\"123456789012\"}}",
        "      permissionsBoundary: arn:aws:iam::123456789012:policy/fn-boundary",
        "      - arn:aws:iam::123456789012:policy/oob-extra",
        "  # Segment instances dstShared000A, dstShared000B all name this role",
    ] {
        assert!(manifest.contains(expected), "the manifest lacks {expected:?}:\n{manifest}");
    }
    assert!(
        !manifest.contains("apiKey"),
        "a masked setting was written:\n{manifest}"
    );
    assert!(!manifest.contains("iamRoleExternalId"), "{manifest}");
}

/// Every change of the plan adopts a role with fnctl's tags only; Segment unchanged.
fn check_adoption_only(plan: &str, imported: usize) {
    let plan: Value = serde_json::from_str(plan).unwrap_or_else(|e| panic!("{e}: {plan}"));
    let changes = plan["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), imported, "{plan:#}");
    for change in changes {
        assert_eq!(change["action"], "adopt", "{change:#}");
        for step in change["steps"].as_array().expect("steps") {
            assert_eq!(
                step["operation"], "tag-role",
                "adoption writes tags only: {step:#}"
            );
            let tags = step["tags"].as_object().expect("tags");
            assert!(tags.keys().all(|k| k.starts_with("fnctl:")), "{step:#}");
        }
    }
    assert_eq!(plan["segment"], json!([]), "{plan:#}");
    assert_eq!(plan["summary"]["conflicts"], 0, "{plan:#}");
}

/// A hand-written manifest that leaves out `description`: adopting a role
/// keeps the role's own (fnctl's tags are all it writes); a role fnctl
/// creates gets fnctl's default. Once adopted, the kept description is
/// neither a change nor drift.
#[tokio::test(flavor = "multi_thread")]
async fn a_left_out_description_keeps_the_adopted_roles_own() {
    let env = Env::start().await;
    let external_id = id(1);
    env.remember_secret(&external_id);
    env.iam
        .create_role()
        .role_name("segment-fn-hand")
        .path("/segment-functions/")
        .description("Made by hand, kept")
        .assume_role_policy_document(guide_trust(DESTINATION_ACCOUNT, &external_id).to_string())
        .send()
        .await
        .expect("CreateRole");
    env.write_manifest(
        "version: 1\ninstances:\n  - name: hand\n    kind: destination\n  - name: fresh\n    kind: source\n",
    );
    let plan = env.fnctl(&["plan", "--adopt", "--format", "json"]);
    plan.assert_exit(0);
    let plan: Value = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let actions: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (c["role"].as_str().unwrap(), c["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("segment-fn-hand", "adopt"), ("segment-fn-fresh", "create")],
        "{plan:#}"
    );
    // The adopted role's only steps are fnctl's tags: no UpdateRole.
    for step in plan["changes"][0]["steps"].as_array().expect("steps") {
        assert_eq!(
            step["operation"], "tag-role",
            "adoption writes tags only: {step:#}"
        );
    }
    env.fnctl(&[
        "apply",
        "--adopt",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ])
    .assert_exit(0);
    let hand = env.existing_role("segment-fn-hand").await;
    assert_eq!(hand.description.as_deref(), Some("Made by hand, kept"));
    assert!(
        hand.tags.contains_key("fnctl:managed-by"),
        "{:?}",
        hand.tags
    );
    assert_eq!(
        env.existing_role("segment-fn-fresh")
            .await
            .description
            .as_deref(),
        Some("Segment source function fresh (managed by fnctl)")
    );
    env.assert_plan_clean("after adoption");
    env.fnctl(&["drift"]).assert_exit(0);
}

/// fnctl's own definitions as it declares them (what a function made after
/// fnctl's guide holds), with `extra`.
fn function_settings(external_id_sensitive: bool, role_label: &str, extra: Value) -> Value {
    let mut all = vec![
        json!({"name": "iamRoleArn", "label": role_label, "description": "The role this instance assumes (managed by fnctl).",
               "type": "STRING", "required": true, "sensitive": false}),
        json!({"name": "iamRoleExternalId", "label": "IAM role external ID",
               "description": "The external ID the role's trust policy requires (managed by fnctl).",
               "type": "STRING", "required": true, "sensitive": external_id_sensitive}),
    ];
    all.extend(extra.as_array().cloned().unwrap_or_default());
    Value::Array(all)
}

const ARCHIVER_CODE: &str = "async function onTrack(event, settings) {\n  // archive\n}\n";
const READER_CODE: &str = "async function onRequest(request, settings) {}\n";

/// A hand-made function (through Prism): its id and catalog id.
fn make_function(
    segment: &SegmentApi,
    kind: &str,
    display: &str,
    code: &str,
    settings: Value,
) -> (String, String) {
    let made = segment.api(
        "POST",
        "/functions",
        json!({"code": code, "displayName": display, "resourceType": kind,
               "description": format!("{display}, made by hand"), "settings": settings}),
    );
    let function = &made["function"];
    (
        function["id"].as_str().unwrap().to_string(),
        function["catalogId"].as_str().unwrap().to_string(),
    )
}

/// The workspace of the functions test: (role, kind, Segment id, function
/// id, source) of each instance, made by hand with its role.
struct HandMade {
    env: Env,
    segment: SegmentApi,
    instances: Vec<(String, &'static str, String, String, Option<String>)>,
}

impl HandMade {
    async fn start() -> HandMade {
        let env = Env::start().await;
        let segment = SegmentApi::start();
        let flush = json!([{"name": "flushEvery", "label": "Flush every", "description": "Events per file",
                            "type": "STRING", "required": false, "sensitive": false},
                           {"name": "apiKey", "label": "API key", "description": "", "type": "STRING",
                            "required": true, "sensitive": true}]);
        let [archiver, reader, guide, exposed] = [
            (
                "DESTINATION",
                "S3 archiver",
                ARCHIVER_CODE,
                true,
                "IAM role ARN",
                flush,
            ),
            (
                "SOURCE",
                "Webhook reader",
                READER_CODE,
                true,
                "IAM role ARN",
                json!([]),
            ),
            // Labelled as Segment's guide does: a label is presentation,
            // kept on adoption, so it is imported as a function.
            (
                "DESTINATION",
                "Guide archiver",
                ARCHIVER_CODE,
                true,
                "IAM Role ARN",
                json!([]),
            ),
            // The external ID readable by every workspace member.
            (
                "DESTINATION",
                "Exposed archiver",
                ARCHIVER_CODE,
                false,
                "IAM role ARN",
                json!([]),
            ),
        ]
        .map(|(kind, display, code, sensitive, label, extra)| {
            make_function(
                &segment,
                kind,
                display,
                code,
                function_settings(sensitive, label, extra),
            )
        });
        let mut world = HandMade {
            env,
            segment,
            instances: Vec::new(),
        };
        let extra = json!({"flushEvery": "100", "apiKey": "foreign-secret-0002"});
        world
            .instance(
                "archiver-us",
                "dstArchiverUs01",
                &archiver,
                Some("srcOrders0001"),
                extra.clone(),
            )
            .await;
        world
            .instance(
                "archiver-eu",
                "dstArchiverEu01",
                &archiver,
                Some("srcUsers00001"),
                extra,
            )
            .await;
        world
            .instance("webhook-in", "srcWebhookIn01", &reader, None, json!({}))
            .await;
        world
            .instance(
                "guide-one",
                "dstGuideOne001",
                &guide,
                Some("srcOrders0001"),
                json!({}),
            )
            .await;
        world
            .instance(
                "exposed",
                "dstExposed0001",
                &exposed,
                Some("srcOrders0001"),
                json!({}),
            )
            .await;
        world.env.remember_secret("foreign-secret-0002");
        world
    }

    /// A hand-made role `segment-fn-<name>` and the instance of `function`
    /// that names it.
    async fn instance(
        &mut self,
        name: &str,
        id: &str,
        (function, catalog): &(String, String),
        source: Option<&str>,
        extra: Value,
    ) {
        let kind = if source.is_some() {
            "destination"
        } else {
            "source"
        };
        let account = if source.is_some() {
            DESTINATION_ACCOUNT
        } else {
            SOURCE_ACCOUNT
        };
        let external_id = id_for(name);
        self.env.remember_secret(&external_id);
        let role = format!("segment-fn-{name}");
        self.env
            .iam
            .create_role()
            .role_name(&role)
            .path("/segment-functions/")
            .description("Made by hand")
            .assume_role_policy_document(guide_trust(account, &external_id).to_string())
            .send()
            .await
            .expect("CreateRole");
        let mut settings = json!({"iamRoleArn": role_arn("/segment-functions/", &role), "iamRoleExternalId": external_id});
        settings
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let exposed = name == "exposed";
        let sensitive: Vec<&str> = if exposed {
            vec![]
        } else {
            vec!["iamRoleExternalId", "apiKey"]
        };
        let mut body = json!({"kind": kind, "id": id, "settings": settings, "sensitive": sensitive,
                              "catalogId": catalog, "functionId": function, "name": name});
        if let Some(source) = source {
            body["sourceId"] = json!(source);
        }
        self.segment.control("POST", "/__control/instances", body);
        self.instances.push((
            role,
            kind,
            id.to_string(),
            function.clone(),
            source.map(str::to_string),
        ));
    }

    fn run(&self, args: &[&str]) -> crate::support::command::Output {
        with_segment(&self.env, &self.segment, args)
    }

    /// The manifest and every code file an import wrote under `dir`.
    fn written(&self, dir: &str) -> BTreeMap<String, String> {
        let mut files = Vec::new();
        crate::support::env::collect_files(&self.env.path().join(dir), &mut files);
        files
            .into_iter()
            .map(|path| {
                let relative = path
                    .strip_prefix(self.env.path().join(dir))
                    .unwrap()
                    .display()
                    .to_string();
                (relative, std::fs::read_to_string(&path).unwrap())
            })
            .collect()
    }

    /// Segment's functions and instances as the server holds them.
    fn segment_state(&self) -> (Vec<Value>, Vec<Value>) {
        let functions = self
            .segment
            .control("GET", "/__control/functions", Value::Null)["functions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut instances = self
            .segment
            .control("GET", "/__control/instances", Value::Null)["instances"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for instance in &mut instances {
            instance.as_object_mut().unwrap().remove("history");
        }
        (functions, instances)
    }
}

/// An external ID for the functions test's role `name`.
fn id_for(name: &str) -> String {
    format!("{name:x<44}{:04}", name.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_made_functions_are_imported_with_their_code_and_adopted_with_nothing_changed() {
    let world = HandMade::start().await;
    let (functions_before, instances_before) = world.segment_state();
    let out = world.run(&["import", "--out", "manifests", "--format", "json"]);
    out.assert_exit(0);
    let report: Value = serde_json::from_str(&out.stdout).expect("import JSON");
    let ran: BTreeMap<&str, (Option<&str>, bool)> = report["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["role"].as_str().unwrap(),
                (i["function"].as_str(), i["function_note"].is_string()),
            )
        })
        .collect();
    assert_eq!(
        ran,
        BTreeMap::from([
            ("segment-fn-archiver-eu", (Some("s3-archiver"), false)),
            ("segment-fn-archiver-us", (Some("s3-archiver"), false)),
            ("segment-fn-exposed", (None, true)),
            ("segment-fn-guide-one", (Some("guide-archiver"), false)),
            ("segment-fn-webhook-in", (Some("webhook-reader"), false)),
        ])
    );
    // In the workspace's order (its list pages'), which ids decide.
    let functions: BTreeSet<(&str, &str, u64)> = report["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
                f["instances"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        functions,
        BTreeSet::from([
            ("s3-archiver", "functions/s3-archiver.js", 2),
            ("guide-archiver", "functions/guide-archiver.js", 1),
            ("webhook-reader", "functions/webhook-reader.js", 1)
        ])
    );
    assert!(
        out.stderr
            .contains("`iamRoleExternalId` setting is not sensitive"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("IAM Role ARN"), "{}", out.stderr);
    let written = world.written("manifests");
    assert_eq!(written["functions/s3-archiver.js"], ARCHIVER_CODE);
    assert_eq!(written["functions/webhook-reader.js"], READER_CODE);
    assert_eq!(written["functions/guide-archiver.js"], ARCHIVER_CODE);
    assert_eq!(written.len(), 4, "{:?}", written.keys());
    let manifest = &written[&format!("{ACCOUNT}.yaml")];
    for expected in [
        "  - name: s3-archiver\n    kind: destination\n    code: functions/s3-archiver.js\n    displayName: \"S3 archiver\"\n    description: \"S3 archiver, made by hand\"\n    settings:\n      - name: apiKey\n        label: \"API key\"\n        type: string\n        required: true\n        sensitive: true\n      - name: flushEvery\n        label: \"Flush every\"\n        description: \"Events per file\"\n        type: string\n",
        "  - name: webhook-reader\n    kind: source\n",
        "    segment: { function: s3-archiver, source: srcOrders0001 }\n",
        "    segment: { function: s3-archiver, source: srcUsers00001 }\n",
        "    segment: { function: webhook-reader }\n",
        "    segment: { function: guide-archiver, source: srcOrders0001 }\n",
        "    segment: { id: dstExposed0001 }\n",
    ] {
        assert!(manifest.contains(expected), "the manifest lacks {expected:?}:\n{manifest}");
    }
    world.run(&["validate", "-f", "manifests"]).assert_exit(0);
    check_functions_adoption_plan(&world);
    world.run(&ADOPT).assert_exit(0);
    check_functions_adopted(&world, &functions_before, &instances_before).await;
    settled(&|args| world.run(args));
    world.run(&["import", "--out", "manifests"]).assert_exit(0);
    assert_eq!(
        world.written("manifests"),
        written,
        "a second import wrote other bytes"
    );
    world.segment.assert_no_violation();
}

/// `plan --adopt` adopts the roles with fnctl's tags and the functions
/// with their marker: no code or definition change, no instance to create.
fn check_functions_adoption_plan(world: &HandMade) {
    let plan = world.run(&["plan", "--adopt", "-f", "manifests", "--format", "json"]);
    plan.assert_exit(0);
    check_adoption_only(&plan.stdout, world.instances.len());
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let functions = &plan["segment_functions"];
    assert_eq!(
        functions["instances"],
        json!([]),
        "no instance to create: {functions:#}"
    );
    let steps: BTreeSet<(&str, &str)> = functions["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .map(|f| {
            (
                f["function"].as_str().unwrap(),
                f["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        BTreeSet::from([
            ("s3-archiver", "update"),
            ("guide-archiver", "update"),
            ("webhook-reader", "update")
        ]),
        "{functions:#}"
    );
    for function in functions["functions"].as_array().unwrap() {
        assert!(
            function.get("code_diff").is_none() && function.get("definitions_diff").is_none(),
            "adoption writes the marker only: {function:#}"
        );
    }
}

/// After `apply --adopt`: each function has its marker and nothing else
/// changed; no instance was made or written to; each role records its
/// instance.
async fn check_functions_adopted(
    world: &HandMade,
    functions_before: &[Value],
    instances_before: &[Value],
) {
    let (functions_after, instances_after) = world.segment_state();
    assert_eq!(
        instances_after, instances_before,
        "apply --adopt changed Segment's instances"
    );
    assert_eq!(functions_after.len(), functions_before.len());
    for (before, after) in functions_before.iter().zip(&functions_after) {
        assert_eq!(
            (
                &after["code"],
                &after["settings"],
                &after["displayName"],
                &after["version"]
            ),
            (
                &before["code"],
                &before["settings"],
                &before["displayName"],
                &before["version"]
            ),
            "apply --adopt changed function {}",
            before["id"]
        );
        let description = after["description"].as_str().unwrap();
        let adopted = ["S3 archiver", "Webhook reader", "Guide archiver"]
            .iter()
            .find(|name| before["displayName"].as_str().unwrap().starts_with(*name));
        match adopted {
            Some(_) => assert!(
                description.starts_with(before["description"].as_str().unwrap())
                    && description.contains(" [fnctl:default/"),
                "{description}"
            ),
            None => assert_eq!(&after["description"], &before["description"]),
        }
    }
    for (role, _, id, _, _) in &world.instances {
        let tags = world.env.tags(role).await;
        if role.ends_with("exposed") {
            assert_eq!(tags.get("fnctl:segment-instance"), None, "{role}");
        } else {
            assert_eq!(tags.get("fnctl:segment-instance"), Some(id), "{role}");
        }
    }
}
