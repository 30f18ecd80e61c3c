//! The batch lease protocol against IAM in memory, counting its calls and
//! letting another run's lease land at chosen moments.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::*;
use crate::live::clock::SteppedClock;
use crate::live::memory::MemoryIam;
use crate::model::operation::SecretDocument;

/// IAM in memory holding the roles `names`, none of them leased.
fn memory_iam(names: &[String]) -> MemoryIam {
    let iam = MemoryIam::new();
    for name in names {
        iam.change_by_hand(&Operation::CreateRole {
            role: name.clone(),
            path: "/segment-functions/".into(),
            description: String::new(),
            max_session_duration: 3600,
            trust_policy: SecretDocument::new("{}"),
            permissions_boundary: None,
            tags: BTreeMap::new(),
        })
        .expect("seeding IAM in memory");
    }
    iam
}

fn set_lock(iam: &MemoryIam, name: &str, value: &str) {
    iam.change_by_hand(&lease_tag(name, value))
        .expect("by hand");
}

fn lease_tag(name: &str, value: &str) -> Operation<SecretDocument> {
    Operation::TagRole {
        role: name.into(),
        tags: BTreeMap::from([(tags::LOCK.to_string(), value.to_string())]),
    }
}

fn lock_of(iam: &MemoryIam, name: &str) -> Option<String> {
    iam.role(name)?.tags.get(tags::LOCK).cloned()
}

/// How many batch reads were made: [`fake`]'s account is known to be
/// small, so each batch read is one read of the whole account (one GAAD page).
fn batch_reads(iam: &MemoryIam) -> usize {
    iam.count("GetAccountAuthorizationDetails")
}

/// The calls of `api` about `role` that wrote or removed the lease tag.
fn lease_calls(iam: &MemoryIam, api: &str, role: &str) -> usize {
    iam.calls()
        .iter()
        .filter(|c| c.api == api && c.role.as_deref() == Some(role))
        .filter(|c| c.tag_keys.iter().any(|k| k == tags::LOCK))
        .count()
}

fn lease_writes(iam: &MemoryIam, role: &str) -> usize {
    lease_calls(iam, "TagRole", role)
}

fn releases(iam: &MemoryIam, role: &str) -> usize {
    lease_calls(iam, "UntagRole", role)
}

fn batch(lease: Duration, settle: Duration, parallelism: usize) -> Batch<'static> {
    Batch {
        parallelism,
        writes_per_role: 2,
        clock: SteppedClock::leaked_at_now(),
        timing: Timing {
            lease,
            settle,
            patience: lease,
        },
    }
}

fn names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("r{i}")).collect()
}

/// IAM in memory with `count` roles, known to hold them (as after a read of
/// the account): a batch read of its roles reads the account once.
fn fake(count: usize) -> MemoryIam {
    let iam = memory_iam(&names(count));
    iam.saw_roles(count);
    iam
}

#[tokio::test]
async fn a_batch_settles_once_and_reads_in_batches() {
    let iam = fake(20);
    let roles = names(20);
    let started = std::time::Instant::now();
    let worked = Mutex::new(Vec::new());
    let results = run(
        &iam,
        &roles,
        None,
        &batch(Duration::from_secs(60), Duration::from_millis(300), 4),
        |index, role| {
            // Work happens under the lease, on the role as read back.
            assert!(role.tags.contains_key(tags::LOCK));
            worked.lock().unwrap().push(index);
            async move { index * 10 }
        },
    )
    .await;
    // One settle for twenty roles, not five rounds of four.
    assert!(started.elapsed() < Duration::from_millis(900));
    for (index, result) in results.iter().enumerate() {
        let leased = result.as_ref().expect("held");
        assert_eq!(leased.value, index * 10);
        let after = leased.after.as_ref().unwrap().as_ref().unwrap();
        assert!(after.tags.contains_key(tags::LOCK), "read before release");
        assert_eq!(lock_of(&iam, &roles[index]), None, "released");
    }
    assert_eq!(worked.lock().unwrap().len(), 20);
    assert_eq!(batch_reads(&iam), 3, "free check, read-back, read after");
    assert!(roles.iter().all(|r| lease_writes(&iam, r) == 1));
    assert!(roles.iter().all(|r| releases(&iam, r) == 1));
}

#[tokio::test]
async fn roles_just_read_are_not_read_again_before_their_leases() {
    let iam = fake(3);
    let roles = names(3);
    let known: Vec<LiveRole> = roles.iter().map(|n| iam.role(n).unwrap()).collect();
    let results = run(
        &iam,
        &roles,
        Some(known),
        &batch(Duration::from_secs(60), Duration::ZERO, 8),
        |_, _| async {},
    )
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(batch_reads(&iam), 2);
}

#[tokio::test]
async fn a_lease_another_run_holds_is_waited_for_then_refused() {
    let iam = fake(3);
    let roles = names(3);
    let theirs = format!(
        "someoneelse00000 {}",
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(600))
    );
    set_lock(&iam, "r1", &theirs);
    let worked = Mutex::new(Vec::new());
    let results = run(
        &iam,
        &roles,
        None,
        &Batch {
            parallelism: 8,
            writes_per_role: 2,
            clock: SteppedClock::leaked_at_now(),
            timing: Timing {
                lease: Duration::from_secs(60),
                settle: Duration::ZERO,
                patience: Duration::from_millis(1500),
            },
        },
        |index, _| {
            worked.lock().unwrap().push(index);
            async {}
        },
    )
    .await;
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(
        matches!(&results[1], Err(LockError::Held { role, lease }) if role == "r1" && *lease == theirs)
    );
    assert_eq!(*worked.lock().unwrap(), vec![0, 2]);
    assert_eq!(
        lock_of(&iam, "r1"),
        Some(theirs),
        "the other run's lease stays"
    );
    assert_eq!(lease_writes(&iam, "r1"), 0);
}

