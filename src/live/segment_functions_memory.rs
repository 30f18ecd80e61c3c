//! Segment's functions and their instances in memory, for in-process tests
//! of the services that create and update them. It keeps what Segment does
//! (shared/segment/README.md): ids `dfn_<catalogId>` / `sfnc_<catalogId>`,
//! the workspace's name appended to a destination function's display name,
//! sensitive values (by the function's definitions) read back as ten `•`
//! and the last four characters, names never unique, 404 for what is not
//! there. Where Segment's behaviour is not documented it has a switch per
//! reading: whether a PATCH of `settings` replaces the definitions or
//! merges them ([`DefinitionUpdates`]), whether a PATCH of the code alone
//! reaches running instances or a deploy is needed ([`Deploys`]). Writes
//! can be made to fail, or to succeed with their answer lost (a crash
//! after Segment made the object).

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::segment::{Collection, ListPage, Listed, SegmentBackend, SegmentError, PAGE_SIZE};
use super::segment_functions::{
    FunctionChange, FunctionsBackend, LiveFunction, LiveInstance, NewFunction, NewInstance, Page,
};
use crate::model::function::SettingDefinition;
use crate::model::segment::{LiveSettings, SegmentRegion, SegmentTarget, MASK};
use crate::model::FunctionKind;

/// How a PATCH with `settings` treats the definitions it does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionUpdates {
    /// Dropped: the list replaces the whole list (the likely reading).
    Replace,
    /// Kept: definitions are merged by name.
    Merge,
}

/// What makes running instances use new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deploys {
    /// A PATCH of the code deploys it (Segment's templates rely on it).
    OnUpdate,
    /// Only `POST /functions/{id}/deploy` does.
    Explicit,
}

/// How the next write fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Segment answers this status and changes nothing.
    Status(u16),
    /// Segment makes the change, and the answer never arrives.
    AnswerLost,
}

#[derive(Debug, Clone)]
struct StoredFunction {
    function: LiveFunction,
    /// Bumped by every code change.
    version: u64,
    deployed_version: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    functions: BTreeMap<String, StoredFunction>,
    /// Instance id → the instance, settings unmasked.
    instances: BTreeMap<String, LiveInstance>,
    next_id: u64,
    writes: Vec<String>,
    failures: Vec<Failure>,
    /// A write further on to fail: how many succeed before it, and how.
    fail_at: Option<(usize, Failure)>,
    deploys: u64,
    /// Instance reads answered: pages and GETs.
    instance_reads: u64,
}

/// Segment's functions and instances in memory. One per test.
pub struct MemoryFunctions {
    workspace: String,
    definitions: DefinitionUpdates,
    deploys: Deploys,
    state: Mutex<State>,
}

