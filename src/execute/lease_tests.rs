//! The role lock against IAM in memory: taking it, meeting another run's
//! lease, taking over an expired one, giving back only our own, and two
//! runs racing for it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::lease::{acquire_with, release, LockError, Timing};
use crate::live::memory::MemoryIam;
use crate::model::fixtures::{applied_operations, external_id, instance};
use crate::model::operation::Operation;
use crate::model::tags;

const ROLE: &str = "fn-alpha";

/// Waits short enough for a unit test; `patience` decides how long a held
/// lock is waited for.
fn timing(patience: Duration, settle: Duration) -> Timing {
    Timing {
        lease: Duration::from_secs(60),
        patience,
        settle,
        poll: Duration::from_millis(2),
    }
}

fn quick() -> Timing {
    timing(Duration::ZERO, Duration::ZERO)
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
    let (lease, role) = acquire_with(&iam, ROLE, quick()).await.expect("free");
    let held = lock_of(&iam).expect("the lease is in the tag");
    assert_eq!(
        role.tags.get(tags::LOCK),
        Some(&held),
        "the role as read once held"
    );
    let (owner, _) = held.split_once(' ').expect("`<owner> <expiry>`");
    assert_eq!(owner.len(), 16);
    let left = expiry(&held)
        .duration_since(std::time::SystemTime::now())
        .expect("in the future");
    assert!(left > Duration::from_secs(55) && left <= Duration::from_secs(60));
    release(&iam, &lease).await.expect("release");
    assert_eq!(lock_of(&iam), None);
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
    let refused = acquire_with(
        &iam,
        ROLE,
        timing(Duration::from_millis(20), Duration::ZERO),
    )
    .await;
    match refused {
        Err(LockError::Held { role, lease }) => {
            assert_eq!((role.as_str(), lease.as_str()), (ROLE, theirs.as_str()))
        }
        other => panic!("expected Held, got {:?}", other.map(|_| ())),
    }
    assert_eq!(lock_of(&iam), Some(theirs));
    assert_eq!(iam.count("TagRole"), 0, "a held lock is never overwritten");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let iam = iam_with_role();
    set_lock(&iam, "killed-run-12345 2020-01-01T00:00:00Z");
    let (lease, _) = acquire_with(&iam, ROLE, quick()).await.expect("expired");
    let held = lock_of(&iam).expect("ours now");
    assert!(!held.starts_with("killed-run"), "{held}");
    release(&iam, &lease).await.expect("release");
    assert_eq!(lock_of(&iam), None);
}

#[tokio::test]
async fn release_leaves_a_lease_that_is_not_ours() {
    let iam = iam_with_role();
    let (lease, _) = acquire_with(&iam, ROLE, quick()).await.expect("free");
    // Ours expired and another run took over.
    let theirs = "someone-else-123 2099-01-01T00:00:00Z";
    set_lock(&iam, theirs);
    iam.clear_calls();
    release(&iam, &lease).await.expect("release");
    assert_eq!(lock_of(&iam).as_deref(), Some(theirs));
    assert_eq!(iam.count("UntagRole"), 0);
}

#[tokio::test]
async fn a_missing_role_cannot_be_locked() {
    let iam = MemoryIam::new();
    let missing = acquire_with(&iam, ROLE, quick()).await;
    assert!(matches!(missing, Err(LockError::NoRole(ref r)) if r == ROLE));
}

#[tokio::test]
async fn of_two_racing_runs_exactly_one_holds_the_lock() {
    let iam = iam_with_role();
    // Both read a free lock and write their lease; after settling, the lease
    // in the tag is the last writer's, and the other run sees it held.
    let racing = timing(Duration::from_millis(50), Duration::from_millis(10));
    let (first, second) = futures::join!(
        acquire_with(&iam, ROLE, racing),
        acquire_with(&iam, ROLE, racing)
    );
    let held: Vec<bool> = [&first, &second].iter().map(|r| r.is_ok()).collect();
    assert_eq!(held.iter().filter(|h| **h).count(), 1, "{held:?}");
    assert_eq!(iam.count("TagRole"), 2, "both wrote a lease");
    let winner = first.or(second).expect("one holds it").1;
    assert_eq!(winner.tags.get(tags::LOCK), lock_of(&iam).as_ref());
}
