//! The external-ID decision table of `plan::external_id_table_tests`, run
//! as `fnctl apply` runs it, on IAM in memory: the role is read, planned and
//! changed by the executor itself, and the bundle's ID is
//! [`planner::bundle_external_id`] of what the executor reports, the choice
//! apply makes. The ID apply generates is random; it is shown as
//! `generated`. Then the crash table: each row's apply killed after every
//! write, and run again.

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
use crate::model::{tags, trust, LiveDocument, LiveRole};
use crate::plan::external_id_table_tests::{
    id, instance, label, options, role, tagged, Row, ACCOUNT, LABELS, NOW, ROWS,
};
use crate::plan::planner;
use crate::plan::{NoticeLevel, RoleChange};

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
