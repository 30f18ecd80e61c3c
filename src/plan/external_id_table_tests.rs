//! The external-ID decision table: what plan and apply do with the IDs of a
//! role's trust policy after a hand edit of a one- or two-ID state (an ID
//! removed or replaced, with or without a bundle on disk), for owned and
//! adopted roles. Each row says why its outcome is right. The rules in
//! short: an ID fnctl's tags name that the trust policy lost comes back when
//! a bundle on disk holds it; an ID the trust policy accepts is never
//! dropped by apply when it may be the one a function uses (only strangers
//! beside fnctl's own IDs go); what cannot be restored is said out loud.
//!
//! Apply runs as `fnctl apply` runs it, on IAM in memory: the role is read,
//! planned and changed by the executor itself, and the bundle's ID is
//! [`planner::bundle_external_id`] of what the executor reports, the choice
//! apply makes. The ID apply generates is random; it is shown as
//! `generated`. The drift column is checked by `check::drift`'s tests over
//! these rows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::execute::context::{RunContext, Timings};
use crate::execute::executor;
use crate::execute::lease;
use crate::live::clock::SteppedClock;
use crate::live::memory::MemoryIam;
use crate::live::IamReads;
use crate::model::external_id::ExternalId;
use crate::model::operation::{Operation, SecretDocument};
use crate::model::{tags, trust, DesiredInstance, FunctionKind, LiveDocument, LiveRole, Origin};
use crate::plan::planner::{self, BundledIds, PlanOptions};
use crate::plan::{NoticeLevel, RoleChange};

const SEGMENT: &str = "458175278816";
const ACCOUNT: &str = "123456789012";
const SCOPE: &str = "table";
const NOW: &str = "2026-06-01T00:00:00Z";

/// What apply leaves behind (`None` in [`Row::after`]: a conflict, nothing changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct After {
    /// The IDs the trust policy accepts, in order.
    pub trust: &'static [&'static str],
    /// The ID `fnctl:external-id` names.
    pub recorded: Option<&'static str>,
    /// The ID `fnctl:rotation-pending` names (a rotation still in progress).
    pub pending: Option<&'static str>,
    /// The ID apply writes to the bundle (`None`: no bundle is written).
    pub bundle: Option<&'static str>,
}

/// One case. IDs are labels (`old`, `new`, `x`, …); `generated` is the ID
/// apply makes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub case: &'static str,
    /// Whether the role carries fnctl's tags (else it is adopted with `--adopt`).
    pub owned: bool,
    /// The ID `fnctl:external-id` names before the edit's effect is seen.
    pub recorded: Option<&'static str>,
    /// The ID `fnctl:rotation-pending` names (a rotation was started).
    pub pending: Option<&'static str>,
    /// The IDs the trust policy accepts after the hand edit.
    pub trust: &'static [&'static str],
    /// The ID of the instance's bundle on disk, when there is one.
    pub bundle: Option<&'static str>,
    /// The plan's notice codes, sorted.
    pub notices: &'static [&'static str],
    /// The external-ID drift categories before apply, sorted.
    pub drift: &'static [&'static str],
    pub after: Option<After>,
    pub why: &'static str,
}

const fn after(
    trust: &'static [&'static str],
    recorded: Option<&'static str>,
    pending: Option<&'static str>,
    bundle: Option<&'static str>,
) -> Option<After> {
    Some(After {
        trust,
        recorded,
        pending,
        bundle,
    })
}

