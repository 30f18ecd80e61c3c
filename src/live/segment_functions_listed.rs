//! A run's lookups of Segment's function instances at the floor. Finding
//! one instance costs a GET (by the id its role records) or a search of
//! its source's destinations or of the sources, page by page; for a run
//! that looks many up that is the "N+1 requests in a for loop" Segment's
//! docs warn of (1,000 instances on one source: thousands of requests).
//! [`ListedInstances`] lists each collection (a region's destinations, its
//! sources) once, 200 a page, and answers every lookup from that listing;
//! writes go to Segment and update it. The callers do not change: it is a
//! [`FunctionsBackend`].

use std::collections::HashMap;

use futures::future::BoxFuture;
use tokio::sync::Mutex;

use super::segment::{SegmentBackend, SegmentError};
use super::segment_functions::{
    FunctionChange, FunctionsBackend, LiveFunction, LiveInstance, NewFunction, NewInstance, Page,
};
use crate::model::segment::SegmentRegion;
use crate::model::FunctionKind;

/// Every destination (or source) of the workspace of `region`, all pages.
pub(crate) async fn list_instances(
    backend: &dyn FunctionsBackend,
    region: SegmentRegion,
    kind: FunctionKind,
) -> Result<Vec<LiveInstance>, SegmentError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match kind {
            FunctionKind::Destination => {
                backend.list_destinations(region, cursor.as_deref()).await?
            }
            FunctionKind::Source => backend.list_sources(region, cursor.as_deref()).await?,
        };
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// With at most this many lookups a run asks Segment for each one: a
/// listing costs a page per 200 instances of the whole workspace.
pub const FEW: usize = 2;

type Collection = (SegmentRegion, FunctionKind);

/// One collection as listed, indexed for lookups by id and by source.
#[derive(Default)]
struct Listing {
    /// `None`: deleted by this run.
    items: Vec<Option<LiveInstance>>,
    by_id: HashMap<String, usize>,
    by_source: HashMap<String, Vec<usize>>,
}

impl Listing {
    fn add(&mut self, instance: LiveInstance) {
        let at = self.items.len();
        self.by_id.insert(instance.id.clone(), at);
        if let Some(source) = &instance.source_id {
            self.by_source.entry(source.clone()).or_default().push(at);
        }
        self.items.push(Some(instance));
    }

    fn remove(&mut self, id: &str) {
        if let Some(at) = self.by_id.remove(id) {
            self.items[at] = None;
        }
    }

    fn get(&self, id: &str) -> Option<&LiveInstance> {
        self.by_id.get(id).and_then(|at| self.items[*at].as_ref())
    }

    /// The instances a search goes through: a source's destinations, or all.
    fn candidates<'l>(
        &'l self,
        source: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'l LiveInstance> + 'l> {
        match source {
            Some(source) => Box::new(
                self.by_source
                    .get(source)
                    .into_iter()
                    .flatten()
                    .filter_map(|at| self.items[*at].as_ref()),
            ),
            None => Box::new(self.items.iter().flatten()),
        }
    }
}

/// `inner`, with the instance reads answered from one listing of each
/// collection when the run looks up more than [`FEW`] instances.
pub struct ListedInstances<'a> {
    inner: &'a dyn FunctionsBackend,
    list: bool,
    listed: Mutex<HashMap<Collection, Listing>>,
}

impl<'a> ListedInstances<'a> {
    /// `inner` for a run that looks up `lookups` instances.
    pub fn new(inner: &'a dyn FunctionsBackend, lookups: usize) -> Self {
        ListedInstances {
            inner,
            list: lookups > FEW,
            listed: Mutex::default(),
        }
    }

    /// Reads `collection` whole unless it is already, then `answer`s from it.
    async fn with_listing<T>(
        &self,
        collection: Collection,
        answer: impl FnOnce(&Listing) -> T,
    ) -> Result<T, SegmentError> {
        let mut listed = self.listed.lock().await;
        if let Some(listing) = listed.get(&collection) {
            return Ok(answer(listing));
        }
        let listing = self.list_whole(collection).await?;
        Ok(answer(listed.entry(collection).or_insert(listing)))
    }

    async fn list_whole(&self, (region, kind): Collection) -> Result<Listing, SegmentError> {
        let mut listing = Listing::default();
        list_instances(self.inner, region, kind)
            .await?
            .into_iter()
            .for_each(|i| listing.add(i));
        Ok(listing)
    }

