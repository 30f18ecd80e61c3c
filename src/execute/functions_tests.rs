//! Functions applied to Segment in memory, under each reading of what
//! Segment does not document, and killed at every write.

use futures::executor::block_on;
use serde_json::json;

use super::*;
use crate::live::segment_functions_memory::{DefinitionUpdates, Deploys, Failure, MemoryFunctions};
use crate::model::Origin;

const READINGS: [(DefinitionUpdates, Deploys); 2] = [
    (DefinitionUpdates::Replace, Deploys::Explicit),
    (DefinitionUpdates::Merge, Deploys::OnUpdate),
];

fn archiver(code: &str) -> DesiredFunction {
    DesiredFunction {
        name: "s3-archiver".into(),
        kind: FunctionKind::Destination,
        scope: "acme".into(),
        region: SegmentRegion::Us,
        display_name: "S3 archiver".into(),
        description: Some("Archives events".into()),
        code_path: "functions/s3-archiver.js".into(),
        code: code.into(),
        settings: Vec::new(),
        origin: Origin {
            file: "m.yaml".into(),
            line: 3,
        },
    }
}

fn instances() -> Vec<FunctionInstance> {
    ["prod", "staging"]
        .into_iter()
        .map(|name| FunctionInstance {
            instance: format!("s3-archiver-{name}"),
            function: "s3-archiver".into(),
            kind: FunctionKind::Destination,
            source: Some("src123456".into()),
            scope: "acme".into(),
            region: SegmentRegion::Us,
        })
        .collect()
}

fn bucket_settings() -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("s3Bucket".to_string(), json!("acme-events")),
        ("s3BucketRegion".to_string(), json!("us-west-2")),
    ])
}

fn settings_of(instance: &FunctionInstance) -> Map<String, Value> {
    let mut settings: Map<String, Value> = bucket_settings().into_iter().collect();
    settings.insert(
        "iamRoleArn".into(),
        json!(format!(
            "arn:aws:iam::123456789012:role/segment-fn-{}",
            instance.instance
        )),
    );
    settings.insert(
        "iamRoleExternalId".into(),
        json!(format!("external-id-of-{}-abcd", instance.instance)),
    );
    settings
}

/// The roles' records in memory: instance → recorded id; a record can be
/// made to fail (IAM refusing the tag).
#[derive(Default)]
struct Records {
    ids: std::sync::Mutex<BTreeMap<String, String>>,
    failing: std::sync::atomic::AtomicBool,
}

impl Records {
    fn ids(&self) -> BTreeMap<String, String> {
        self.ids.lock().unwrap().clone()
    }
}

impl InstanceRecords for Records {
    fn recorded(&self, instance: &str) -> Option<String> {
        self.ids.lock().unwrap().get(instance).cloned()
    }

    fn record<'a>(&'a self, instance: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), IamError>> {
        Box::pin(async move {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(IamError::AccessDenied {
                    api: "TagRole",
                    message: "not allowed to tag".into(),
                });
            }
            self.ids
                .lock()
                .unwrap()
                .insert(instance.to_string(), id.to_string());
            Ok(())
        })
    }
}

fn apply(segment: &MemoryFunctions, code: &str) -> Result<FunctionsOutcome, FunctionsError> {
    apply_recorded(segment, code, &Records::default(), false)
}

fn apply_recorded(
    segment: &MemoryFunctions,
    code: &str,
    records: &Records,
    adopt: bool,
) -> Result<FunctionsOutcome, FunctionsError> {
    let function = archiver(code);
    let settings = bucket_settings();
    let definitions = desired_definitions(&function, [&settings]);
    block_on(apply_functions(
        segment,
        &[(function, definitions)],
        &instances(),
        &settings_of,
        records,
        adopt,
    ))
}

