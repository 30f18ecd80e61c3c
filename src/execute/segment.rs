//! Segment's side of a run: read every instance's settings to plan the
//! pushes (list pages when they take fewer requests than one GET per
//! instance), and deliver a bundle's settings after apply — read first,
//! push only fnctl's keys that differ, read back and confirm, and detect a
//! push that lost settings fnctl does not own (Segment replacing instead of
//! merging).

use std::collections::{BTreeSet, HashMap};

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value};

use super::session::AccountRun;
use crate::bundle::{self, Bundle};
use crate::live::segment::{Collection, SegmentBackend, SegmentError};
use crate::model::external_id::ExternalId;
use crate::model::segment::{is_masked, LiveSettings, SegmentTarget};
use crate::model::{DesiredInstance, LiveRole};
use crate::plan::notice::{Notice, NoticeKind};
use crate::plan::segment::{
    decide, expected_bundle_id, fingerprint, lost_settings, push_body, DesiredSettings,
    SegmentDecision,
};
use crate::plan::RoleChange;

/// How many Segment requests are in flight at once.
pub const CONCURRENCY: usize = 8;

/// Collections with at most this many instances to read are read with one
/// GET each: a list costs a page at least, and more in a large workspace.
pub const FEW: usize = 2;

/// Reads the Segment settings of `targets` in one pass; `None` for
/// instances Segment does not have. Per collection (destinations or
/// sources of a region), a few are read one GET each; more by listing the
/// collection, for as long as the pages left are fewer than the instances
/// left to find, the rest then one GET each.
pub(crate) async fn read_all(
    backend: &dyn SegmentBackend,
    targets: Vec<(String, SegmentTarget)>,
) -> Result<Vec<(String, SegmentTarget, Option<LiveSettings>)>, SegmentError> {
    let mut wanted: Vec<(Collection, BTreeSet<String>)> = Vec::new();
    for (_, target) in &targets {
        let collection = Collection::of(target);
        match wanted.iter_mut().find(|(c, _)| *c == collection) {
            Some((_, ids)) => {
                ids.insert(target.id.clone());
            }
            None => wanted.push((collection, BTreeSet::from([target.id.clone()]))),
        }
    }
    let read = futures::future::try_join_all(
        wanted
            .into_iter()
            .map(|(collection, ids)| read_collection(backend, collection, ids)),
    )
    .await?;
    let found: HashMap<(Collection, String), Option<LiveSettings>> =
        read.into_iter().flatten().collect();
    Ok(targets
        .into_iter()
        .map(|(instance, target)| {
            let key = (Collection::of(&target), target.id.clone());
            let live = found.get(&key).cloned().flatten();
            (instance, target, live)
        })
        .collect())
}

type Found = Vec<((Collection, String), Option<LiveSettings>)>;