pub(crate) const ROWS: &[Row] = &[
    // ---- One ID, no rotation.
    Row {
        case: "one ID, untouched",
        owned: true,
        recorded: Some("current"),
        pending: None,
        trust: &["current"],
        bundle: Some("current"),
        notices: &[],
        drift: &[],
        after: after(&["current"], Some("current"), None, Some("current")),
        why: "nothing was edited: the ID stays and the bundle already holds it",
    },
    Row {
        case: "condition removed, bundle holds the ID",
        owned: true,
        recorded: Some("current"),
        pending: None,
        trust: &[],
        bundle: Some("current"),
        notices: &["external-id-restored"],
        drift: &["external-id-mismatch", "trust-broadened"],
        after: after(&["current"], Some("current"), None, Some("current")),
        why: "the function runs with the bundle's ID and the tag proves fnctl issued it: putting it back is the only outcome that locks nobody out",
    },
    Row {
        case: "condition removed, no bundle",
        owned: true,
        recorded: Some("current"),
        pending: None,
        trust: &[],
        bundle: None,
        notices: &["new-external-id"],
        drift: &["external-id-mismatch", "trust-broadened"],
        after: after(&["generated"], Some("generated"), None, Some("generated")),
        why: "the secret is nowhere fnctl can read it and a trust policy without an ID admits any Segment customer: a new ID is the only safe policy, and the notice says the function needs the new bundle",
    },
    Row {
        case: "ID replaced by x, bundle holds the ID",
        owned: true,
        recorded: Some("current"),
        pending: None,
        trust: &["x"],
        bundle: Some("current"),
        notices: &["external-id-restored"],
        drift: &["external-id-mismatch", "trust-broadened"],
        after: after(&["current"], Some("current"), None, Some("current")),
        why: "the bundle and the tag agree on the ID the function uses; x is vouched for by nothing, so it goes",
    },
    Row {
        case: "ID replaced by x, no bundle",
        owned: true,
        recorded: Some("current"),
        pending: None,
        trust: &["x"],
        bundle: None,
        notices: &["external-id-changed"],
        drift: &["external-id-mismatch", "trust-broadened"],
        after: after(&["x"], Some("x"), None, Some("x")),
        why: "x is the only ID that works and someone put it there on purpose; dropping it would lock out whoever uses it for nothing, so it is kept, recorded and bundled, with a warning",
    },
    Row {
        case: "x added beside the ID",
        owned: true,
        recorded: Some("current"),
        pending: None,
        trust: &["current", "x"],
        bundle: Some("current"),
        notices: &[],
        drift: &["trust-broadened"],
        after: after(&["current"], Some("current"), None, Some("current")),
        why: "the recorded ID is still there, so the function is unaffected; the extra ID is a way in that nobody vouches for",
    },
    // ---- A rotation in progress: `old` current, `new` pending.
    Row {
        case: "rotation, untouched",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old", "new"],
        bundle: Some("new"),
        notices: &["rotation-in-progress"],
        drift: &[],
        after: after(&["old", "new"], Some("old"), Some("new"), Some("new")),
        why: "both IDs stay until `--finish`, and the bundle holds the new one so functions can switch",
    },
    Row {
        case: "rotation, new removed, bundle holds new",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old"],
        bundle: Some("new"),
        notices: &["external-id-restored", "rotation-in-progress"],
        drift: &["rotation-new-id-removed"],
        after: after(&["old", "new"], Some("old"), Some("new"), Some("new")),
        why: "`--start` completed (its bundle holds the new ID) and a function may already use it: restoring it is the only outcome that locks nobody out, and the rotation goes on (issue 12)",
    },
    Row {
        case: "rotation, new removed, bundle holds old",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old"],
        bundle: Some("old"),
        notices: &["rotation-abandoned"],
        drift: &["rotation-new-id-removed"],
        after: after(&["old"], Some("old"), None, Some("old")),
        why: "this is what a `--start` killed before its trust update leaves, which apply must converge without a manual fix; the new secret is in no bundle, so the rotation ends on the one ID every function can hold, and the warning says that a function given the new ID elsewhere needs this bundle",
    },
    Row {
        case: "rotation, new removed, no bundle",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old"],
        bundle: None,
        notices: &["rotation-abandoned"],
        drift: &["rotation-new-id-removed"],
        after: after(&["old"], Some("old"), None, Some("old")),
        why: "nothing can restore the new ID; a conflict instead would stop every apply of the run until someone edits tags by hand, for a state that only a bundle fixes, so apply ends the rotation and warns that functions need the bundle it writes",
    },
    Row {
        case: "rotation, new replaced by x, bundle holds new",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old", "x"],
        bundle: Some("new"),
        notices: &["external-id-restored", "rotation-in-progress"],
        drift: &["rotation-new-id-removed"],
        after: after(&["old", "new"], Some("old"), Some("new"), Some("new")),
        why: "the bundle proves `--start` completed with the tagged ID, so x is not a race winner but a stranger in its place: the new ID comes back and x goes",
    },
    Row {
        case: "rotation, new replaced by x, bundle holds x",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old", "x"],
        bundle: Some("x"),
        notices: &["external-id-changed", "rotation-in-progress"],
        drift: &["rotation-new-id-removed"],
        after: after(&["old", "x"], Some("old"), Some("x"), Some("x")),
        why: "two racing `--start` runs leave the winner's ID in the trust policy and in their bundle while the tag may name the loser's: trust and bundle agree on x, so x is the rotation's new ID and the tag follows it",
    },
    Row {
        case: "rotation, new replaced by x, bundle holds old",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old", "x"],
        bundle: Some("old"),
        notices: &["external-id-changed", "rotation-in-progress"],
        drift: &["rotation-new-id-removed"],
        after: after(&["old", "x"], Some("old"), Some("x"), Some("x")),
        why: "a bundle with the old ID predates the rotation and says nothing about the new one: as without a bundle, x is kept as the new ID",
    },
    Row {
        case: "rotation, new replaced by x, no bundle",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old", "x"],
        bundle: None,
        notices: &["external-id-changed", "rotation-in-progress"],
        drift: &["rotation-new-id-removed"],
        after: after(&["old", "x"], Some("old"), Some("x"), Some("x")),
        why: "without a bundle a race and a hand edit look the same; as with a single changed ID, apply keeps the ID that may be in use (as the new one, written to the bundle) and `--finish` retires the old one later",
    },
    Row {
        case: "rotation, old removed, bundle holds new",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["new"],
        bundle: Some("new"),
        notices: &["rotation-completed"],
        drift: &["rotation-old-id-removed"],
        after: after(&["new"], Some("new"), None, Some("new")),
        why: "also what a `--finish` killed before its tags leaves; the old secret is in no bundle, so only the new ID can stay: apply records it as current, which is the finished rotation, and warns that functions still on the old ID need the bundle",
    },
    Row {
        case: "rotation, old removed, bundle holds old",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["new"],
        bundle: Some("old"),
        notices: &["external-id-restored", "rotation-in-progress"],
        drift: &["rotation-old-id-removed"],
        after: after(&["old", "new"], Some("old"), Some("new"), Some("new")),
        why: "a function configured from this bundle is locked out and the bundle holds its secret: restoring it gives back the rotation's overlap, and the bundle gets the new ID again, as `--start` left it",
    },
    Row {
        case: "rotation, old removed, no bundle",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["new"],
        bundle: None,
        notices: &["rotation-completed"],
        drift: &["rotation-old-id-removed"],
        after: after(&["new"], Some("new"), None, Some("new")),
        why: "as with the new bundle: the old ID cannot come back, the new one is all there is, so the rotation is complete",
    },
    Row {
        case: "rotation, old replaced by x, bundle holds new",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["x", "new"],
        bundle: Some("new"),
        notices: &["external-id-changed", "rotation-in-progress"],
        drift: &["rotation-old-id-removed", "trust-broadened"],
        after: after(&["x", "new"], Some("x"), Some("new"), Some("new")),
        why: "the old secret is gone and x works now, put there on purpose: like a changed single ID it is kept (as the current one, until `--finish` retires it) rather than dropped by apply, and the bundle keeps the new ID",
    },
    Row {
        case: "rotation, old replaced by x, bundle holds old",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["x", "new"],
        bundle: Some("old"),
        notices: &["external-id-restored", "rotation-in-progress"],
        drift: &["rotation-old-id-removed", "trust-broadened"],
        after: after(&["old", "new"], Some("old"), Some("new"), Some("new")),
        why: "the bundle holds the old secret, so the overlap comes back exactly as `--start` made it; x stood in old's place and nothing vouches for it",
    },
    Row {
        case: "rotation, old replaced by x, no bundle",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["x", "new"],
        bundle: None,
        notices: &["external-id-changed", "rotation-in-progress"],
        drift: &["rotation-old-id-removed", "trust-broadened"],
        after: after(&["x", "new"], Some("x"), Some("new"), Some("new")),
        why: "as with the new bundle: x is kept until `--finish`, the new ID stays the rotation's",
    },
    Row {
        case: "rotation, condition removed, bundle holds new",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &[],
        bundle: Some("new"),
        notices: &["external-id-restored", "rotation-completed"],
        drift: &[
            "external-id-mismatch",
            "rotation-new-id-removed",
            "trust-broadened",
        ],
        after: after(&["new"], Some("new"), None, Some("new")),
        why: "the new secret is in the bundle and the old one nowhere: the new ID alone is restored, which is the finished rotation",
    },
    Row {
        case: "rotation, condition removed, no bundle",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &[],
        bundle: None,
        notices: &["new-external-id", "rotation-abandoned"],
        drift: &[
            "external-id-mismatch",
            "rotation-new-id-removed",
            "trust-broadened",
        ],
        after: after(&["generated"], Some("generated"), None, Some("generated")),
        why: "neither secret can be read and a policy without an ID admits any Segment customer: a new ID, the rotation over, and both notices say functions need the new bundle",
    },
    Row {
        case: "rotation, both replaced by x, bundle holds new",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["x"],
        bundle: Some("new"),
        notices: &[
            "external-id-changed",
            "external-id-restored",
            "rotation-in-progress",
        ],
        drift: &[
            "external-id-mismatch",
            "rotation-new-id-removed",
            "trust-broadened",
        ],
        after: after(&["x", "new"], Some("x"), Some("new"), Some("new")),
        why: "the new ID comes back from the bundle; x is the only other working ID and is kept as current until `--finish`, as when only the old one was replaced",
    },
    Row {
        case: "rotation, x added beside both",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["old", "new", "x"],
        bundle: Some("new"),
        notices: &["rotation-in-progress"],
        drift: &["trust-broadened"],
        after: after(&["old", "new"], Some("old"), Some("new"), Some("new")),
        why: "both of fnctl's IDs are there, so no function is affected; the third is a way in nobody vouches for, and fnctl never accepts three",
    },
    Row {
        case: "rotation, old replaced by x and y",
        owned: true,
        recorded: Some("old"),
        pending: Some("new"),
        trust: &["x", "y", "new"],
        bundle: Some("new"),
        notices: &["ambiguous-external-id"],
        drift: &["rotation-old-id-removed", "trust-broadened"],
        after: None,
        why: "three IDs cannot all stay and nothing tells which of x and y a function uses: a person must choose, so the plan is a conflict",
    },
    // ---- Adopted roles (no fnctl tags; `--adopt`).
    Row {
        case: "adopted, one ID",
        owned: false,
        recorded: None,
        pending: None,
        trust: &["a"],
        bundle: None,
        notices: &[],
        drift: &["unmanaged-role"],
        after: after(&["a"], Some("a"), None, Some("a")),
        why: "adoption keeps the running function working (SPEC): its ID is kept, recorded and bundled",
    },
    Row {
        case: "adopted, two IDs",
        owned: false,
        recorded: None,
        pending: None,
        trust: &["a", "b"],
        bundle: None,
        notices: &["ambiguous-external-id"],
        drift: &["unmanaged-role"],
        after: after(&["a", "b"], None, None, None),
        why: "either may be in use and nothing says which: keeping both locks nobody out, and no bundle is written since fnctl cannot vouch for one",
    },
    Row {
        case: "adopted, two IDs, a bundle holds one",
        owned: false,
        recorded: None,
        pending: None,
        trust: &["a", "b"],
        bundle: Some("a"),
        notices: &["ambiguous-external-id"],
        drift: &["unmanaged-role"],
        after: after(&["a", "b"], None, None, None),
        why: "no tag says fnctl issued either ID, so a bundle is no proof the other one is unused: both stay",
    },
    Row {
        case: "adopted two IDs, one removed by hand",
        owned: true,
        recorded: None,
        pending: None,
        trust: &["a"],
        bundle: None,
        notices: &[],
        drift: &[],
        after: after(&["a"], Some("a"), None, Some("a")),
        why: "the two IDs were never fnctl's (no fingerprint was recorded) and the one left is the only one that works: it becomes the recorded current ID",
    },
    Row {
        case: "finish killed after recording the new ID",
        owned: true,
        recorded: Some("new"),
        pending: Some("new"),
        trust: &["old", "new"],
        bundle: Some("new"),
        notices: &[],
        drift: &["trust-broadened"],
        after: after(&["new"], Some("new"), None, Some("new")),
        why: "a finish records the new ID (with its lease) before it drops the old one; killed in between, the trust policy accepts one ID more than fnctl records, which drift reports, and apply drops it as a re-run of the finish would: that finish had passed --min-age, and the bundle holds the new ID",
    },
    Row {
        case: "adopted, no condition",
        owned: false,
        recorded: None,
        pending: None,
        trust: &[],
        bundle: None,
        notices: &["new-external-id"],
        drift: &["unmanaged-role"],
        after: after(&["generated"], Some("generated"), None, Some("generated")),
        why: "there is no ID to keep and a policy without one admits any Segment customer: a new ID, and the notice says the function needs the bundle",
    },
    Row {
        case: "adopted, three IDs",
        owned: false,
        recorded: None,
        pending: None,
        trust: &["a", "b", "c"],
        bundle: None,
        notices: &["ambiguous-external-id"],
        drift: &["unmanaged-role"],
        after: None,
        why: "fnctl never accepts three IDs and cannot tell which are in use: a person must choose",
    },
];