#[test]
fn one_apply_creates_the_function_and_its_instances_and_a_second_writes_nothing() {
    for (definitions, deploys) in READINGS {
        let segment = MemoryFunctions::new("Acme", definitions, deploys);
        let outcome = apply(&segment, "v1").expect("applied");
        assert_eq!(outcome.created, ["s3-archiver"]);
        assert_eq!(outcome.deployed, ["s3-archiver"]);
        assert_eq!(outcome.created_instances.len(), 2);
        let functions = segment.functions();
        assert_eq!(functions.len(), 1);
        assert!(functions[0]
            .description
            .ends_with("[fnctl:acme/s3-archiver]"));
        assert_eq!(functions[0].is_latest_version, Some(true));
        let external_id = functions[0]
            .settings
            .iter()
            .flatten()
            .find(|d| d.name == "iamRoleExternalId")
            .expect("declared");
        assert!(external_id.sensitive);
        for instance in segment.instances() {
            assert_eq!(
                instance.metadata_id.as_ref(),
                Some(&functions[0].catalog_id)
            );
            assert!(instance.settings["iamRoleExternalId"]
                .as_str()
                .is_some_and(|id| id.starts_with("external-id-of-")));
        }
        let writes = segment.writes().len();
        let again = apply(&segment, "v1").expect("applied again");
        assert_eq!(
            segment.writes().len(),
            writes,
            "a second apply writes nothing"
        );
        assert_eq!(again.found_instances.len(), 2);
        assert!(again.created.is_empty() && again.updated.is_empty());
    }
}

#[test]
fn a_code_change_is_shipped_and_confirmed_running_under_each_reading() {
    for (definitions, deploys) in READINGS {
        let segment = MemoryFunctions::new("Acme", definitions, deploys);
        apply(&segment, "v1").expect("applied");
        let outcome = apply(&segment, "v2").expect("changed");
        assert_eq!(outcome.updated, ["s3-archiver"]);
        let expected_deploys: &[&str] = match deploys {
            Deploys::Explicit => &["s3-archiver"],
            Deploys::OnUpdate => &[],
        };
        assert_eq!(outcome.deployed, expected_deploys);
        let function = &segment.functions()[0];
        assert_eq!(function.code.as_deref(), Some("v2"));
        assert_eq!(function.is_latest_version, Some(true));
    }
}

#[test]
fn the_plan_shows_code_and_definition_diffs_and_refuses_what_it_does_not_own() {
    let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
    apply(&segment, "line one\n").expect("applied");
    let id = segment.functions()[0].id.clone();
    segment.edit_function(&id, |f| {
        f.code = Some("line one\nby hand\n".into());
        if let Some(settings) = f.settings.as_mut() {
            for d in settings
                .iter_mut()
                .filter(|d| d.name == "iamRoleExternalId")
            {
                d.sensitive = false;
            }
        }
    });
    let live = segment.functions().remove(0);
    let function = archiver("line one\n");
    let definitions = desired_definitions(&function, [&bucket_settings()]);
    let step = plan_function(&function, definitions.clone(), Some(&live), false);
    let FunctionStep::Update {
        code_diff,
        definitions_diff,
        change,
        ..
    } = step
    else {
        panic!("an update: {step:?}");
    };
    assert_eq!(
        code_diff.as_deref(),
        Some("--- segment\n+++ manifest\n@@ -1,2 +1 @@\n line one\n-by hand\n")
    );
    let definitions_diff = definitions_diff.expect("definitions differ");
    assert!(definitions_diff.contains("-iamRoleExternalId STRING required=true sensitive=false"));
    assert!(definitions_diff.contains("+iamRoleExternalId STRING required=true sensitive=true"));
    assert_eq!(change.settings.as_ref(), Some(&definitions));
    // The same function without fnctl's marker is a conflict, unless adopted.
    let mut foreign = live.clone();
    foreign.description = "made by hand".into();
    assert!(matches!(
        plan_function(&function, definitions.clone(), Some(&foreign), false),
        FunctionStep::Conflict { .. }
    ));
    assert!(matches!(
        plan_function(&function, definitions.clone(), Some(&foreign), true),
        FunctionStep::Update { .. }
    ));
    // Another scope's function is never touched, --adopt or not.
    let mut other_scope = live;
    other_scope.description = marker("other", "s3-archiver");
    assert!(matches!(
        plan_function(&function, definitions, Some(&other_scope), true),
        FunctionStep::Conflict { .. }
    ));
}