async fn read_collection(
    backend: &dyn SegmentBackend,
    collection: Collection,
    mut left: BTreeSet<String>,
) -> Result<Found, SegmentError> {
    let mut found: Found = Vec::new();
    if left.len() > FEW {
        let mut cursor: Option<String> = None;
        let (mut pages, mut seen) = (0usize, 0u64);
        loop {
            let page = backend.list(collection, cursor.as_deref()).await?;
            pages += 1;
            seen += page.instances.len() as u64;
            let page_length = page.instances.len() as u64;
            for (id, live) in page.instances {
                if left.remove(&id) {
                    found.push(((collection, id), Some(live)));
                }
            }
            let Some(next) = page.next else {
                // The whole collection is read: the rest do not exist.
                found.extend(left.into_iter().map(|id| ((collection, id), None)));
                return Ok(found);
            };
            if left.is_empty() {
                return Ok(found);
            }
            let list_on = match page.total {
                Some(total) if seen >= total || page_length == 0 => false,
                Some(total) => (total - seen).div_ceil(page_length) as usize <= left.len(),
                // Unknown: list on while listing has cost less than the
                // GETs it may still save (never more than twice the
                // cheaper way).
                None => page_length > 0 && pages < left.len(),
            };
            if !list_on {
                break;
            }
            cursor = Some(next);
        }
    }
    let reads: Vec<Result<_, SegmentError>> = stream::iter(left)
        .map(|id| async move {
            let target = SegmentTarget {
                id,
                region: collection.region,
                kind: collection.kind,
            };
            let live = backend.read(&target).await?;
            Ok(((collection, target.id), live))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for read in reads {
        found.push(read?);
    }
    Ok(found)
}

/// Segment as `backend` shows it, except that the first read of each
/// instance of `read` is answered from `read` (a read of them all made
/// moments before, with list pages): a push starts from it, and its
/// read-back, like every other request, goes to Segment. A push to an
/// instance forgets what `read` showed of it.
pub struct ReadOnce<'a> {
    backend: &'a dyn SegmentBackend,
    seen: std::sync::Mutex<HashMap<(Collection, String), Option<LiveSettings>>>,
}

impl<'a> ReadOnce<'a> {
    /// `backend`, with `read` (from [`read_all`]) for the first reads.
    pub fn new(
        backend: &'a dyn SegmentBackend,
        read: &[(String, SegmentTarget, Option<LiveSettings>)],
    ) -> Self {
        let seen = read
            .iter()
            .map(|(_, target, live)| ((Collection::of(target), target.id.clone()), live.clone()))
            .collect();
        ReadOnce {
            backend,
            seen: std::sync::Mutex::new(seen),
        }
    }

    fn take(&self, target: &SegmentTarget) -> Option<Option<LiveSettings>> {
        let key = (Collection::of(target), target.id.clone());
        self.seen.lock().unwrap().remove(&key)
    }
}

impl SegmentBackend for ReadOnce<'_> {
    fn read<'b>(
        &'b self,
        target: &'b SegmentTarget,
    ) -> futures::future::BoxFuture<'b, Result<Option<LiveSettings>, SegmentError>> {
        match self.take(target) {
            Some(seen) => Box::pin(futures::future::ready(Ok(seen))),
            None => self.backend.read(target),
        }
    }

    fn update<'b>(
        &'b self,
        target: &'b SegmentTarget,
        settings: &'b Map<String, Value>,
    ) -> futures::future::BoxFuture<'b, Result<(), SegmentError>> {
        self.take(target);
        self.backend.update(target, settings)
    }

    fn list<'b>(
        &'b self,
        collection: Collection,
        cursor: Option<&'b str>,
    ) -> futures::future::BoxFuture<'b, Result<crate::live::segment::ListPage, SegmentError>> {
        self.backend.list(collection, cursor)
    }
}

/// Adds to each run's plan the Segment pushes apply will make, a notice for
/// each instance Segment does not have, and the fingerprints a saved plan
/// checks. `bundled` are the IDs of the bundles on disk.
pub(crate) async fn plan_runs(
    backend: &dyn SegmentBackend,
    runs: &mut [AccountRun],
    bundled: &[ExternalId],
) -> Result<(), SegmentError> {
    let targets = targets(runs);
    if targets.is_empty() {
        return Ok(());
    }
    let read = read_all(backend, targets).await?;
    let mut by_name: HashMap<&str, (&SegmentTarget, Option<&LiveSettings>)> = HashMap::new();
    for (name, target, live) in &read {
        by_name
            .entry(name.as_str())
            .or_insert((target, live.as_ref()));
    }
    for run in runs.iter_mut() {
        for (index, print, decision) in decide_run(run, &by_name, bundled) {
            let instance = &run.instances[index];
            run.plan
                .segment_fingerprints
                .insert(instance.name.clone(), print);
            match decision {
                SegmentDecision::InSync => {}
                SegmentDecision::Missing => run.plan.notices.push(Notice::new(
                    Some(&instance.name),
                    &instance.role_name,
                    NoticeKind::SegmentInstanceMissing {
                        kind: instance.kind,
                        id: by_name[instance.name.as_str()].0.id.clone(),
                    },
                )),
                SegmentDecision::Push(push) => run.plan.segment.push(push),
            }
        }
    }
    Ok(())
}

