//! The rotation service in process: `rotate --start`, `--finish` and
//! `--auto` (with and without Segment) on IAM and Segment in memory, with a
//! stepped clock, so a rotation's hour of `--min-age` and its 90 days of
//! `rotateAfterDays` take no time. The crash table kills a phase after each
//! of its writes and checks that the function is never locked out and that
//! running the phase again completes it.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::execute::context::{RunContext, Timings};
use crate::execute::lease;
use crate::live::accounts::AccountAccess;
use crate::live::clock::SteppedClock;
use crate::live::memory::{MemoryAccounts, MemoryIam};
use crate::live::segment_memory::MemorySegment;
use crate::model::fixtures::{applied_operations, external_id, instance, CREATED};
use crate::model::segment::{SegmentRegion, SegmentTarget};
use crate::model::FunctionKind;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Two instances with roles as apply leaves them (IDs made on [`CREATED`]),
/// their bundles on disk and, with Segment, their instances in Segment
/// holding the bundles' settings.
struct World {
    iam: Arc<MemoryIam>,
    segment: Option<Arc<MemorySegment>>,
    clock: Arc<SteppedClock>,
    bundles: tempfile::TempDir,
    instances: Vec<DesiredInstance>,
}

impl World {
    fn new(with_segment: bool) -> World {
        let iam = Arc::new(MemoryIam::new());
        let segment =
            with_segment.then(|| Arc::new(MemorySegment::new(&[bundle::EXTERNAL_ID_SETTING])));
        let bundles = tempfile::tempdir().expect("a bundle directory");
        let mut instances = Vec::new();
        for (name, seed) in [("alpha", 'A'), ("beta", 'B')] {
            let mut wanted = instance(name);
            wanted.rotate_after_days = Some(90);
            if segment.is_some() {
                wanted.segment = Some(SegmentTarget {
                    id: format!("dst-{name}"),
                    region: SegmentRegion::Us,
                    kind: FunctionKind::Destination,
                });
            }
            let id = external_id(seed);
            for operation in applied_operations(&wanted, &id) {
                iam.change_by_hand(&operation).expect("seeding IAM");
            }
            let arn = iam.role(&wanted.role_name).expect("the seeded role").arn;
            let built = bundle::build(&wanted, &arn, &ExternalId::new(&id));
            bundle::write(bundles.path(), &built).expect("writing a bundle");
            if let (Some(segment), Some(target)) = (&segment, &wanted.segment) {
                segment.add(target, built.settings.clone().into_iter().collect());
            }
            instances.push(wanted);
        }
        World {
            iam,
            segment,
            // A month after the IDs were made: nothing is due yet.
            clock: Arc::new(SteppedClock::at_rfc3339(CREATED)),
            bundles,
            instances,
        }
        .later(30 * DAY)
    }

    fn later(self, by: Duration) -> World {
        self.clock.advance(by);
        self
    }

    fn context(&self) -> RunContext {
        let accounts: Arc<dyn AccountAccess> = Arc::new(MemoryAccounts::new(self.iam.clone()));
        let timings = Timings {
            lease: lease::Timing::new(Duration::from_secs(60), Duration::ZERO),
            ..Timings::default()
        };
        let segment = self
            .segment
            .clone()
            .map(|s| s as Arc<dyn crate::live::segment::SegmentBackend>);
        RunContext::new(self.clock.clone(), timings, 4)
            .with_accounts(accounts, Vec::new())
            .with_segment(segment)
    }

    fn request(&self, phase: Phase, names: &[&str]) -> Request {
        Request {
            phase,
            names: names.iter().map(|n| n.to_string()).collect(),
            due: false,
            all: names.is_empty(),
            bundle_dir: self.bundles.path().to_path_buf(),
            function_instances: Vec::new(),
        }
    }

    async fn run(&self, phase: Phase, names: &[&str]) -> Vec<Outcome> {
        self.try_run(phase, names).await.expect("the request runs")
    }

    async fn try_run(&self, phase: Phase, names: &[&str]) -> anyhow::Result<Vec<Outcome>> {
        let request = self.request(phase, names);
        rotate(&self.context(), self.instances.clone(), &request).await
    }

    async fn start(&self) -> Vec<Outcome> {
        self.run(Phase::Start, &[]).await
    }

    async fn finish(&self) -> Vec<Outcome> {
        let phase = Phase::Finish {
            min_age: HOUR,
            force: false,
        };
        self.run(phase, &[]).await
    }

    async fn auto(&self) -> Vec<Outcome> {
        let directory = self.bundles.path();
        auto(&self.context(), &self.instances, &[], directory, HOUR)
            .await
            .expect("--auto runs")
    }