/// Every write of a first apply killed (failed, or made with its answer
/// lost), then a re-run: the function and each instance exist exactly
/// once, with their settings.
#[test]
fn a_kill_at_every_write_then_a_rerun_makes_everything_exactly_once() {
    let writes = {
        let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
        apply(&segment, "v1").expect("applied");
        segment.writes().len()
    };
    assert_eq!(writes, 4, "create, deploy and two instances");
    for (definitions, deploys) in READINGS {
        for kill in 0..writes {
            for failure in [Failure::Status(500), Failure::AnswerLost] {
                let segment = MemoryFunctions::new("Acme", definitions, deploys);
                let records = Records::default();
                segment.fail_write_at(kill, failure);
                let killed = apply_recorded(&segment, "v1", &records, false);
                assert!(killed.is_err(), "write {kill} killed with {failure:?}");
                apply_recorded(&segment, "v1", &records, false).expect("the re-run converges");
                assert_recorded(&segment, &records);
                assert_eq!(segment.functions().len(), 1, "write {kill}, {failure:?}");
                let instances = segment.instances();
                assert_eq!(instances.len(), 2, "write {kill}, {failure:?}");
                for instance in instances {
                    assert_eq!(instance.settings.len(), 4);
                }
                assert_eq!(segment.functions()[0].is_latest_version, Some(true));
            }
        }
    }
}

/// Each instance of the set recorded with the id of the one Segment instance of its name.
fn assert_recorded(segment: &MemoryFunctions, records: &Records) {
    let ids = records.ids();
    let instances = segment.instances();
    assert_eq!(ids.len(), instances.len(), "{ids:?}");
    for instance in instances {
        let name = instance.name.clone().unwrap_or_default();
        let of = name
            .strip_suffix(" (fnctl:acme)")
            .unwrap_or(&name)
            .to_string();
        assert_eq!(ids.get(&of), Some(&instance.id), "{ids:?}");
    }
}

/// IAM is the state: each instance's id is recorded on its role after the
/// create; a crash between the create and the record makes no duplicate
/// (the re-run finds it by fnctl's naming and records it); later runs look
/// it up by the recorded id first, so a rename by hand loses nothing.
#[test]
fn each_instance_is_recorded_after_its_create_and_found_by_its_record() {
    let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
    let records = Records::default();
    records
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let crashed = apply_recorded(&segment, "v1", &records, false);
    assert!(
        matches!(crashed, Err(FunctionsError::Record { .. })),
        "{crashed:?}"
    );
    assert_eq!(segment.instances().len(), 1, "made, then the record failed");
    records
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let outcome = apply_recorded(&segment, "v1", &records, false).expect("re-run");
    assert_eq!(
        outcome.created_instances.len(),
        1,
        "only the one never made"
    );
    assert_eq!(outcome.found_instances.len(), 1, "the first, by its name");
    assert_eq!(segment.instances().len(), 2);
    assert_recorded(&segment, &records);

    // Renamed by hand: found by its record all the same, nothing made.
    let ids = records.ids();
    let prod = ids["s3-archiver-prod"].clone();
    segment.edit_instance(&prod, |i| i.name = Some("renamed by hand".into()));
    let writes = segment.writes().len();
    let outcome = apply_recorded(&segment, "v1", &records, false).expect("again");
    assert_eq!(segment.writes().len(), writes, "no write");
    assert_eq!(outcome.found_instances.len(), 2);
    assert_eq!(records.ids(), ids);

    // Deleted in Segment: made again, and the new id recorded.
    segment.remove_instance(&prod);
    let outcome = apply_recorded(&segment, "v1", &records, false).expect("recreated");
    assert_eq!(outcome.created_instances.len(), 1);
    let new = &records.ids()["s3-archiver-prod"];
    assert_ne!(new, &prod);
    assert!(segment.instances().iter().any(|i| &i.id == new));

    // Connected elsewhere by hand: no second instance, a failure naming it.
    segment.edit_instance(new, |i| i.source_id = Some("elsewhere".into()));
    let count = segment.instances().len();
    let moved = apply_recorded(&segment, "v1", &records, false);
    assert!(
        matches!(&moved, Err(FunctionsError::Elsewhere { id, .. }) if id == new),
        "{moved:?}"
    );
    assert_eq!(segment.instances().len(), count);
}

