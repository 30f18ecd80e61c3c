//! The external-ID decision table: what plan and apply do with the IDs of a
//! role's trust policy after a hand edit of a one- or two-ID state (an ID
//! removed or replaced, with or without a bundle on disk), for owned and
//! adopted roles. Each row says why its outcome is right. The rules in
//! short: an ID fnctl's tags name that the trust policy lost comes back when
//! a bundle on disk holds it; an ID the trust policy accepts is never
//! dropped by apply when it may be the one a function uses (only strangers
//! beside fnctl's own IDs go); what cannot be restored is said out loud.
//!
//! The rows live here, beside the decisions they explain
//! ([`super::external_id`]); they are run as `fnctl apply` runs them, on IAM
//! in memory and through the executor, by `execute::external_id_table_tests`
//! (with a kill after every write), and their drift column by
//! `check::drift`'s tests.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::external_id::ExternalId;
use crate::model::{tags, trust, DesiredInstance, FunctionKind, LiveDocument, LiveRole, Origin};
use crate::plan::planner::{BundledIds, PlanOptions};

const SEGMENT: &str = "458175278816";
pub(crate) const ACCOUNT: &str = "123456789012";
const SCOPE: &str = "table";
pub(crate) const NOW: &str = "2026-06-01T00:00:00Z";

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
pub(crate) fn label(id: &ExternalId) -> String {
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
        default_description: false,
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

pub(crate) fn options(row: &Row, bundle: Option<&str>) -> PlanOptions {
    PlanOptions {
        adopt: !row.owned,
        prune: false,
        now: crate::model::fixtures::at(NOW),
        bundled_ids: BundledIds(bundle.map(id).into_iter().collect()),
    }
}

/// The labels the rows use for IDs fnctl did not generate in the apply.
pub(crate) const LABELS: [&str; 8] = ["current", "old", "new", "x", "y", "a", "b", "c"];

pub(crate) fn tagged(role: &LiveRole, key: &str) -> Option<String> {
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