/// The 48-character ID a label stands for.
pub(crate) fn id(label: &str) -> ExternalId {
    ExternalId::new(format!("{label:0<48}"))
}

/// The label of an ID.
fn label(id: &ExternalId) -> String {
    id.expose().trim_end_matches('0').to_string()
}

pub(crate) fn instance() -> DesiredInstance {
    DesiredInstance {
        name: "table".into(),
        kind: FunctionKind::Destination,
        scope: SCOPE.into(),
        account: None,
        assume_role: None,
        segment_account: SEGMENT.into(),
        role_name: "segment-fn-table".into(),
        role_path: "/segment-functions/".into(),
        description: "table".into(),
        max_session_duration: 3600,
        permissions_boundary: None,
        tags: BTreeMap::new(),
        inline_policy: None,
        inline_policy_name: None,
        managed_policies: BTreeSet::new(),
        rotate_after_days: None,
        segment: None,
        settings: BTreeMap::new(),
        origin: Origin {
            file: "table.yaml".into(),
            line: 1,
        },
    }
}

/// The role as the row has it, after the hand edit.
pub(crate) fn role(row: &Row) -> LiveRole {
    let ids: Vec<String> = row.trust.iter().map(|l| id(l).expose().into()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut document = trust::trust_policy(SEGMENT, &ids);
    if ids.is_empty() {
        document["Statement"][0]
            .as_object_mut()
            .unwrap()
            .remove("Condition");
    }
    let mut role_tags = BTreeMap::new();
    if row.owned {
        role_tags.insert(tags::MANAGED_BY.into(), tags::MANAGED_BY_VALUE.into());
        role_tags.insert(tags::SCOPE.into(), SCOPE.into());
        role_tags.insert(tags::INSTANCE.into(), "table".into());
    }
    if let Some(recorded) = row.recorded {
        role_tags.insert(tags::EXTERNAL_ID.into(), id(recorded).fingerprint());
        role_tags.insert(
            tags::EXTERNAL_ID_CREATED.into(),
            "2026-01-01T00:00:00Z".into(),
        );
    }
    if let Some(pending) = row.pending {
        role_tags.insert(tags::ROTATION_PENDING.into(), id(pending).fingerprint());
        role_tags.insert(tags::ROTATION_STARTED.into(), "2026-05-01T00:00:00Z".into());
    }
    LiveRole {
        name: "segment-fn-table".into(),
        path: "/segment-functions/".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:role/segment-functions/segment-fn-table"),
        role_id: "AROATABLE".into(),
        create_date: None,
        description: Some("table".into()),
        max_session_duration: Some(3600),
        trust_policy: LiveDocument::Valid(document),
        inline_policies: BTreeMap::new(),
        attached_policies: BTreeSet::new(),
        permissions_boundary: None,
        tags: role_tags,
    }
}

fn options(row: &Row, bundle: Option<&str>) -> PlanOptions {
    PlanOptions {
        adopt: !row.owned,
        prune: false,
        now: crate::model::fixtures::at(NOW),
        bundled_ids: BundledIds(bundle.map(id).into_iter().collect()),
    }
}

/// What apply does with the plan of a row, on IAM in memory: the role
/// afterwards, the plan's notice codes, and the ID the bundle gets (`None`
/// for a conflict).
pub(crate) fn applied(row: &Row) -> (Vec<String>, Option<(LiveRole, Option<ExternalId>)>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(apply_in_memory(row))
}

async fn apply_in_memory(row: &Row) -> (Vec<String>, Option<(LiveRole, Option<ExternalId>)>) {
    let iam = iam_with(row);
    let (notices, outcome) = apply_on(&iam, row, context(NOW)).await;
    let outcome = outcome.map(|applied| {
        let (mut after, mut bundle) =
            applied.unwrap_or_else(|error| panic!("{}: apply failed: {error}", row.case));
        as_generated(&mut after, &mut bundle);
        (after, bundle)
    });
    (notices, outcome)
}

/// IAM in memory holding the row's role as the hand edit left it.
fn iam_with(row: &Row) -> MemoryIam {
    let iam = MemoryIam::new().with_account(ACCOUNT);
    let edited = role(row);
    let trust_text = serde_json::to_string(edited.trust_policy.valid().unwrap()).unwrap();
    iam.change_by_hand(&Operation::CreateRole {
        role: edited.name.clone(),
        path: edited.path.clone(),
        description: "table".into(),
        max_session_duration: 3600,
        trust_policy: SecretDocument::new(trust_text),
        permissions_boundary: None,
        tags: edited.tags.clone(),
    })
    .expect("the row's role in IAM");
    iam
}

/// The role after apply and the ID its bundle gets, or why apply failed.
type Applied = Result<(LiveRole, Option<ExternalId>), String>;

/// One `fnctl apply` of the row's instance on `iam`, with the row's bundle
/// on disk: the plan's notice codes, and (`None` for a conflict) what apply
/// left. The generated ID is left as it is.
async fn apply_on(
    iam: &MemoryIam,
    row: &Row,
    context: RunContext,
) -> (Vec<String>, Option<Applied>) {
    let path = role(row).path;
    let live = iam
        .read_roles(std::slice::from_ref(&path))
        .await
        .expect("reading IAM in memory")
        .roles;
    let plan = planner::plan(ACCOUNT, &[instance()], &live, &options(row, row.bundle));
    let mut notices: Vec<String> = plan.notices.iter().map(|n| n.code().to_string()).collect();
    notices.sort();
    if plan.has_conflicts() {
        assert!(
            plan.changes.is_empty(),
            "{}: a conflict changes nothing",
            row.case
        );
        return (notices, None);
    }
    let bundled: Vec<ExternalId> = row.bundle.map(id).into_iter().collect();
    let outcomes = executor::execute(&context, iam, &plan, &live, &bundled, NOW, &|_| {}).await;
    if let Some(error) = outcomes.iter().find_map(|o| o.error.as_ref()) {
        return (notices, Some(Err(crate::report::error_chain(error))));
    }
    let change: Option<&RoleChange> = plan.changes.first();
    let written = outcomes
        .first()
        .map(|o| o.external_ids.clone())
        .unwrap_or_default();
    let bundle = planner::bundle_external_id(change, live.first(), &written);
    let after = iam.role(&role(row).name).expect("the role after apply");
    (notices, Some(Ok((after, bundle))))
}

/// The run context of the table's applies: a clock at `at`, no waits.
fn context(at: &str) -> RunContext {
    let timings = Timings {
        lease: lease::Timing {
            lease: Duration::from_secs(60),
            settle: Duration::ZERO,
            patience: Duration::from_secs(5),
        },
        ..Timings::default()
    };
    RunContext::new(Arc::new(SteppedClock::at_rfc3339(at)), timings, 1)
}

/// Puts [`id`]`("generated")` in place of the ID apply generated (random,
/// the one ID of the trust policy no label stands for), in the trust
/// policy, the tags and the bundle.
fn as_generated(after: &mut LiveRole, bundle: &mut Option<ExternalId>) {
    let accepted = trust::external_ids(after.trust_policy.valid().unwrap());
    let Some(new) = accepted
        .iter()
        .find(|i| !LABELS.iter().any(|l| id(l) == **i))
    else {
        return;
    };
    let generated = id("generated");
    let text = serde_json::to_string(after.trust_policy.valid().unwrap()).unwrap();
    let text = text.replace(new.expose(), generated.expose());
    after.trust_policy = LiveDocument::Valid(serde_json::from_str(&text).unwrap());
    for value in after.tags.values_mut() {
        if *value == new.fingerprint() {
            *value = generated.fingerprint();
        }
    }
    if bundle.as_ref() == Some(new) {
        *bundle = Some(generated);
    }
}

/// The labels the rows use for IDs fnctl did not generate in the apply.
const LABELS: [&str; 8] = ["current", "old", "new", "x", "y", "a", "b", "c"];

fn tagged(role: &LiveRole, key: &str) -> Option<String> {
    let fingerprint = role.tags.get(key)?;
    [
        "current",
        "old",
        "new",
        "x",
        "y",
        "a",
        "b",
        "c",
        "generated",
    ]
    .iter()
    .find(|l| id(l).fingerprint() == *fingerprint)
    .map(|l| l.to_string())
    .or_else(|| Some(format!("unknown fingerprint {fingerprint}")))
}

#[test]
fn every_row_of_the_external_id_table() {
    for row in ROWS {
        let case = row.case;
        assert!(!row.why.is_empty(), "{case}: every row says why");
        let (notices, outcome) = applied(row);
        assert_eq!(notices, row.notices, "{case}: notices");
        let Some(want) = row.after else {
            assert!(outcome.is_none(), "{case}: expected a conflict");
            continue;
        };
        let (after, bundle) = outcome.unwrap_or_else(|| panic!("{case}: unexpected conflict"));
        let trust_ids: Vec<String> = trust::external_ids(after.trust_policy.valid().unwrap())
            .iter()
            .map(label)
            .collect();
        assert_eq!(trust_ids, want.trust, "{case}: trust policy after apply");
        assert_eq!(
            tagged(&after, tags::EXTERNAL_ID).as_deref(),
            want.recorded,
            "{case}: fnctl:external-id after apply"
        );
        assert_eq!(
            tagged(&after, tags::ROTATION_PENDING).as_deref(),
            want.pending,
            "{case}: fnctl:rotation-pending after apply"
        );
        assert_eq!(
            after.tags.contains_key(tags::ROTATION_STARTED),
            want.pending.is_some(),
            "{case}: fnctl:rotation-started goes with the pending ID"
        );
        assert_eq!(
            bundle.as_ref().map(label).as_deref(),
            want.bundle,
            "{case}: the bundle's ID after apply"
        );
        // Converged: planning again, with the bundle apply wrote, changes nothing.
        let again = planner::plan(
            ACCOUNT,
            &[instance()],
            std::slice::from_ref(&after),
            &options(row, want.bundle),
        );
        assert!(
            again.changes.is_empty(),
            "{case}: apply converges, a second plan has changes: {:?}",
            again.changes
        );
        assert!(
            !again
                .notices
                .iter()
                .any(|n| n.level() == NoticeLevel::Conflict
                    || n.code() == "external-id-restored"
                    || n.code() == "rotation-abandoned"
                    || n.code() == "rotation-completed"),
            "{case}: nothing left to restore or end after apply: {:?}",
            again.notices
        );
        let state = trust::id_state(&after);
        assert_eq!(
            (state.recorded_lost, state.pending_lost),
            (None, None),
            "{case}: after apply the tags name only IDs the trust policy holds"
        );
    }
}

#[test]
fn the_table_covers_each_hand_edit_with_and_without_a_bundle() {
    let cases: BTreeSet<&str> = ROWS.iter().map(|r| r.case).collect();
    assert_eq!(cases.len(), ROWS.len(), "case names are unique");
    for edit in [
        "new removed",
        "new replaced by x",
        "old removed",
        "old replaced by x",
    ] {
        for bundle in ["bundle holds new", "bundle holds old", "no bundle"] {
            let case = format!("rotation, {edit}, {bundle}");
            assert!(cases.contains(case.as_str()), "no row for {case}");
        }
    }
}

/// The writes a call log holds, in order (reads are `Get…` and `List…`).
fn writes(calls: &[crate::live::memory::Call]) -> Vec<&'static str> {
    calls
        .iter()
        .filter(|c| !c.api.starts_with("Get") && !c.api.starts_with("List"))
        .map(|c| c.api)
        .collect()
}