/// `--adopt` only: an instance made by hand (the function's catalog id,
/// connected to the manifest's source, `iamRoleArn` naming the role) is
/// adopted, recorded and never renamed; one naming another role is not.
#[test]
fn adopt_records_a_hand_made_instance_whose_role_arn_names_the_role() {
    let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
    apply(&segment, "v1").expect("the function and fnctl's instances");
    for instance in segment.instances() {
        segment.remove_instance(&instance.id);
    }
    let catalog_id = segment.functions()[0].catalog_id.clone();
    let hand_made = |id: &str, instance: &str, catalog: &str| LiveInstance {
        id: id.into(),
        kind: FunctionKind::Destination,
        name: Some(format!("{id} by hand")),
        slug: None,
        enabled: true,
        metadata_id: Some(catalog.into()),
        source_id: Some("src123456".into()),
        settings: settings_of(
            &instances()[match instance {
                "prod" => 0,
                _ => 1,
            }],
        ),
    };
    segment.insert_instance(hand_made("handprod", "prod", &catalog_id));
    segment.insert_instance(hand_made("otherfn", "staging", "another-function"));
    let records = Records::default();
    let outcome = apply_recorded(&segment, "v1", &records, true).expect("adopted");
    assert_eq!(
        outcome.adopted_instances,
        [("s3-archiver-prod".to_string(), "handprod".to_string())]
    );
    assert_eq!(
        outcome.created_instances.len(),
        1,
        "staging's is another function's"
    );
    assert_eq!(records.ids()["s3-archiver-prod"], "handprod");
    let adopted = segment
        .instances()
        .into_iter()
        .find(|i| i.id == "handprod")
        .expect("kept");
    assert_eq!(
        adopted.name.as_deref(),
        Some("handprod by hand"),
        "never renamed"
    );

    // Without --adopt nothing made by hand is taken.
    let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
    apply(&segment, "v1").expect("applied");
    for instance in segment.instances() {
        segment.remove_instance(&instance.id);
    }
    let catalog_id = segment.functions()[0].catalog_id.clone();
    segment.insert_instance(hand_made("handprod", "prod", &catalog_id));
    let records = Records::default();
    let outcome = apply_recorded(&segment, "v1", &records, false).expect("applied");
    assert!(outcome.adopted_instances.is_empty());
    assert_ne!(records.ids()["s3-archiver-prod"], "handprod");
}