impl MemoryFunctions {
    /// An empty workspace named `workspace`.
    pub fn new(workspace: &str, definitions: DefinitionUpdates, deploys: Deploys) -> Self {
        MemoryFunctions {
            workspace: workspace.into(),
            definitions,
            deploys,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("no test panics holding the lock")
    }

    /// Makes the next writes fail, one failure each, in order.
    pub fn fail_next_writes(&self, failures: &[Failure]) {
        self.state().failures.extend(failures.iter().copied());
    }

    /// Makes the write after `succeeding` more writes fail as `failure` says.
    pub fn fail_write_at(&self, succeeding: usize, failure: Failure) {
        self.state().fail_at = Some((succeeding, failure));
    }

    /// Every write answered so far, as `METHOD path`.
    pub fn writes(&self) -> Vec<String> {
        self.state().writes.clone()
    }

    /// How many deploys were asked for.
    pub fn deploy_count(&self) -> u64 {
        self.state().deploys
    }

    /// Every function (with code and definitions).
    pub fn functions(&self) -> Vec<LiveFunction> {
        let state = self.state();
        state.functions.values().map(Self::shown).collect()
    }

    /// Every instance, settings as stored (unmasked: what the function runs with).
    pub fn instances(&self) -> Vec<LiveInstance> {
        self.state().instances.values().cloned().collect()
    }

    /// Changes a function by hand, as a person in Segment's app would.
    pub fn edit_function(&self, id: &str, edit: impl FnOnce(&mut LiveFunction)) {
        let mut state = self.state();
        let stored = state.functions.get_mut(id).expect("a function of the test");
        edit(&mut stored.function);
    }

    /// Deletes an instance by hand.
    pub fn remove_instance(&self, id: &str) {
        self.state().instances.remove(id);
    }

    /// Changes an instance by hand (reconnects it, renames it).
    pub fn edit_instance(&self, id: &str, edit: impl FnOnce(&mut LiveInstance)) {
        let mut state = self.state();
        edit(
            state
                .instances
                .get_mut(id)
                .expect("an instance of the test"),
        );
    }

    /// How many instance reads (a page, or one GET) were answered.
    pub fn instance_reads(&self) -> u64 {
        self.state().instance_reads
    }

    /// Makes an instance by hand, as a person in Segment's app would.
    pub fn insert_instance(&self, instance: LiveInstance) {
        self.state().instances.insert(instance.id.clone(), instance);
    }

    fn shown(stored: &StoredFunction) -> LiveFunction {
        let mut function = stored.function.clone();
        function.is_latest_version = Some(stored.deployed_version == Some(stored.version));
        function
    }

    /// Records a write, or fails it as the test asked. `Ok(false)`: the
    /// write happens but its answer is lost.
    fn write(&self, state: &mut State, what: String) -> Result<bool, SegmentError> {
        let failure = match state.fail_at {
            Some((0, failure)) => {
                state.fail_at = None;
                Some(failure)
            }
            Some((left, failure)) => {
                state.fail_at = Some((left - 1, failure));
                None
            }
            None if state.failures.is_empty() => None,
            None => Some(state.failures.remove(0)),
        };
        match failure {
            Some(Failure::Status(status)) => Err(SegmentError::Status {
                path: what,
                status,
                message: "injected".into(),
            }),
            Some(Failure::AnswerLost) => {
                state.writes.push(what);
                Ok(false)
            }
            None => {
                state.writes.push(what);
                Ok(true)
            }
        }
    }

    fn lost(what: &str) -> SegmentError {
        SegmentError::Unexpected {
            path: what.into(),
            message: "the answer was lost".into(),
        }
    }

    /// The settings Segment shows of an instance: sensitive ones masked,
    /// by its function's definitions.
    fn masked(state: &State, instance: &LiveInstance) -> Map<String, Value> {
        let sensitive: Vec<&SettingDefinition> = state
            .functions
            .values()
            .filter(|f| Some(&f.function.catalog_id) == instance.metadata_id.as_ref())
            .flat_map(|f| f.function.settings.iter().flatten())
            .filter(|d| d.sensitive)
            .collect();
        let mut settings = instance.settings.clone();
        for definition in sensitive {
            if let Some(Value::String(text)) = settings.get_mut(&definition.name) {
                *text = mask(text);
            }
        }
        settings
    }

    fn create(&self, new: &NewFunction) -> Result<LiveFunction, SegmentError> {
        let mut state = self.state();
        state.next_id += 1;
        let catalog_id = format!("{:020}", state.next_id);
        let (prefix, display_name) = match new.kind {
            FunctionKind::Destination => {
                ("dfn_", format!("{} ({})", new.display_name, self.workspace))
            }
            FunctionKind::Source => ("sfnc_", new.display_name.clone()),
        };
        let function = LiveFunction {
            id: format!("{prefix}{catalog_id}"),
            catalog_id,
            kind: Some(new.kind),
            display_name,
            description: new.description.clone(),
            code: Some(new.code.clone()),
            settings: Some(new.settings.clone()),
            deployed_at: None,
            is_latest_version: None,
        };
        let answered = self.write(&mut state, "POST /functions".into())?;
        let stored = StoredFunction {
            function,
            version: 1,
            deployed_version: None,
        };
        let shown = Self::shown(&stored);
        state.functions.insert(shown.id.clone(), stored);
        answered
            .then_some(shown)
            .ok_or_else(|| Self::lost("/functions"))
    }

    fn update(&self, id: &str, change: &FunctionChange) -> Result<LiveFunction, SegmentError> {
        let path = format!("/functions/{id}");
        if change.is_empty() {
            return Err(SegmentError::Status {
                path,
                status: 400,
                message: "nothing to update".into(),
            });
        }
        let mut state = self.state();
        if !state.functions.contains_key(id) {
            return Err(not_found(&path));
        }
        let answered = self.write(&mut state, format!("PATCH {path}"))?;
        let stored = state.functions.get_mut(id).expect("checked above");
        self.apply_change(stored, change);
        let shown = Self::shown(stored);
        answered.then_some(shown).ok_or_else(|| Self::lost(&path))
    }

    fn apply_change(&self, stored: &mut StoredFunction, change: &FunctionChange) {
        let function = &mut stored.function;
        if let Some(code) = &change.code {
            function.code = Some(code.clone());
            stored.version += 1;
            if self.deploys == Deploys::OnUpdate && stored.deployed_version.is_some() {
                stored.deployed_version = Some(stored.version);
            }
        }
        if let Some(name) = &change.display_name {
            function.display_name = match function.kind {
                Some(FunctionKind::Destination) => format!("{name} ({})", self.workspace),
                _ => name.clone(),
            };
        }
        if let Some(description) = &change.description {
            function.description = description.clone();
        }
        if let Some(settings) = &change.settings {
            let merged = match (self.definitions, function.settings.take()) {
                (DefinitionUpdates::Merge, Some(mut old)) => {
                    old.retain(|d| settings.iter().all(|new| new.name != d.name));
                    old.extend(settings.iter().cloned());
                    old
                }
                _ => settings.clone(),
            };
            function.settings = Some(merged);
        }
    }

    fn deploy(&self, id: &str) -> Result<(), SegmentError> {
        let path = format!("/functions/{id}/deploy");
        let mut state = self.state();
        if !state.functions.contains_key(id) {
            return Err(not_found(&path));
        }
        let answered = self.write(&mut state, format!("POST {path}"))?;
        state.deploys += 1;
        let stored = state.functions.get_mut(id).expect("checked above");
        stored.deployed_version = Some(stored.version);
        stored.function.deployed_at = Some(format!("deploy-{}", stored.version));
        answered.then_some(()).ok_or_else(|| Self::lost(&path))
    }

    fn new_instance(&self, new: &NewInstance) -> Result<LiveInstance, SegmentError> {
        let mut state = self.state();
        let known = state
            .functions
            .values()
            .any(|f| f.function.catalog_id == new.metadata_id);
        let collection = match new.kind {
            FunctionKind::Destination => "/destinations",
            FunctionKind::Source => "/sources",
        };
        if !known {
            return Err(not_found(collection));
        }
        state.next_id += 1;
        let instance = LiveInstance {
            id: format!("inst{:08}", state.next_id),
            kind: new.kind,
            name: (new.kind == FunctionKind::Destination).then(|| new.name.clone()),
            slug: (new.kind == FunctionKind::Source).then(|| new.name.clone()),
            enabled: new.enabled,
            metadata_id: Some(new.metadata_id.clone()),
            source_id: new.source_id.clone(),
            settings: new.settings.clone(),
        };
        let answered = self.write(&mut state, format!("POST {collection}"))?;
        state
            .instances
            .insert(instance.id.clone(), instance.clone());
        let mut shown = instance;
        shown.settings = Self::masked(&state, &shown);
        answered
            .then_some(shown)
            .ok_or_else(|| Self::lost(collection))
    }

    /// The instances `keep` accepts, masked, one page from `cursor`.
    fn page(
        &self,
        cursor: Option<&str>,
        keep: impl Fn(&LiveInstance) -> bool,
    ) -> Page<LiveInstance> {
        let mut state = self.state();
        state.instance_reads += 1;
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let all: Vec<&LiveInstance> = state.instances.values().filter(|i| keep(i)).collect();
        let items = all
            .iter()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|instance| {
                let mut shown = (*instance).clone();
                shown.settings = Self::masked(&state, instance);
                shown
            })
            .collect();
        let next = (start + PAGE_SIZE < all.len()).then(|| (start + PAGE_SIZE).to_string());
        Page { items, next }
    }

