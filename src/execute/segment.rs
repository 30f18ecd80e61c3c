//! Segment's side of a run: read every instance's settings (concurrently,
//! bounded, one GET each) to plan the pushes, and deliver a bundle's
//! settings after apply — read first, push only fnctl's keys that differ,
//! read back and confirm, and detect a push that lost settings fnctl does
//! not own (Segment replacing instead of merging).

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value};

use super::session::AccountRun;
use crate::bundle::{self, Bundle};
use crate::live::segment::{SegmentBackend, SegmentError};
use crate::model::external_id::ExternalId;
use crate::model::segment::{is_masked, LiveSettings, SegmentTarget};
use crate::model::DesiredInstance;
use crate::plan::notice::{Notice, NoticeKind};
use crate::plan::segment::{
    decide, expected_bundle_id, fingerprint, lost_settings, push_body, DesiredSettings,
    SegmentDecision,
};

/// How many Segment requests are in flight at once.
pub const CONCURRENCY: usize = 8;

/// Reads the Segment settings of every instance of `runs` that names one, in
/// one pass; `None` for instances Segment does not have.
pub async fn read_all(
    backend: &dyn SegmentBackend,
    targets: Vec<(String, SegmentTarget)>,
) -> Result<Vec<(String, SegmentTarget, Option<LiveSettings>)>, SegmentError> {
    stream::iter(targets)
        .map(|(instance, target)| async move {
            let live = backend.read(&target).await?;
            Ok((instance, target, live))
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Adds to each run's plan the Segment pushes apply will make, a notice for
/// each instance Segment does not have, and the fingerprints a saved plan
/// checks. `bundled` are the IDs of the bundles on disk.
pub async fn plan_runs(
    backend: &dyn SegmentBackend,
    runs: &mut [AccountRun],
    bundled: &[ExternalId],
) -> Result<(), SegmentError> {
    let targets = targets(runs);
    if targets.is_empty() {
        return Ok(());
    }
    let read = read_all(backend, targets).await?;
    for run in runs.iter_mut() {
        for instance in run.instances.clone() {
            let Some((_, target, live)) = read.iter().find(|(name, ..)| *name == instance.name)
            else {
                continue;
            };
            let change = run
                .plan
                .changes
                .iter()
                .find(|c| c.instance.as_deref() == Some(instance.name.as_str()));
            let role = run.role_of(&instance);
            let desired = DesiredSettings {
                plain: expected_settings(run, &instance),
                secret_key: bundle::EXTERNAL_ID_SETTING.into(),
                external_id: expected_bundle_id(change, role, bundled),
            };
            run.plan
                .segment_fingerprints
                .insert(instance.name.clone(), fingerprint(live.as_ref()));
            match decide(&instance.name, target, &desired, live.as_ref()) {
                SegmentDecision::InSync => {}
                SegmentDecision::Missing => run.plan.notices.push(Notice::new(
                    Some(&instance.name),
                    &instance.role_name,
                    NoticeKind::SegmentInstanceMissing {
                        kind: instance.kind,
                        id: target.id.clone(),
                    },
                )),
                SegmentDecision::Push(push) => run.plan.segment.push(push),
            }
        }
    }
    Ok(())
}

/// The non-secret settings fnctl delivers to an instance: its bundle's
/// settings without the sensitive ones.
pub fn expected_settings(run: &AccountRun, instance: &DesiredInstance) -> Map<String, Value> {
    let bundle = bundle::build(instance, &run.role_arn(instance), &ExternalId::new(""));
    bundle
        .settings
        .iter()
        .filter(|(key, _)| !bundle.sensitive.contains(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The instances of `runs` that name a Segment counterpart.
pub fn targets(runs: &[AccountRun]) -> Vec<(String, SegmentTarget)> {
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

/// Delivers a bundle's settings to its Segment instance: read, push fnctl's
/// keys that differ (never a masked value), read back and confirm. A push
/// that cost settings fnctl does not own is reported as an error, after
/// putting back those whose value Segment had shown unmasked.
pub async fn deliver(
    backend: &dyn SegmentBackend,
    target: &SegmentTarget,
    bundle: &Bundle,
) -> Result<Delivery, DeliveryError> {
    let key = bundle::EXTERNAL_ID_SETTING;
    let owned: Map<String, Value> = bundle.settings.clone().into_iter().collect();
    let missing = || DeliveryError::Missing {
        path: target.path(),
    };
    let before = backend.read(target).await?.ok_or_else(missing)?;
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