/// For each instance of `run` that `read` holds (by index): the fingerprint
/// of what Segment shows and what the plan does about it. Roles and changes
/// are looked up by name, not searched for each instance.
fn decide_run(
    run: &AccountRun,
    read: &HashMap<&str, (&SegmentTarget, Option<&LiveSettings>)>,
    bundled: &[ExternalId],
) -> Vec<(usize, String, SegmentDecision)> {
    let mut roles: HashMap<String, &LiveRole> = HashMap::new();
    for role in &run.live.roles {
        roles.entry(role.name.to_ascii_lowercase()).or_insert(role);
    }
    let mut changes: HashMap<&str, &RoleChange> = HashMap::new();
    for change in &run.plan.changes {
        if let Some(instance) = change.instance.as_deref() {
            changes.entry(instance).or_insert(change);
        }
    }
    let mut decided = Vec::new();
    for (index, instance) in run.instances.iter().enumerate() {
        let Some((target, live)) = read.get(instance.name.as_str()) else {
            continue;
        };
        let role = roles.get(&instance.role_name.to_ascii_lowercase()).copied();
        let arn = match role {
            Some(role) => role.arn.clone(),
            None => run.role_arn(instance),
        };
        let change = changes.get(instance.name.as_str()).copied();
        let desired = DesiredSettings {
            plain: plain_settings(instance, &arn),
            secret_key: bundle::EXTERNAL_ID_SETTING.into(),
            external_id: expected_bundle_id(change, role, bundled),
        };
        let print = fingerprint(*live);
        decided.push((
            index,
            print,
            decide(&instance.name, target, &desired, *live),
        ));
    }
    decided
}

/// The non-secret settings fnctl delivers to an instance: its bundle's
/// settings without the sensitive ones.
pub(crate) fn expected_settings(
    run: &AccountRun,
    instance: &DesiredInstance,
) -> Map<String, Value> {
    plain_settings(instance, &run.role_arn(instance))
}