    fn remove(
        &self,
        what: String,
        exists: impl FnOnce(&mut State) -> bool,
    ) -> Result<(), SegmentError> {
        let mut state = self.state();
        let answered = self.write(&mut state, format!("DELETE {what}"))?;
        if !exists(&mut state) {
            return Err(not_found(&what));
        }
        answered.then_some(()).ok_or_else(|| Self::lost(&what))
    }
}

/// Ten `•` and the last four characters, whatever the value's length.
pub fn mask(text: &str) -> String {
    let characters: Vec<char> = text.chars().collect();
    let tail: String = characters[characters.len().saturating_sub(4)..]
        .iter()
        .collect();
    format!("{}{tail}", MASK.to_string().repeat(10))
}

fn not_found(path: &str) -> SegmentError {
    SegmentError::Status {
        path: path.into(),
        status: 404,
        message: "not found".into(),
    }
}

impl FunctionsBackend for MemoryFunctions {
    fn list_functions<'a>(
        &'a self,
        _region: SegmentRegion,
        kind: FunctionKind,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveFunction>, SegmentError>> {
        let mut state = self.state();
        state.instance_reads += 1;
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let all: Vec<LiveFunction> = state
            .functions
            .values()
            .filter(|f| f.function.kind == Some(kind))
            .map(|stored| LiveFunction {
                code: None,
                settings: None,
                deployed_at: None,
                is_latest_version: None,
                ..stored.function.clone()
            })
            .collect();
        let next = (start + PAGE_SIZE < all.len()).then(|| (start + PAGE_SIZE).to_string());
        let items = all.into_iter().skip(start).take(PAGE_SIZE).collect();
        Box::pin(async move { Ok(Page { items, next }) })
    }

