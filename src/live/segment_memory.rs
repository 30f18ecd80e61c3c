//! Segment's Public API in memory, for in-process tests of the services
//! (rotation, apply's delivery) beside IAM in memory. It keeps what fnctl
//! relies on of Segment (shared/segment/README.md): sensitive values read
//! back masked (ten `•` and the last four characters), a 404 for an unknown
//! instance, and a settings update that merges into the stored object or,
//! where [`Updates::Replace`] says so, replaces it (Segment does not
//! document which). Lists page as Segment's do, [`PAGE_SIZE`] at a time
//! behind an opaque cursor, with or without a total. The HTTP client and its contract are tested against
//! the test server behind Prism; this one is for the services' logic.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::segment::{Collection, ListPage, SegmentBackend, SegmentError, PAGE_SIZE};
use crate::model::segment::{LiveSettings, SegmentTarget, MASK, VISIBLE_CHARACTERS};

/// How a settings update treats the settings it does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updates {
    /// Kept (the reading fnctl expects).
    Merge,
    /// Dropped: the update replaces the whole object.
    Replace,
}

/// One call the backend answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCall {
    /// `GET` or `PATCH`.
    pub method: &'static str,
    /// The instance's path, e.g. `/destinations/abc`, or a list's, e.g.
    /// `/destinations`.
    pub path: String,
}

impl SegmentCall {
    /// Whether the call read a list page.
    pub(crate) fn is_list(&self) -> bool {
        self.path.matches('/').count() == 1
    }
}

/// Segment in memory. Cheap to make: one per test.
pub struct MemorySegment {
    updates: Updates,
    /// Whether list pages say how many instances there are.
    totals: bool,
    sensitive: BTreeSet<String>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    instances: BTreeMap<String, Map<String, Value>>,
    calls: Vec<SegmentCall>,
    /// Updates still to fail, each with the HTTP status it answers.
    failing_updates: Vec<u16>,
}

impl MemorySegment {
    /// An empty workspace whose updates merge; `sensitive` names the
    /// settings read back masked.
    pub(crate) fn new(sensitive: &[&str]) -> Self {
        MemorySegment {
            updates: Updates::Merge,
            totals: true,
            sensitive: sensitive.iter().map(|s| s.to_string()).collect(),
            state: Mutex::default(),
        }
    }

    /// The same workspace with updates of the given kind.
    pub(crate) fn with_updates(mut self, updates: Updates) -> Self {
        self.updates = updates;
        self
    }

    /// The same workspace, its list pages without `totalEntries` (the
    /// spec makes it optional).
    pub(crate) fn without_totals(mut self) -> Self {
        self.totals = false;
        self
    }

    /// Creates the instance at `target` with `settings`.
    pub(crate) fn add(&self, target: &SegmentTarget, settings: Map<String, Value>) {
        self.state
            .lock()
            .unwrap()
            .instances
            .insert(target.path(), settings);
    }

    /// The stored value of one setting, unmasked (what the function runs with).
    pub(crate) fn stored(&self, target: &SegmentTarget, key: &str) -> Option<Value> {
        let state = self.state.lock().unwrap();
        state.instances.get(&target.path())?.get(key).cloned()
    }

    /// The next update fails with HTTP `status` (and changes nothing).
    pub(crate) fn fail_next_update(&self, status: u16) {
        self.state.lock().unwrap().failing_updates.push(status);
    }

    /// Every call answered so far.
    pub(crate) fn calls(&self) -> Vec<SegmentCall> {
        self.state.lock().unwrap().calls.clone()
    }

    fn masked(&self, settings: &Map<String, Value>) -> Map<String, Value> {
        settings
            .iter()
            .map(
                |(key, value)| match (self.sensitive.contains(key), value.as_str()) {
                    (true, Some(text)) => {
                        let chars: Vec<char> = text.chars().collect();
                        let tail: String = chars[chars.len().saturating_sub(VISIBLE_CHARACTERS)..]
                            .iter()
                            .collect();
                        let mask: String = std::iter::repeat_n(MASK, 10).collect();
                        (key.clone(), Value::String(format!("{mask}{tail}")))
                    }
                    _ => (key.clone(), value.clone()),
                },
            )
            .collect()
    }

    fn read_now(&self, target: &SegmentTarget) -> Option<LiveSettings> {
        let mut state = self.state.lock().unwrap();
        let path = target.path();
        state.calls.push(SegmentCall {
            method: "GET",
            path: path.clone(),
        });
        let stored = state.instances.get(&path)?;
        Some(LiveSettings {
            settings: self.masked(stored),
        })
    }

