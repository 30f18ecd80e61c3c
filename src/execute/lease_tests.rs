//! The role leases against IAM in memory, through the batch service
//! (`lease::run`): taking a lease, meeting another run's, taking over an
//! expired one, giving back only our own, and two runs never working on a
//! role at once.

use std::collections::BTreeMap;
use std::time::Duration;

use super::lease::{run, Batch, LockError, Timing};
use crate::live::clock::SteppedClock;
use crate::live::memory::MemoryIam;
use crate::model::fixtures::{applied_operations, external_id, instance};
use crate::model::operation::Operation;
use crate::model::tags;

const ROLE: &str = "fn-alpha";

/// Waits short enough for a unit test; `patience` decides how long a held
/// lock is waited for.
fn timing(patience: Duration, settle: Duration) -> Batch<'static> {
    Batch {
        parallelism: 4,
        writes_per_role: 3,
        clock: SteppedClock::leaked_at_now(),
        timing: Timing {
            lease: Duration::from_secs(60),
            patience,
            settle,
        },
    }
}

fn quick() -> Batch<'static> {
    timing(Duration::ZERO, Duration::ZERO)
}

fn roles() -> Vec<String> {
    vec![ROLE.to_string()]
}

fn iam_with_role() -> MemoryIam {
    let iam = MemoryIam::new();
    for operation in applied_operations(&instance("alpha"), &external_id('A')) {
        iam.change_by_hand(&operation)
            .expect("seeding IAM in memory");
    }
    iam
}

fn set_lock(iam: &MemoryIam, value: &str) {
    iam.change_by_hand(&Operation::TagRole {
        role: ROLE.into(),
        tags: BTreeMap::from([(tags::LOCK.to_string(), value.to_string())]),
    })
    .expect("by hand");
}

fn lock_of(iam: &MemoryIam) -> Option<String> {
    iam.role(ROLE).and_then(|r| r.tags.get(tags::LOCK).cloned())
}

fn expiry(value: &str) -> std::time::SystemTime {
    let at = value.split(' ').nth(1).expect("`<owner> <expiry>`");
    humantime::parse_rfc3339(at).expect("RFC 3339")
}

#[tokio::test]
async fn a_free_lock_is_taken_and_given_back() {
    let iam = iam_with_role();
    let results = run(&iam, &roles(), None, &quick(), |_, role| async move {
        role.tags.get(tags::LOCK).cloned()
    })
    .await;
    let held = match &results[0] {
        Ok(leased) => leased
            .value
            .clone()
            .expect("the work sees the lease in the tag"),
        Err(error) => panic!("free lock refused: {error}"),
    };
    let (owner, _) = held.split_once(' ').expect("`<owner> <expiry>`");
    assert_eq!(owner.len(), 16);
    let left = expiry(&held)
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(left > Duration::from_secs(30), "{held}");
    assert_eq!(lock_of(&iam), None, "given back after the work");
}

#[tokio::test]
async fn a_lock_another_run_holds_is_not_taken() {
    let iam = iam_with_role();
    let theirs = format!(
        "someone-else-123 {}",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(60))
    );
    set_lock(&iam, &theirs);
    iam.clear_calls();
    let refused = run(
        &iam,
        &roles(),
        None,
        &timing(Duration::from_millis(20), Duration::ZERO),
        |_, _| async {},
    )
    .await;
    match &refused[0] {
        Err(LockError::Held { role, lease }) => {
            assert_eq!((role.as_str(), lease.as_str()), (ROLE, theirs.as_str()))
        }
        other => panic!("expected Held, got {:?}", other.as_ref().map(|_| ())),
    }
    assert_eq!(lock_of(&iam), Some(theirs));
    assert_eq!(iam.count("TagRole"), 0, "a held lock is never overwritten");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let iam = iam_with_role();
    set_lock(&iam, "killed-run-12345 2020-01-01T00:00:00Z");
    let results = run(&iam, &roles(), None, &quick(), |_, role| async move {
        role.tags.get(tags::LOCK).cloned()
    })
    .await;
    let held = results[0]
        .as_ref()
        .ok()
        .and_then(|l| l.value.clone())
        .expect("expired lease taken over");
    assert!(!held.starts_with("killed-run"), "{held}");
    assert_eq!(lock_of(&iam), None);
}

#[tokio::test]
async fn release_leaves_a_lease_that_is_not_ours() {
    let iam = iam_with_role();
    let theirs = "someone-else-123 2099-01-01T00:00:00Z";
    let iam_ref = &iam;
    // While we work, our lease is replaced by another run's.
    run(&iam, &roles(), None, &quick(), |_, _| async move {
        set_lock(iam_ref, theirs);
    })
    .await;
    assert_eq!(lock_of(&iam).as_deref(), Some(theirs));
}

#[tokio::test]
async fn a_missing_role_cannot_be_locked() {
    let iam = MemoryIam::new();
    let missing = run(&iam, &roles(), None, &quick(), |_, _| async {}).await;
    assert!(matches!(&missing[0], Err(LockError::NoRole { role: r }) if r == ROLE));
}

#[tokio::test]
async fn two_racing_runs_never_work_on_the_role_at_once() {
    let iam = iam_with_role();
    let inside = std::sync::atomic::AtomicBool::new(false);
    let overlapped = std::sync::atomic::AtomicBool::new(false);
    let racing = timing(Duration::from_secs(5), Duration::from_millis(10));
    let work = |_: usize, _| async {
        if inside.swap(true, std::sync::atomic::Ordering::SeqCst) {
            overlapped.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        inside.store(false, std::sync::atomic::Ordering::SeqCst);
    };
    let names = roles();
    let (first, second) = futures::join!(
        run(&iam, &names, None, &racing, work),
        run(&iam, &names, None, &racing, work)
    );
    assert!(
        !overlapped.load(std::sync::atomic::Ordering::SeqCst),
        "both runs worked on the role at once"
    );
    assert!(first[0].is_ok() || second[0].is_ok(), "one of them held it");
    assert!(iam.count("TagRole") >= 2, "both wrote a lease");
    assert_eq!(lock_of(&iam), None);
}