    fn get_function<'a>(
        &'a self,
        _region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveFunction>, SegmentError>> {
        let found = self.state().functions.get(id).map(Self::shown);
        Box::pin(async move { Ok(found) })
    }

    fn create_function<'a>(
        &'a self,
        _region: SegmentRegion,
        function: &'a NewFunction,
    ) -> BoxFuture<'a, Result<LiveFunction, SegmentError>> {
        Box::pin(async move { self.create(function) })
    }

    fn update_function<'a>(
        &'a self,
        _region: SegmentRegion,
        id: &'a str,
        change: &'a FunctionChange,
    ) -> BoxFuture<'a, Result<LiveFunction, SegmentError>> {
        Box::pin(async move { self.update(id, change) })
    }

    fn deploy_function<'a>(
        &'a self,
        _region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        Box::pin(async move { self.deploy(id) })
    }

    fn delete_function<'a>(
        &'a self,
        _region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        Box::pin(async move {
            self.remove(format!("/functions/{id}"), |state| {
                state.functions.remove(id).is_some()
            })
        })
    }

    fn create_instance<'a>(
        &'a self,
        _region: SegmentRegion,
        instance: &'a NewInstance,
    ) -> BoxFuture<'a, Result<LiveInstance, SegmentError>> {
        Box::pin(async move { self.new_instance(instance) })
    }

    fn connected_destinations<'a>(
        &'a self,
        _region: SegmentRegion,
        source_id: &'a str,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>> {
        let page = self.page(cursor, |i| {
            i.kind == FunctionKind::Destination && i.source_id.as_deref() == Some(source_id)
        });
        Box::pin(async move { Ok(page) })
    }

    fn list_sources<'a>(
        &'a self,
        _region: SegmentRegion,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>> {
        let page = self.page(cursor, |i| i.kind == FunctionKind::Source);
        Box::pin(async move { Ok(page) })
    }

    fn list_destinations<'a>(
        &'a self,
        _region: SegmentRegion,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>> {
        let page = self.page(cursor, |i| i.kind == FunctionKind::Destination);
        Box::pin(async move { Ok(page) })
    }

    fn as_settings(&self) -> &dyn SegmentBackend {
        self
    }

    fn get_instance<'a>(
        &'a self,
        _region: SegmentRegion,
        kind: FunctionKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveInstance>, SegmentError>> {
        let mut state = self.state();
        state.instance_reads += 1;
        let found = state
            .instances
            .get(id)
            .filter(|i| i.kind == kind)
            .map(|i| LiveInstance {
                settings: Self::masked(&state, i),
                ..i.clone()
            });
        Box::pin(async move { Ok(found) })
    }

    fn delete_instance<'a>(
        &'a self,
        _region: SegmentRegion,
        kind: FunctionKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        let target = SegmentTarget {
            id: id.into(),
            region: SegmentRegion::Us,
            kind,
        };
        Box::pin(
            async move { self.remove(target.path(), |state| state.instances.remove(id).is_some()) },
        )
    }
}