#[tokio::test]
async fn a_lease_overwritten_before_its_read_back_is_not_trusted() {
    let iam = fake(2);
    let roles = names(2);
    // Another run's lease lands on r0 right after ours and expires in 1 s.
    let theirs = format!(
        "someoneelse00000 {}",
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(1))
    );
    let mut landed = false;
    iam.after_each_call(move |call| {
        let ours_on_r0 = call.api == "TagRole"
            && call.role.as_deref() == Some("r0")
            && call.tag_keys.iter().any(|k| k == tags::LOCK);
        if !ours_on_r0 || landed {
            return Vec::new();
        }
        landed = true;
        vec![lease_tag("r0", &theirs)]
    });
    let seen = Mutex::new(Vec::new());
    let results = run(
        &iam,
        &roles,
        None,
        &batch(Duration::from_secs(60), Duration::ZERO, 8),
        |index, role| {
            seen.lock()
                .unwrap()
                .push((index, role.tags[tags::LOCK].clone()));
            async {}
        },
    )
    .await;
    assert!(results.iter().all(Result::is_ok));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "each role worked on once: {seen:?}");
    assert!(
        seen.iter()
            .all(|(_, lease)| !lease.starts_with("someoneelse")),
        "no work under the other run's lease"
    );
    assert_eq!(lease_writes(&iam, "r0"), 2);
}

#[tokio::test]
async fn a_lease_that_runs_short_before_its_turn_is_taken_again() {
    let iam = fake(2);
    let roles = names(2);
    let order = Mutex::new(Vec::new());
    let clock = SteppedClock::leaked_at_now();
    // One role at a time, the first one slow: the second one's lease (400 ms,
    // nothing else expected of the batch) has less than half left when its
    // turn comes.
    let results = run(
        &iam,
        &roles,
        None,
        &Batch {
            parallelism: 1,
            writes_per_role: 0,
            clock,
            timing: Timing {
                lease: Duration::from_millis(1200),
                settle: Duration::ZERO,
                patience: Duration::from_secs(5),
            },
        },
        |index, _| {
            order.lock().unwrap().push(index);
            async move {
                if index == 0 {
                    clock.sleep(Duration::from_millis(900)).await;
                }
            }
        },
    )
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(*order.lock().unwrap(), vec![0, 1]);
    assert_eq!(lease_writes(&iam, "r0"), 1);
    assert_eq!(lease_writes(&iam, "r1"), 2, "taken again before its work");
    assert_eq!(lock_of(&iam, "r1"), None);
}

#[tokio::test]
async fn a_missing_role_is_reported() {
    let iam = fake(1);
    let roles = vec!["r0".to_string(), "gone".to_string()];
    let results = run(
        &iam,
        &roles,
        None,
        &batch(Duration::from_secs(60), Duration::ZERO, 8),
        |_, _| async {},
    )
    .await;
    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(LockError::NoRole { role: name }) if name == "gone"));
}

#[tokio::test]
async fn tags_ride_on_the_lease_and_a_last_untag_gives_it_back() {
    let iam = fake(5);
    let roles = names(5);
    let iam_ref = &iam;
    let results = run_with(
        &iam,
        &roles,
        None,
        &batch(Duration::from_secs(60), Duration::ZERO, 2),
        |index, _| BTreeMap::from([("fnctl:rotation-pending".to_string(), format!("p{index}"))]),
        |index, role, held| async move {
            // The tags are there under the lease, written in the lease's own call.
            assert_eq!(role.tags["fnctl:rotation-pending"], format!("p{index}"));
            assert!(held.may_release_with_last_write());
            let untag = Operation::UntagRole {
                role: role.name.clone(),
                keys: vec!["fnctl:rotation-pending".into(), tags::LOCK.into()],
            };
            iam_ref.execute(&untag).await.unwrap();
        },
    )
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert!(roles.iter().all(|r| lease_writes(&iam, r) == 1));
    // The work's untagging gave every lease back: no release of its own.
    let released: Vec<usize> = roles.iter().map(|r| releases(&iam, r)).collect();
    assert!(released.iter().all(|&n| n == 1), "{released:?}");
    for name in &roles {
        assert_eq!(lock_of(&iam, name), None);
    }
}

#[test]
fn a_lease_near_its_expiry_is_not_given_back_blindly() {
    let margin = Duration::from_secs(30);
    let fresh = Held {
        expiry: SystemTime::now() + Duration::from_secs(90),
        margin,
        clock: SteppedClock::leaked_at_now(),
    };
    let late = Held {
        expiry: SystemTime::now() + Duration::from_secs(10),
        margin,
        clock: SteppedClock::leaked_at_now(),
    };
    assert!(fresh.may_release_with_last_write());
    assert!(!late.may_release_with_last_write());
}