/// `--prune`: owned instances no manifest names, then owned functions no
/// manifest declares; never an object without fnctl's marker (a same-named
/// one running a function fnctl does not own), never another scope's, and
/// never a function something fnctl does not own still runs.
#[test]
fn prune_removes_owned_objects_no_manifest_names_and_nothing_else() {
    let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
    apply(&segment, "v1").expect("applied");
    let ours = segment.functions().remove(0);
    let made_by_hand = |description: &str| NewFunction {
        kind: FunctionKind::Destination,
        display_name: "S3 archiver".into(),
        description: description.into(),
        code: "x".into(),
        settings: Vec::new(),
    };
    let unowned = block_on(segment.create_function(SegmentRegion::Us, &made_by_hand("by hand")))
        .expect("made");
    let other_scope = block_on(segment.create_function(
        SegmentRegion::Us,
        &made_by_hand(&marker("other", "s3-archiver")),
    ))
    .expect("made");
    for (id, name, catalog) in [
        (
            "sameName",
            "s3-archiver-staging (fnctl:acme)",
            &unowned.catalog_id,
        ),
        (
            "otherScope",
            "s3-archiver-staging (fnctl:other)",
            &other_scope.catalog_id,
        ),
    ] {
        segment.insert_instance(LiveInstance {
            id: id.into(),
            kind: FunctionKind::Destination,
            name: Some(name.into()),
            slug: None,
            enabled: true,
            metadata_id: Some(catalog.clone()),
            source_id: Some("src123456".into()),
            settings: Map::new(),
        });
    }
    let function = archiver("v1");
    let scopes = vec![("acme".to_string(), SegmentRegion::Us)];
    let only_prod = &instances()[..1];
    let set = PruneScope {
        scopes: scopes.clone(),
        functions: std::slice::from_ref(&function),
        instances: only_prod,
    };
    let doomed = block_on(prunable(&segment, &set)).expect("read");
    let names: Vec<&str> = doomed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["s3-archiver-staging (fnctl:acme)"]);
    assert_ne!(doomed[0].id, "sameName");

    // Nothing declared any more: both instances, then the function.
    let set = PruneScope {
        scopes,
        functions: &[],
        instances: &[],
    };
    let doomed = block_on(prunable(&segment, &set)).expect("read");
    let whats: Vec<PrunableKind> = doomed.iter().map(|p| p.what).collect();
    assert_eq!(
        whats,
        [
            PrunableKind::Instance(FunctionKind::Destination),
            PrunableKind::Instance(FunctionKind::Destination),
            PrunableKind::Function(FunctionKind::Destination),
        ]
    );
    assert_eq!(doomed[2].id, ours.id);
    assert_eq!(block_on(prune(&segment, &doomed)).expect("pruned"), 3);
    let left: Vec<String> = segment.instances().into_iter().map(|i| i.id).collect();
    assert_eq!(left, ["otherScope", "sameName"]);
    assert_eq!(
        segment.functions().len(),
        2,
        "the unowned and the other scope's"
    );
    assert!(block_on(prunable(&segment, &set)).expect("read").is_empty());

    // A function something fnctl does not own still runs is kept.
    let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
    apply(&segment, "v1").expect("applied");
    let catalog_id = segment.functions()[0].catalog_id.clone();
    segment.insert_instance(LiveInstance {
        id: "byHand".into(),
        kind: FunctionKind::Destination,
        name: Some("made by hand".into()),
        slug: None,
        enabled: true,
        metadata_id: Some(catalog_id),
        source_id: Some("src123456".into()),
        settings: Map::new(),
    });
    let doomed = block_on(prunable(&segment, &set)).expect("read");
    assert_eq!(doomed.len(), 2, "the two owned instances, not the function");
    assert!(doomed
        .iter()
        .all(|p| matches!(p.what, PrunableKind::Instance(_))));
}

/// The recorded instances are read at once: a few one GET each, more from
/// the list pages; an id Segment no longer has (or of another kind) is
/// `None` either way.
#[test]
fn recorded_instances_are_read_by_gets_or_list_pages_alike() {
    let segment = MemoryFunctions::new("Acme", DefinitionUpdates::Replace, Deploys::Explicit);
    apply(&segment, "v1").expect("applied");
    let ids: Vec<String> = segment.instances().into_iter().map(|i| i.id).collect();
    let destination = |id: &str| (SegmentRegion::Us, FunctionKind::Destination, id.to_string());
    let few = vec![destination(&ids[0]), destination("gone0001")];
    let many = vec![
        destination(&ids[0]),
        destination(&ids[1]),
        destination("gone0001"),
        (SegmentRegion::Us, FunctionKind::Source, ids[1].clone()),
    ];
    for wanted in [few, many] {
        let held = block_on(read_recorded(&segment, &wanted)).expect("read");
        assert_eq!(held.len(), wanted.len().min(3), "{held:?}");
        let first = held[&ids[0]].as_ref().expect("held");
        assert_eq!(first.id, ids[0]);
        assert!(first.settings["iamRoleExternalId"]
            .as_str()
            .is_some_and(|shown| shown.starts_with('•')));
        assert!(held["gone0001"].is_none());
    }
}