/// The settings side of the same instances: what the settings push and
/// the checks read and write (merging, never a masked value stored).
impl SegmentBackend for MemoryFunctions {
    fn read<'a>(
        &'a self,
        target: &'a SegmentTarget,
    ) -> BoxFuture<'a, Result<Option<LiveSettings>, SegmentError>> {
        let state = self.state();
        let found = state
            .instances
            .get(&target.id)
            .filter(|i| i.kind == target.kind)
            .map(|i| LiveSettings {
                settings: Self::masked(&state, i),
            });
        Box::pin(async move { Ok(found) })
    }

    fn update<'a>(
        &'a self,
        target: &'a SegmentTarget,
        settings: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        Box::pin(async move {
            let mut state = self.state();
            let answered = self.write(&mut state, format!("PATCH {}", target.path()))?;
            let instance = state
                .instances
                .get_mut(&target.id)
                .ok_or_else(|| not_found(&target.path()))?;
            instance.settings.extend(settings.clone());
            answered
                .then_some(())
                .ok_or_else(|| Self::lost(&target.path()))
        })
    }

    fn list<'a>(
        &'a self,
        collection: Collection,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ListPage, SegmentError>> {
        let page = self.page(cursor, |i| i.kind == collection.kind);
        let listed = page
            .items
            .iter()
            .map(|i| {
                let metadata_id = i.metadata_id.clone();
                let source_id = i.source_id.clone();
                (
                    i.id.clone(),
                    Listed {
                        metadata_id,
                        source_id,
                    },
                )
            })
            .collect();
        let list = ListPage {
            listed,
            instances: page
                .items
                .into_iter()
                .map(|i| {
                    (
                        i.id,
                        LiveSettings {
                            settings: i.settings,
                        },
                    )
                })
                .collect(),
            next: page.next,
            total: None,
        };
        Box::pin(async move { Ok(list) })
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use serde_json::json;

    use super::*;

    const US: SegmentRegion = SegmentRegion::Us;

    use crate::model::fixtures::string_definition as definition;

    fn archiver() -> NewFunction {
        NewFunction {
            kind: FunctionKind::Destination,
            display_name: "S3 archiver".into(),
            description: "fnctl:default/s3-archiver".into(),
            code: "v1".into(),
            settings: vec![
                definition("iamRoleArn", false),
                definition("iamRoleExternalId", true),
            ],
        }
    }

    fn destination(metadata_id: &str) -> NewInstance {
        let mut settings = Map::new();
        settings.insert(
            "iamRoleArn".into(),
            json!("arn:aws:iam::123456789012:role/r"),
        );
        settings.insert(
            "iamRoleExternalId".into(),
            json!("abcdefghijklmnopqrstuvwxyzdada"),
        );
        NewInstance {
            kind: FunctionKind::Destination,
            metadata_id: metadata_id.into(),
            name: "s3-archiver-prod".into(),
            source_id: Some("src123456".into()),
            enabled: true,
            settings,
        }
    }

    #[test]
    fn functions_and_instances_behave_as_segment_documents() {
        let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
        let function = block_on(segment.create_function(US, &archiver())).expect("created");
        assert!(function.id.starts_with("dfn_"));
        assert_eq!(function.id, format!("dfn_{}", function.catalog_id));
        assert_eq!(function.display_name, "S3 archiver (Acme)");
        let instance = block_on(segment.create_instance(US, &destination(&function.catalog_id)))
            .expect("instance");
        assert_eq!(instance.settings["iamRoleExternalId"], "••••••••••dada");
        assert_eq!(
            instance.settings["iamRoleArn"],
            "arn:aws:iam::123456789012:role/r"
        );
        // Names are not unique: a second create makes a second instance.
        block_on(segment.create_instance(US, &destination(&function.catalog_id))).expect("again");
        let connected =
            block_on(segment.connected_destinations(US, "src123456", None)).expect("page");
        assert_eq!(connected.items.len(), 2);
        let target = SegmentTarget {
            id: instance.id.clone(),
            region: US,
            kind: FunctionKind::Destination,
        };
        let read = block_on(segment.read(&target))
            .expect("read")
            .expect("there");
        assert_eq!(read.settings["iamRoleExternalId"], "••••••••••dada");
        // An instance of an unknown function is refused.
        assert!(block_on(segment.create_instance(US, &destination("nope"))).is_err());
        let listed =
            block_on(segment.list_functions(US, FunctionKind::Destination, None)).expect("list");
        assert_eq!(
            (listed.items.len(), listed.items[0].code.as_ref()),
            (1, None)
        );
        assert!(
            block_on(segment.list_functions(US, FunctionKind::Source, None))
                .expect("list")
                .items
                .is_empty()
        );
    }

    #[test]
    fn each_reading_of_a_definitions_patch_and_of_deploys() {
        for (definitions, deploys) in [
            (DefinitionUpdates::Replace, Deploys::Explicit),
            (DefinitionUpdates::Merge, Deploys::OnUpdate),
        ] {
            let segment = MemoryFunctions::new("Acme", definitions, deploys);
            let function = block_on(segment.create_function(US, &archiver())).expect("created");
            assert_eq!(function.is_latest_version, Some(false));
            block_on(segment.deploy_function(US, &function.id)).expect("deploy");
            let change = FunctionChange {
                code: Some("v2".into()),
                settings: Some(vec![definition("iamRoleArn", false)]),
                ..FunctionChange::default()
            };
            let changed =
                block_on(segment.update_function(US, &function.id, &change)).expect("patch");
            let names: Vec<String> = changed
                .settings
                .expect("settings")
                .into_iter()
                .map(|d| d.name)
                .collect();
            let latest = changed.is_latest_version;
            match definitions {
                DefinitionUpdates::Replace => {
                    assert_eq!(names, ["iamRoleArn"]);
                    assert_eq!(latest, Some(false), "a deploy is needed");
                }
                DefinitionUpdates::Merge => {
                    assert_eq!(names, ["iamRoleExternalId", "iamRoleArn"]);
                    assert_eq!(latest, Some(true), "the PATCH deployed it");
                }
            }
            assert!(block_on(segment.update_function(
                US,
                &function.id,
                &FunctionChange::default()
            ))
            .is_err());
        }
    }

    #[test]
    fn a_write_can_fail_or_lose_its_answer_after_segment_made_the_object() {
        let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
        segment.fail_next_writes(&[Failure::Status(503), Failure::AnswerLost]);
        assert!(block_on(segment.create_function(US, &archiver())).is_err());
        assert!(segment.functions().is_empty());
        assert!(block_on(segment.create_function(US, &archiver())).is_err());
        assert_eq!(
            segment.functions().len(),
            1,
            "made, though the answer was lost"
        );
        assert_eq!(segment.writes(), ["POST /functions"]);
        let id = segment.functions()[0].id.clone();
        block_on(segment.delete_function(US, &id)).expect("deleted");
        assert!(block_on(segment.get_function(US, &id))
            .expect("get")
            .is_none());
        assert!(block_on(segment.delete_function(US, &id)).is_err());
    }

    #[test]
    fn masking_keeps_ten_bullets_and_the_last_four() {
        assert_eq!(mask("abcdefgh1234"), "••••••••••1234");
        assert_eq!(mask("ab"), "••••••••••ab");
    }
}