/// The IDs a trust policy accepts that no label stands for: the ones apply generated.
fn generated_ids(role: &LiveRole) -> Vec<ExternalId> {
    trust::external_ids(role.trust_policy.valid().unwrap())
        .into_iter()
        .filter(|i| !LABELS.iter().any(|l| id(l) == *i))
        .collect()
}

/// The crash table: every row's apply killed after each of its writes (the
/// next write fails and nothing more is sent; bundles are written only
/// after a whole apply, so the bundle on disk is still the row's), then
/// `fnctl apply` run again, its lease long expired. The second apply must
/// reach the row's outcome, and an ID the killed apply generated and wrote
/// to the trust policy is the one kept and bundled: recovered exactly,
/// never replaced (the trust update comes before the tag naming it, so the
/// ID is readable from the trust policy whenever the tag is missing).
#[test]
fn a_kill_after_any_write_of_apply_is_recovered_exactly_by_the_next_apply() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (mut kill_points, mut generated_kept) = (0, 0);
    for row in ROWS.iter().filter(|row| row.after.is_some()) {
        let case = row.case;
        let whole = iam_with(row);
        runtime.block_on(apply_on(&whole, row, context(NOW)));
        let sent = writes(&whole.calls());
        for done in 0..sent.len() {
            let iam = iam_with(row);
            let api = sent[done];
            let nth = sent[..=done].iter().filter(|a| **a == api).count();
            iam.fail(crate::live::memory::Fault::service(api, "ServiceFailure").nth(nth));
            // A refused lease release is no failure of apply's: the lease expires.
            runtime.block_on(apply_on(&iam, row, context(NOW)));
            let calls: Vec<_> = iam
                .calls()
                .into_iter()
                .filter(|c| !c.api.starts_with("Get") && !c.api.starts_with("List"))
                .collect();
            assert!(
                calls[done].failed,
                "{case}: the write after {done} is refused"
            );
            // After it, only the lease may be given back (a kill would not even do that).
            assert!(
                calls[done + 1..]
                    .iter()
                    .all(|c| c.api == "UntagRole" && c.tag_keys == [tags::LOCK]),
                "{case}: nothing but the lease's release follows the refused write: {calls:?}"
            );
            let left = iam.role(&role(row).name).expect("the role after the kill");
            let written_then = generated_ids(&left);
            // Later: the killed run's lease, if it took one, has expired.
            let (_, again) = runtime.block_on(apply_on(&iam, row, context("2026-06-01T00:05:00Z")));
            let (mut after, mut bundle) = match again {
                Some(Ok(applied)) => applied,
                other => panic!("{case}, killed after {done} write(s): the next apply: {other:?}"),
            };
            generated_kept += written_then.len();
            for generated in &written_then {
                assert!(
                    generated_ids(&after).contains(generated),
                    "{case}, killed after {done} write(s): the ID the killed apply wrote is kept"
                );
                assert!(
                    tagged(&after, tags::EXTERNAL_ID).is_some(),
                    "{case}, killed after {done} write(s): and recorded"
                );
            }
            if !written_then.is_empty()
                && bundle
                    .as_ref()
                    .is_some_and(|b| !LABELS.iter().any(|l| id(l) == *b))
            {
                assert!(
                    written_then.contains(bundle.as_ref().unwrap()),
                    "{case}, killed after {done} write(s): the bundle gets the ID the killed apply wrote"
                );
            }
            as_generated(&mut after, &mut bundle);
            let want = row.after.unwrap();
            let trust_ids: Vec<String> = trust::external_ids(after.trust_policy.valid().unwrap())
                .iter()
                .map(label)
                .collect();
            let outcome = (
                trust_ids,
                tagged(&after, tags::EXTERNAL_ID),
                tagged(&after, tags::ROTATION_PENDING),
                bundle.as_ref().map(label),
            );
            let wanted = (
                want.trust.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                want.recorded.map(str::to_string),
                want.pending.map(str::to_string),
                want.bundle.map(str::to_string),
            );
            assert_eq!(
                outcome, wanted,
                "{case}, killed after {done} write(s) ({sent:?})"
            );
            kill_points += 1;
        }
    }
    assert!(
        kill_points > 20,
        "the table kills apply at {kill_points} points"
    );
    assert!(
        generated_kept > 0,
        "some kill falls between a generated ID's trust update and its tag"
    );
}