    /// The IDs the role of `name` accepts now.
    fn accepted(&self, name: &str) -> Vec<ExternalId> {
        let role = self.iam.role(&format!("fn-{name}")).expect("the role");
        role.trust_policy
            .valid()
            .map(trust::external_ids)
            .unwrap_or_default()
    }

    fn bundle_id(&self, name: &str) -> ExternalId {
        bundle::id_on_disk(self.bundles.path(), name).expect("a bundle with an ID")
    }

    /// What the function instance in Segment runs with.
    fn segment_id(&self, name: &str) -> ExternalId {
        let segment = self.segment.as_ref().expect("Segment in this world");
        let target = self.instances.iter().find(|i| i.name == name).unwrap();
        let stored = segment
            .stored(
                target.segment.as_ref().unwrap(),
                bundle::EXTERNAL_ID_SETTING,
            )
            .expect("the setting");
        ExternalId::new(stored.as_str().unwrap())
    }

    /// The IDs the function could be using: what its bundle holds and,
    /// with Segment, what Segment holds.
    fn in_use(&self, name: &str) -> Vec<ExternalId> {
        let mut ids = vec![self.bundle_id(name)];
        if self.segment.is_some() {
            ids.push(self.segment_id(name));
        }
        ids
    }
}

fn kinds(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::Started { instance, .. } => format!("{instance}: started"),
            Outcome::Finished { instance, .. } => format!("{instance}: finished"),
            Outcome::NothingToFinish { instance } => format!("{instance}: nothing"),
            Outcome::Pushed { instance } => format!("{instance}: pushed"),
            Outcome::Waiting { instance, .. } => format!("{instance}: waiting"),
            Outcome::Failed { instance, error } => {
                format!("{instance}: failed: {}", crate::report::error_chain(error))
            }
        })
        .collect()
}

#[tokio::test]
async fn start_then_finish_after_min_age_replaces_every_id() {
    let world = World::new(false);
    let before: Vec<ExternalId> = ["alpha", "beta"].map(|n| world.bundle_id(n)).into();
    let started = world.start().await;
    assert_eq!(kinds(&started), ["alpha: started", "beta: started"]);
    for (name, old) in ["alpha", "beta"].iter().zip(&before) {
        let new = world.bundle_id(name);
        assert_ne!(&new, old, "{name}: the bundle holds the new ID");
        let accepted = world.accepted(name);
        assert!(
            accepted.contains(old) && accepted.contains(&new),
            "{name}: both accepted"
        );
    }
    // Minutes later: --min-age (an hour) refuses, and writes nothing.
    world.clock.advance(Duration::from_secs(600));
    let writes = world.iam.writes();
    let refused = world.finish().await;
    assert!(
        kinds(&refused).iter().all(|k| k.contains("less than 1h")),
        "{:?}",
        kinds(&refused)
    );
    assert_eq!(
        world.iam.writes(),
        writes,
        "a refused --finish writes nothing"
    );
    world.clock.advance(HOUR);
    let finished = world.finish().await;
    assert_eq!(kinds(&finished), ["alpha: finished", "beta: finished"]);
    for name in ["alpha", "beta"] {
        assert_eq!(world.accepted(name), [world.bundle_id(name)], "{name}");
    }
    // Nothing left to finish, and no lease left behind.
    let again = world.finish().await;
    assert_eq!(kinds(&again), ["alpha: nothing", "beta: nothing"]);
    for name in ["alpha", "beta"] {
        let role = world.iam.role(&format!("fn-{name}")).unwrap();
        assert!(
            !role.tags.contains_key(tags::LOCK),
            "{name}: lease released"
        );
    }
}

#[tokio::test]
async fn auto_starts_what_is_due_and_finishes_it_after_min_age() {
    let world = World::new(false);
    assert!(
        world.auto().await.is_empty(),
        "nothing is due after 30 days"
    );
    world.clock.advance(61 * DAY);
    let first = world.auto().await;
    assert_eq!(kinds(&first), ["alpha: started", "beta: started"]);
    let waiting = world.auto().await;
    assert_eq!(kinds(&waiting), ["alpha: waiting", "beta: waiting"]);
    world.clock.advance(HOUR + Duration::from_secs(1));
    let last = world.auto().await;
    assert_eq!(kinds(&last), ["alpha: finished", "beta: finished"]);
    assert!(
        world.auto().await.is_empty(),
        "a finished rotation is not due"
    );
    for name in ["alpha", "beta"] {
        assert_eq!(world.accepted(name), [world.bundle_id(name)]);
    }
}