    /// Keeps a listing true to a write this run made (`None`: deleted).
    async fn update(&self, collection: Collection, id: &str, made: Option<LiveInstance>) {
        if let Some(listing) = self.listed.lock().await.get_mut(&collection) {
            listing.remove(id);
            if let Some(made) = made {
                listing.add(made);
            }
        }
    }
}

impl FunctionsBackend for ListedInstances<'_> {
    fn list_functions<'b>(
        &'b self,
        region: SegmentRegion,
        kind: FunctionKind,
        cursor: Option<&'b str>,
    ) -> BoxFuture<'b, Result<Page<LiveFunction>, SegmentError>> {
        self.inner.list_functions(region, kind, cursor)
    }

    fn get_function<'b>(
        &'b self,
        region: SegmentRegion,
        id: &'b str,
    ) -> BoxFuture<'b, Result<Option<LiveFunction>, SegmentError>> {
        self.inner.get_function(region, id)
    }

    fn create_function<'b>(
        &'b self,
        region: SegmentRegion,
        function: &'b NewFunction,
    ) -> BoxFuture<'b, Result<LiveFunction, SegmentError>> {
        self.inner.create_function(region, function)
    }

    fn update_function<'b>(
        &'b self,
        region: SegmentRegion,
        id: &'b str,
        change: &'b FunctionChange,
    ) -> BoxFuture<'b, Result<LiveFunction, SegmentError>> {
        self.inner.update_function(region, id, change)
    }

    fn deploy_function<'b>(
        &'b self,
        region: SegmentRegion,
        id: &'b str,
    ) -> BoxFuture<'b, Result<(), SegmentError>> {
        self.inner.deploy_function(region, id)
    }

    fn delete_function<'b>(
        &'b self,
        region: SegmentRegion,
        id: &'b str,
    ) -> BoxFuture<'b, Result<(), SegmentError>> {
        self.inner.delete_function(region, id)
    }

    fn create_instance<'b>(
        &'b self,
        region: SegmentRegion,
        instance: &'b NewInstance,
    ) -> BoxFuture<'b, Result<LiveInstance, SegmentError>> {
        Box::pin(async move {
            let made = self.inner.create_instance(region, instance).await?;
            let id = made.id.clone();
            self.update((region, instance.kind), &id, Some(made.clone()))
                .await;
            Ok(made)
        })
    }

    fn connected_destinations<'b>(
        &'b self,
        region: SegmentRegion,
        source_id: &'b str,
        cursor: Option<&'b str>,
    ) -> BoxFuture<'b, Result<Page<LiveInstance>, SegmentError>> {
        self.inner.connected_destinations(region, source_id, cursor)
    }

    fn list_sources<'b>(
        &'b self,
        region: SegmentRegion,
        cursor: Option<&'b str>,
    ) -> BoxFuture<'b, Result<Page<LiveInstance>, SegmentError>> {
        self.inner.list_sources(region, cursor)
    }

    fn list_destinations<'b>(
        &'b self,
        region: SegmentRegion,
        cursor: Option<&'b str>,
    ) -> BoxFuture<'b, Result<Page<LiveInstance>, SegmentError>> {
        self.inner.list_destinations(region, cursor)
    }

    fn find_instance<'b>(
        &'b self,
        region: SegmentRegion,
        kind: FunctionKind,
        source: Option<&'b str>,
        catalog_id: &'b str,
        keep: &'b (dyn Fn(&LiveInstance) -> bool + Sync),
    ) -> BoxFuture<'b, Result<Option<LiveInstance>, SegmentError>> {
        if !self.list {
            return self
                .inner
                .find_instance(region, kind, source, catalog_id, keep);
        }
        // As Segment is searched: a destination among its source's, a
        // source among all sources.
        let (collection, source) = match (kind, source) {
            (FunctionKind::Destination, Some(source)) => (FunctionKind::Destination, Some(source)),
            _ => (FunctionKind::Source, None),
        };
        Box::pin(self.with_listing((region, collection), move |listing| {
            listing
                .candidates(source)
                .find(|i| i.metadata_id.as_deref() == Some(catalog_id) && keep(i))
                .cloned()
        }))
    }

    fn as_settings(&self) -> &dyn SegmentBackend {
        self.inner.as_settings()
    }

    fn get_instance<'b>(
        &'b self,
        region: SegmentRegion,
        kind: FunctionKind,
        id: &'b str,
    ) -> BoxFuture<'b, Result<Option<LiveInstance>, SegmentError>> {
        if !self.list {
            return self.inner.get_instance(region, kind, id);
        }
        Box::pin(self.with_listing((region, kind), move |listing| listing.get(id).cloned()))
    }

    fn delete_instance<'b>(
        &'b self,
        region: SegmentRegion,
        kind: FunctionKind,
        id: &'b str,
    ) -> BoxFuture<'b, Result<(), SegmentError>> {
        Box::pin(async move {
            self.inner.delete_instance(region, kind, id).await?;
            self.update((region, kind), id, None).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use serde_json::Map;

    use super::*;
    use crate::live::segment::PAGE_SIZE;
    use crate::live::segment_functions_memory::{DefinitionUpdates, Deploys, MemoryFunctions};

    const US: SegmentRegion = SegmentRegion::Us;
    const INSTANCES: usize = 450;

    /// A workspace with `INSTANCES` destinations of function `abc` on one
    /// source, and one elsewhere.
    fn workspace() -> MemoryFunctions {
        let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
        for n in 0..=INSTANCES {
            segment.insert_instance(LiveInstance {
                id: format!("dst{n:04}"),
                kind: FunctionKind::Destination,
                name: Some(format!("fn-{n} (fnctl:default)")),
                slug: None,
                enabled: true,
                metadata_id: Some("abc".into()),
                source_id: Some(if n == INSTANCES { "other" } else { "src" }.into()),
                settings: Map::new(),
            });
        }
        segment
    }

    /// Each instance found by name among its source's and read by id.
    fn look_each_up(backend: &dyn FunctionsBackend) -> Vec<Option<LiveInstance>> {
        let mut found = Vec::new();
        for n in 0..=INSTANCES {
            let name = format!("fn-{n} (fnctl:default)");
            let named = |i: &LiveInstance| i.name.as_deref() == Some(name.as_str());
            let kind = FunctionKind::Destination;
            found.push(
                block_on(backend.find_instance(US, kind, Some("src"), "abc", &named)).unwrap(),
            );
            let id = format!("dst{n:04}");
            found.push(block_on(backend.get_instance(US, kind, &id)).unwrap());
        }
        found
    }

    #[test]
    fn many_lookups_are_answered_from_one_listing_with_the_same_answers() {
        let direct = workspace();
        let answers = look_each_up(&direct);
        assert!(direct.instance_reads() > 2 * INSTANCES as u64);

        let segment = workspace();
        let listed = ListedInstances::new(&segment, INSTANCES);
        assert_eq!(look_each_up(&listed), answers);
        let pages = (INSTANCES + 1).div_ceil(PAGE_SIZE) as u64;
        assert_eq!(
            segment.instance_reads(),
            pages,
            "one listing of the destinations"
        );
        // The one on another source is not found among `src`'s.
        assert!(answers[2 * INSTANCES].is_none());
        assert!(answers[2 * INSTANCES + 1].is_some());
    }

    #[test]
    fn a_few_lookups_go_to_segment_each() {
        let segment = workspace();
        let listed = ListedInstances::new(&segment, FEW);
        let got = block_on(listed.get_instance(US, FunctionKind::Destination, "dst0001")).unwrap();
        assert!(got.is_some());
        assert_eq!(segment.instance_reads(), 1);
    }

    #[test]
    fn the_listing_follows_the_runs_own_creates_and_deletes() {
        let segment = workspace();
        let listed = ListedInstances::new(&segment, INSTANCES);
        let kind = FunctionKind::Destination;
        block_on(listed.get_instance(US, kind, "dst0000")).unwrap();
        let reads = segment.instance_reads();
        block_on(listed.delete_instance(US, kind, "dst0000")).unwrap();
        assert_eq!(
            block_on(listed.get_instance(US, kind, "dst0000")).unwrap(),
            None
        );
        let function = NewFunction {
            kind,
            display_name: "S3 archiver".into(),
            description: String::new(),
            code: "v1".into(),
            settings: Vec::new(),
        };
        let function = block_on(listed.create_function(US, &function)).unwrap();
        let made = block_on(listed.create_instance(
            US,
            &NewInstance {
                kind,
                metadata_id: function.catalog_id,
                name: "new (fnctl:default)".into(),
                source_id: Some("src".into()),
                enabled: true,
                settings: Map::new(),
            },
        ))
        .unwrap();
        let again = block_on(listed.get_instance(US, kind, &made.id)).unwrap();
        assert_eq!(again.map(|i| i.id), Some(made.id));
        assert_eq!(segment.instance_reads(), reads, "answered from the listing");
    }
}
