//! The batch lease protocol against an in-memory IAM that counts calls and
//! can let another run's lease land at chosen moments.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::*;
use crate::live::clock::SteppedClock;
use crate::model::operation::WireOperation;
use crate::model::{LiveAccount, LiveDocument};

#[derive(Default)]
struct Calls {
    batch_reads: usize,
    lease_writes: BTreeMap<String, usize>,
    releases: BTreeMap<String, usize>,
}

/// IAM in memory. `interloper` names a role on which, right after this
/// run's first lease write, another run's lease (`interloper_lease`) lands.
struct FakeIam {
    roles: Mutex<BTreeMap<String, LiveRole>>,
    calls: Mutex<Calls>,
    interloper: Option<(String, String)>,
}

fn role(name: &str) -> LiveRole {
    LiveRole {
        name: name.into(),
        path: "/segment-functions/".into(),
        arn: format!("arn:aws:iam::123456789012:role/segment-functions/{name}"),
        role_id: "AROA".into(),
        create_date: None,
        description: None,
        max_session_duration: Some(3600),
        trust_policy: LiveDocument::Valid(serde_json::json!({})),
        inline_policies: BTreeMap::new(),
        attached_policies: Default::default(),
        permissions_boundary: None,
        tags: BTreeMap::new(),
    }
}

impl FakeIam {
    fn new(names: &[&str]) -> Self {
        FakeIam {
            roles: Mutex::new(names.iter().map(|n| (n.to_string(), role(n))).collect()),
            calls: Mutex::default(),
            interloper: None,
        }
    }

    fn set_lock(&self, name: &str, value: &str) {
        self.roles
            .lock()
            .unwrap()
            .get_mut(name)
            .unwrap()
            .tags
            .insert(tags::LOCK.into(), value.into());
    }

    fn lock_of(&self, name: &str) -> Option<String> {
        self.roles.lock().unwrap()[name]
            .tags
            .get(tags::LOCK)
            .cloned()
    }
}

impl IamBackend for FakeIam {
    async fn read_roles(&self, _role_paths: &[String]) -> Result<LiveAccount, IamError> {
        unreachable!("the lease protocol reads batches")
    }

    async fn get_role(&self, name: &str) -> Result<Option<LiveRole>, IamError> {
        Ok(self.roles.lock().unwrap().get(name).cloned())
    }

    async fn get_roles(&self, names: &[String]) -> Result<Vec<Option<LiveRole>>, IamError> {
        self.calls.lock().unwrap().batch_reads += 1;
        let roles = self.roles.lock().unwrap();
        Ok(names.iter().map(|n| roles.get(n).cloned()).collect())
    }

    async fn execute(&self, operation: &WireOperation) -> Result<(), IamError> {
        let mut roles = self.roles.lock().unwrap();
        let mut calls = self.calls.lock().unwrap();
        match operation {
            Operation::TagRole { role, tags: added } => {
                let live = roles.get_mut(role).ok_or(IamError::NoSuchEntity {
                    api: "TagRole",
                    message: role.clone(),
                })?;
                live.tags.extend(added.clone());
                if added.contains_key(tags::LOCK) {
                    *calls.lease_writes.entry(role.clone()).or_default() += 1;
                    if let Some((victim, lease)) = &self.interloper {
                        if victim == role && calls.lease_writes[role] == 1 {
                            live.tags.insert(tags::LOCK.into(), lease.clone());
                        }
                    }
                }
            }
            Operation::UntagRole { role, keys } => {
                let live = roles.get_mut(role).expect("role");
                for key in keys {
                    live.tags.remove(key);
                }
                if keys.iter().any(|k| k == tags::LOCK) {
                    *calls.releases.entry(role.clone()).or_default() += 1;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        Ok(())
    }
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

fn fake(count: usize) -> FakeIam {
    let names = names(count);
    FakeIam::new(&names.iter().map(String::as_str).collect::<Vec<_>>())
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
        assert_eq!(iam.lock_of(&roles[index]), None, "released");
    }
    assert_eq!(worked.lock().unwrap().len(), 20);
    let calls = iam.calls.lock().unwrap();
    assert_eq!(calls.batch_reads, 3, "free check, read-back, read after");
    assert!(calls.lease_writes.values().all(|&n| n == 1));
    assert!(calls.releases.values().all(|&n| n == 1));
}

#[tokio::test]
async fn roles_just_read_are_not_read_again_before_their_leases() {
    let iam = fake(3);
    let roles = names(3);
    let known: Vec<LiveRole> = roles.iter().map(|n| role(n)).collect();
    let results = run(
        &iam,
        &roles,
        Some(known),
        &batch(Duration::from_secs(60), Duration::ZERO, 8),
        |_, _| async {},
    )
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(iam.calls.lock().unwrap().batch_reads, 2);
}

#[tokio::test]
async fn a_lease_another_run_holds_is_waited_for_then_refused() {
    let iam = fake(3);
    let roles = names(3);
    let theirs = format!(
        "someoneelse00000 {}",
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(600))
    );
    iam.set_lock("r1", &theirs);
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
        iam.lock_of("r1"),
        Some(theirs),
        "the other run's lease stays"
    );
    assert_eq!(iam.calls.lock().unwrap().lease_writes.get("r1"), None);
}

#[tokio::test]
async fn a_lease_overwritten_before_its_read_back_is_not_trusted() {
    let mut iam = fake(2);
    let roles = names(2);
    // Another run's lease lands on r0 right after ours and expires in 1 s.
    let theirs = format!(
        "someoneelse00000 {}",
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(1))
    );
    iam.interloper = Some(("r0".into(), theirs));
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
    assert_eq!(iam.calls.lock().unwrap().lease_writes["r0"], 2);
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
    let calls = iam.calls.lock().unwrap();
    assert_eq!(calls.lease_writes["r0"], 1);
    assert_eq!(calls.lease_writes["r1"], 2, "taken again before its work");
    assert_eq!(iam.lock_of("r1"), None);
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
    assert!(matches!(&results[1], Err(LockError::NoRole(name)) if name == "gone"));
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
    let calls = iam.calls.lock().unwrap();
    assert!(calls.lease_writes.values().all(|&n| n == 1));
    // The work's untagging gave every lease back: no release of its own.
    assert!(
        calls.releases.values().all(|&n| n == 1),
        "{:?}",
        calls.releases
    );
    drop(calls);
    for name in &roles {
        assert_eq!(iam.lock_of(name), None);
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