#[tokio::test]
async fn with_segment_start_pushes_and_finish_waits_for_segment_and_min_age() {
    let world = World::new(true);
    let started = world.start().await;
    assert_eq!(
        kinds(&started),
        [
            "alpha: started",
            "alpha: pushed",
            "beta: started",
            "beta: pushed"
        ]
    );
    for name in ["alpha", "beta"] {
        assert_eq!(world.segment_id(name), world.bundle_id(name), "{name}");
    }
    let early = world.finish().await;
    assert!(
        kinds(&early).iter().all(|k| k.contains("failed")),
        "{:?}",
        kinds(&early)
    );
    world.clock.advance(HOUR + Duration::from_secs(1));
    assert_eq!(
        kinds(&world.finish().await),
        ["alpha: finished", "beta: finished"]
    );
    for name in ["alpha", "beta"] {
        assert_eq!(world.accepted(name), [world.segment_id(name)]);
    }
}

#[tokio::test]
async fn with_segment_auto_pushes_a_start_whose_push_failed_then_finishes() {
    let world = World::new(true).later(61 * DAY);
    world.segment.as_ref().unwrap().fail_next_update(503);
    let first = kinds(&world.auto().await);
    assert!(
        first.iter().any(|k| k.contains("did not reach Segment")),
        "{first:?}"
    );
    // Both IDs stay accepted while Segment lags: nobody is locked out.
    for name in ["alpha", "beta"] {
        for id in world.in_use(name) {
            assert!(world.accepted(name).contains(&id), "{name}");
        }
    }
    let second = kinds(&world.auto().await);
    assert!(second.iter().any(|k| k.ends_with("pushed")), "{second:?}");
    world.clock.advance(HOUR + Duration::from_secs(1));
    let last = kinds(&world.auto().await);
    assert_eq!(last, ["alpha: finished", "beta: finished"]);
    for name in ["alpha", "beta"] {
        assert_eq!(world.accepted(name), [world.segment_id(name)]);
    }
}

/// How many writes a phase makes on a fresh world, so the crash table can
/// kill it after each one.
async fn writes_of(with_segment: bool, phase: &str) -> usize {
    let world = World::new(with_segment);
    if phase == "finish" {
        world.start().await;
        world.clock.advance(2 * HOUR);
    }
    let before = world.iam.writes();
    match phase {
        "start" => world.start().await,
        _ => world.finish().await,
    };
    world.iam.writes() - before
}

/// Kills the phase after each of its writes in turn; after every kill the
/// function can still assume its role with the ID it uses, and running the
/// phase again (once the dead run's lease has expired) completes it.
async fn crash_table(with_segment: bool, phase: &str) {
    let total = writes_of(with_segment, phase).await;
    assert!(total >= 4, "{phase}: {total} writes");
    for kill_after in 0..total {
        let world = World::new(with_segment);
        if phase == "finish" {
            world.start().await;
            world.clock.advance(2 * HOUR);
        }
        let before = world.iam.writes();
        world.iam.kill_after_writes(kill_after);
        // What the dead run says does not matter (killed before its first
        // read it fails; after its last lease release it only leaves a lease
        // to expire): what IAM holds does.
        let phase_of_run = match phase {
            "start" => Phase::Start,
            _ => Phase::Finish {
                min_age: HOUR,
                force: false,
            },
        };
        let _ = world.try_run(phase_of_run, &[]).await;
        assert_eq!(
            world.iam.writes(),
            before + kill_after,
            "{phase}: the run died after write {kill_after}"
        );
        world.iam.revive();
        for name in ["alpha", "beta"] {
            for id in world.in_use(name) {
                assert!(
                    world.accepted(name).contains(&id),
                    "{phase}, killed after write {kill_after}: {name} is locked out"
                );
            }
        }
        // The dead run's lease expires; the same command is run again.
        world.clock.advance(2 * HOUR);
        let rerun = match phase {
            "start" => world.start().await,
            _ => world.finish().await,
        };
        let failed: Vec<String> = kinds(&rerun)
            .into_iter()
            .filter(|k| k.contains("failed"))
            .collect();
        assert!(
            failed.is_empty(),
            "{phase}, re-run after kill {kill_after}: {failed:?}"
        );
        for name in ["alpha", "beta"] {
            let accepted = world.accepted(name);
            match phase {
                "start" => assert_eq!(accepted.len(), 2, "{name}: rotating"),
                _ => assert_eq!(accepted, [world.bundle_id(name)], "{name}: finished"),
            }
            for id in world.in_use(name) {
                assert!(accepted.contains(&id), "{name}: in use and accepted");
            }
        }
    }
}

#[tokio::test]
async fn a_start_killed_after_any_write_converges_on_a_rerun() {
    crash_table(false, "start").await;
}

#[tokio::test]
async fn a_finish_killed_after_any_write_converges_on_a_rerun() {
    crash_table(false, "finish").await;
}

#[tokio::test]
async fn with_segment_a_start_killed_after_any_write_converges_on_a_rerun() {
    crash_table(true, "start").await;
}

#[tokio::test]
async fn with_segment_a_finish_killed_after_any_write_converges_on_a_rerun() {
    crash_table(true, "finish").await;
}