    fn list_now(
        &self,
        collection: Collection,
        cursor: Option<&str>,
    ) -> Result<ListPage, SegmentError> {
        let mut state = self.state.lock().unwrap();
        let prefix = format!("{}/", collection.path());
        state.calls.push(SegmentCall {
            method: "GET",
            path: collection.path().to_string(),
        });
        let start: usize = match cursor {
            None => 0,
            Some(cursor) => cursor.parse().map_err(|_| SegmentError::Status {
                path: collection.path().into(),
                status: 422,
                message: "bad cursor".into(),
            })?,
        };
        let all: Vec<(&String, &Map<String, Value>)> = state
            .instances
            .iter()
            .filter(|(path, _)| path.starts_with(&prefix))
            .collect();
        let instances = all
            .iter()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|(path, settings)| {
                let id = path[prefix.len()..].to_string();
                let settings = self.masked(settings);
                (id, LiveSettings { settings })
            })
            .collect();
        let end = start + PAGE_SIZE;
        Ok(ListPage {
            instances,
            next: (end < all.len()).then(|| end.to_string()),
            total: self.totals.then_some(all.len() as u64),
            listed: Default::default(),
        })
    }

    fn update_now(
        &self,
        target: &SegmentTarget,
        settings: &Map<String, Value>,
    ) -> Result<(), SegmentError> {
        let mut state = self.state.lock().unwrap();
        let path = target.path();
        state.calls.push(SegmentCall {
            method: "PATCH",
            path: path.clone(),
        });
        if !state.failing_updates.is_empty() {
            let status = state.failing_updates.remove(0);
            return Err(SegmentError::Status {
                path,
                status,
                message: "injected failure".into(),
            });
        }
        let Some(stored) = state.instances.get_mut(&path) else {
            return Err(SegmentError::Status {
                path,
                status: 404,
                message: "not found".into(),
            });
        };
        if self.updates == Updates::Replace {
            stored.clear();
        }
        for (key, value) in settings {
            stored.insert(key.clone(), value.clone());
        }
        Ok(())
    }
}

impl SegmentBackend for MemorySegment {
    fn read<'a>(
        &'a self,
        target: &'a SegmentTarget,
    ) -> BoxFuture<'a, Result<Option<LiveSettings>, SegmentError>> {
        Box::pin(async move { Ok(self.read_now(target)) })
    }

    fn update<'a>(
        &'a self,
        target: &'a SegmentTarget,
        settings: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        Box::pin(async move { self.update_now(target, settings) })
    }

    fn list<'a>(
        &'a self,
        collection: Collection,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ListPage, SegmentError>> {
        Box::pin(async move { self.list_now(collection, cursor) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::segment::SegmentRegion;
    use crate::model::FunctionKind;

    fn target() -> SegmentTarget {
        SegmentTarget {
            id: "abc".into(),
            region: SegmentRegion::Us,
            kind: FunctionKind::Destination,
        }
    }

    #[tokio::test]
    async fn sensitive_values_read_back_masked_and_updates_merge_or_replace() {
        for (updates, kept) in [(Updates::Merge, true), (Updates::Replace, false)] {
            let segment = MemorySegment::new(&["secret"]).with_updates(updates);
            let mut settings = Map::new();
            settings.insert("secret".into(), "abcdefghWXYZ".into());
            settings.insert("other".into(), "kept?".into());
            segment.add(&target(), settings);
            let read = segment.read(&target()).await.unwrap().unwrap();
            assert_eq!(read.settings["secret"], "••••••••••WXYZ");
            assert_eq!(read.settings["other"], "kept?");
            let mut update = Map::new();
            update.insert("secret".into(), "new-value-1234".into());
            segment.update(&target(), &update).await.unwrap();
            assert_eq!(
                segment.stored(&target(), "secret").unwrap(),
                "new-value-1234"
            );
            assert_eq!(segment.stored(&target(), "other").is_some(), kept);
        }
    }

    #[tokio::test]
    async fn unknown_instances_are_404s_and_failures_change_nothing() {
        let segment = MemorySegment::new(&[]);
        assert!(segment.read(&target()).await.unwrap().is_none());
        segment.add(&target(), Map::new());
        segment.fail_next_update(500);
        let mut update = Map::new();
        update.insert("a".into(), "b".into());
        assert!(segment.update(&target(), &update).await.is_err());
        assert_eq!(segment.stored(&target(), "a"), None);
        segment.update(&target(), &update).await.unwrap();
        assert_eq!(segment.stored(&target(), "a").unwrap(), "b");
        let methods: Vec<&str> = segment.calls().iter().map(|c| c.method).collect();
        assert_eq!(methods, ["GET", "PATCH", "PATCH"]);
    }
}