fn plain_settings(instance: &DesiredInstance, role_arn: &str) -> Map<String, Value> {
    let bundle = bundle::build(instance, role_arn, &ExternalId::new(""));
    bundle
        .settings
        .iter()
        .filter(|(key, _)| !bundle.sensitive.contains(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The instances of `runs` that name a Segment counterpart.
pub(crate) fn targets(runs: &[AccountRun]) -> Vec<(String, SegmentTarget)> {
    runs.iter()
        .flat_map(|run| run.instances.iter())
        .filter_map(|i| i.segment.clone().map(|target| (i.name.clone(), target)))
        .collect()
}

/// What delivering one bundle did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Segment already held the settings: no PATCH was sent.
    Unchanged,
    /// These settings were pushed and read back.
    Pushed(Vec<String>),
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The API failed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// Segment has no such instance.
    #[error("Segment has no {path}")]
    Missing { path: String },
    /// Read back, Segment does not hold what was pushed.
    #[error("Segment did not keep {}: read back, it still differs", .0.join(", "))]
    NotConfirmed(Vec<String>),
    /// The push replaced the settings object: settings fnctl does not own are gone.
    #[error("Segment replaced the instance's settings instead of merging them: {} lost (fnctl does not own them){}", .lost.join(", "), restored_note(.restored))]
    LostSettings {
        lost: Vec<String>,
        restored: Vec<String>,
    },
}

fn restored_note(restored: &[String]) -> String {
    if restored.is_empty() {
        String::new()
    } else {
        format!(
            "; restored from what Segment showed before: {}",
            restored.join(", ")
        )
    }
}

/// Delivers many bundles to their Segment instances: one read of them all
/// ([`read_all`]: list pages when those are fewer requests), then for each
/// (concurrently, bounded) the push and its read-back, as [`deliver`] does.
/// When that first read fails, each delivery reads its instance itself.
pub(crate) async fn deliver_many(
    backend: &dyn SegmentBackend,
    deliveries: &[(String, SegmentTarget, Bundle)],
) -> Vec<Result<Delivery, DeliveryError>> {
    let targets = deliveries
        .iter()
        .map(|(name, target, _)| (name.clone(), target.clone()))
        .collect();
    let seen: Vec<Option<Option<LiveSettings>>> = match read_all(backend, targets).await {
        Ok(read) => read.into_iter().map(|(_, _, live)| Some(live)).collect(),
        Err(error) => {
            log::info!("Segment: reading the instances at once failed ({error}); reading each");
            vec![None; deliveries.len()]
        }
    };
    stream::iter(deliveries.iter().zip(seen))
        .map(|((_, target, bundle), seen)| async move {
            match seen {
                Some(before) => deliver_seen(backend, target, bundle, before).await,
                None => deliver(backend, target, bundle).await,
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

/// Delivers a bundle's settings to its Segment instance: read, push fnctl's
/// keys that differ (never a masked value), read back and confirm. A push
/// that cost settings fnctl does not own is reported as an error, after
/// putting back those whose value Segment had shown unmasked.
pub(crate) async fn deliver(
    backend: &dyn SegmentBackend,
    target: &SegmentTarget,
    bundle: &Bundle,
) -> Result<Delivery, DeliveryError> {
    let before = backend.read(target).await?;
    deliver_seen(backend, target, bundle, before).await
}

/// [`deliver`] from `before`, the instance as read moments ago (by a read
/// of many): the push and the read-back are this instance's own requests.
pub(crate) async fn deliver_seen(
    backend: &dyn SegmentBackend,
    target: &SegmentTarget,
    bundle: &Bundle,
    before: Option<LiveSettings>,
) -> Result<Delivery, DeliveryError> {
    let key = bundle::EXTERNAL_ID_SETTING;
    let owned: Map<String, Value> = bundle.settings.clone().into_iter().collect();
    let missing = || DeliveryError::Missing {
        path: target.path(),
    };
    let before = before.ok_or_else(missing)?;
    let body = push_body(&owned, key, &before);
    if body.is_empty() {
        return Ok(Delivery::Unchanged);
    }
    backend.update(target, &body).await?;
    let after = backend.read(target).await?.ok_or_else(missing)?;
    let lost = lost_settings(&before, &after, &owned);
    if !lost.is_empty() {
        // Under replace semantics the whole object must be sent: fnctl's
        // settings and every foreign one Segment showed unmasked.
        let restorable: Vec<String> = lost
            .iter()
            .filter(|k| before.settings.get(*k).is_some_and(|v| !is_masked(v)))
            .cloned()
            .collect();
        if !restorable.is_empty() {
            let mut whole = owned.clone();
            for name in &restorable {
                if let Some(value) = before.settings.get(name) {
                    whole.insert(name.clone(), value.clone());
                }
            }
            backend.update(target, &whole).await?;
        }
        let now = backend.read(target).await?.ok_or_else(missing)?;
        let still_lost = lost_settings(&before, &now, &owned);
        let restored = restorable
            .into_iter()
            .filter(|k| !still_lost.contains(k))
            .collect();
        return Err(DeliveryError::LostSettings {
            lost: lost.clone(),
            restored,
        });
    }
    let unconfirmed: Vec<String> = push_body(&owned, key, &after).keys().cloned().collect();
    if !unconfirmed.is_empty() {
        return Err(DeliveryError::NotConfirmed(unconfirmed));
    }
    Ok(Delivery::Pushed(body.keys().cloned().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::segment_memory::MemorySegment;
    use crate::model::segment::SegmentRegion;
    use crate::model::FunctionKind;

    fn target(kind: FunctionKind, n: usize) -> SegmentTarget {
        SegmentTarget {
            id: format!("id{n:05}"),
            region: SegmentRegion::Us,
            kind,
        }
    }

    /// A workspace of `destinations` and `sources` instances, each with a
    /// masked secret and a plain setting naming it.
    fn workspace(segment: &MemorySegment, destinations: usize, sources: usize) {
        for (kind, count) in [
            (FunctionKind::Destination, destinations),
            (FunctionKind::Source, sources),
        ] {
            for n in 0..count {
                let mut settings = Map::new();
                settings.insert("secret".into(), format!("secret-value-{n:05}").into());
                settings.insert("plain".into(), format!("{kind:?}{n}").into());
                segment.add(&target(kind, n), settings);
            }
        }
    }

    fn wanted(kind: FunctionKind, ns: impl Iterator<Item = usize>) -> Vec<(String, SegmentTarget)> {
        ns.map(|n| (format!("{kind:?}-{n}"), target(kind, n)))
            .collect()
    }

    /// (list pages, per-instance GETs) the backend answered.
    fn requests(segment: &MemorySegment) -> (usize, usize) {
        let calls = segment.calls();
        let lists = calls.iter().filter(|c| c.is_list()).count();
        (lists, calls.len() - lists)
    }

    /// What one GET per instance reads: the reference the lists must match.
    async fn one_by_one(
        segment: &MemorySegment,
        targets: &[(String, SegmentTarget)],
    ) -> Vec<Option<LiveSettings>> {
        let mut read = Vec::new();
        for (_, target) in targets {
            read.push(segment.read(target).await.unwrap());
        }
        read
    }

    #[tokio::test]
    async fn many_instances_are_read_in_list_pages_as_a_get_shows_them() {
        let segment = MemorySegment::new(&["secret"]);
        workspace(&segment, 1000, 450);
        let mut targets = wanted(FunctionKind::Destination, 0..1000);
        targets.extend(wanted(FunctionKind::Source, (0..450).rev()));
        targets.push(("gone".into(), target(FunctionKind::Source, 9999)));
        let read = read_all(&segment, targets.clone()).await.unwrap();
        // ceil(1000/200) + ceil(450/200) pages and not one GET; the missing
        // instance is known missing from the complete list.
        assert_eq!(requests(&segment), (5 + 3, 0));
        let reference = one_by_one(&segment, &targets).await;
        assert_eq!(read.len(), targets.len());
        for ((got, want), (name, target)) in read.iter().zip(&reference).zip(&targets) {
            assert_eq!((&got.0, &got.1), (name, target), "in the targets' order");
            assert_eq!(&got.2, want, "{name}");
        }
        assert!(read.last().unwrap().2.is_none());
        assert_eq!(
            read[0].2.as_ref().unwrap().settings["secret"],
            "••••••••••0000"
        );
    }

    #[tokio::test]
    async fn a_few_instances_are_read_one_get_each() {
        let segment = MemorySegment::new(&["secret"]);
        workspace(&segment, 10, 10);
        let mut targets = wanted(FunctionKind::Destination, 0..FEW);
        targets.extend(wanted(FunctionKind::Source, 3..4));
        let read = read_all(&segment, targets.clone()).await.unwrap();
        assert_eq!(requests(&segment), (0, FEW + 1));
        assert!(read.iter().all(|(_, _, live)| live.is_some()));
    }

    #[tokio::test]
    async fn in_a_large_workspace_listing_stops_when_gets_are_cheaper() {
        let segment = MemorySegment::new(&["secret"]);
        workspace(&segment, 2000, 0);
        // Three wanted, far apart: the first page says 9 pages are left,
        // more than the 2 instances still to find.
        let targets = wanted(FunctionKind::Destination, [5, 1500, 1900].into_iter());
        let read = read_all(&segment, targets.clone()).await.unwrap();
        assert_eq!(requests(&segment), (1, 2));
        let reference = one_by_one(&segment, &targets).await;
        let got: Vec<_> = read.into_iter().map(|(_, _, live)| live).collect();
        assert_eq!(got, reference);
    }

    #[tokio::test]
    async fn without_totals_listing_costs_at_most_twice_the_cheaper_way() {
        for (workspace_size, wanted_ns) in [(1000, 0..1000), (3000, 0..10), (3000, 2990..3000)] {
            let segment = MemorySegment::new(&["secret"]).without_totals();
            workspace(&segment, workspace_size, 0);
            let targets = wanted(FunctionKind::Destination, wanted_ns.clone());
            let read = read_all(&segment, targets.clone()).await.unwrap();
            let (lists, gets) = requests(&segment);
            let cheaper = targets.len().min(workspace_size.div_ceil(200));
            assert!(
                lists + gets <= 2 * cheaper,
                "{workspace_size} / {wanted_ns:?}: {lists} pages + {gets} GETs"
            );
            let reference = one_by_one(&segment, &targets).await;
            let got: Vec<_> = read.into_iter().map(|(_, _, live)| live).collect();
            assert_eq!(got, reference);
        }
    }

    #[tokio::test]
    async fn read_once_answers_the_first_read_and_sends_the_read_back() {
        let segment = MemorySegment::new(&["secret"]);
        workspace(&segment, 5, 0);
        let targets = wanted(FunctionKind::Destination, 0..5);
        let read = read_all(&segment, targets.clone()).await.unwrap();
        let once = ReadOnce::new(&segment, &read);
        let (_, first) = &targets[0];
        let before = once.read(first).await.unwrap();
        assert_eq!(before, read[0].2);
        assert_eq!(requests(&segment), (1, 0), "the first read cost nothing");
        let mut settings = Map::new();
        settings.insert("plain".into(), "new".into());
        once.update(first, &settings).await.unwrap();
        let after = once.read(first).await.unwrap().unwrap();
        assert_eq!(after.settings["plain"], "new", "read back from Segment");
        assert_eq!(requests(&segment), (1, 2));
        // Pushed before read: what the list showed is forgotten.
        let (_, second) = &targets[1];
        once.update(second, &settings).await.unwrap();
        assert_eq!(
            once.read(second).await.unwrap().unwrap().settings["plain"],
            "new"
        );
    }

    #[tokio::test]
    async fn many_deliveries_read_once_then_push_and_read_back_each() {
        let segment = MemorySegment::new(&["secret", bundle::EXTERNAL_ID_SETTING]);
        workspace(&segment, 300, 0);
        let deliveries: Vec<(String, SegmentTarget, Bundle)> = (0..300)
            .map(|n| {
                let target = target(FunctionKind::Destination, n);
                let settings = std::collections::BTreeMap::from([
                    (
                        bundle::EXTERNAL_ID_SETTING.to_string(),
                        format!("external-id-{n:05}").into(),
                    ),
                    (
                        "iamRoleArn".to_string(),
                        format!("arn:aws:iam::1:role/r{n}").into(),
                    ),
                ]);
                let bundle = Bundle {
                    instance: format!("i{n}"),
                    kind: FunctionKind::Destination,
                    settings,
                    sensitive: vec![bundle::EXTERNAL_ID_SETTING.into()],
                };
                (format!("i{n}"), target, bundle)
            })
            .collect();
        let results = deliver_many(&segment, &deliveries).await;
        assert!(results.iter().all(|r| matches!(r, Ok(Delivery::Pushed(_)))));
        let calls = segment.calls();
        let patches = calls.iter().filter(|c| c.method == "PATCH").count();
        // Two pages, then per instance its push and its read-back.
        assert_eq!(requests(&segment), (2, 600));
        assert_eq!(patches, 300);
        for (_, target, bundle) in &deliveries {
            for (key, value) in &bundle.settings {
                assert_eq!(segment.stored(target, key).as_ref(), Some(value));
            }
            assert!(segment.stored(target, "plain").is_some(), "foreign kept");
        }
        // Delivered again: one read of them all, nothing pushed.
        let again = deliver_many(&segment, &deliveries).await;
        assert!(again.iter().all(|r| matches!(r, Ok(Delivery::Unchanged))));
        assert_eq!(requests(&segment), (4, 600));
    }
}
