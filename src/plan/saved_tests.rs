//! Saved plans on disk: what is written reads back the same, and a file that
//! is damaged, edited, of another format or not a plan at all is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::planner::{live_fingerprint, plan, BundledIds, PlanOptions};
use super::saved::{SavedAccount, SavedPlan, KIND};
use crate::model::fixtures::{self, applied_role, external_id, instance};
use crate::model::FORMAT_VERSION;

/// A saved plan of one account: one role to create, one whose lost ID is
/// restored from its bundle (so the plan refers to an ID by fingerprint).
fn saved() -> SavedPlan {
    let instances = vec![instance("alpha"), instance("beta")];
    let mut beta = applied_role(&instances[1], &external_id('B'));
    beta.trust_policy =
        crate::model::LiveDocument::Valid(fixtures::trust_with(&[&external_id('Z')]));
    let options = PlanOptions {
        adopt: false,
        prune: false,
        now: fixtures::now(),
        bundled_ids: BundledIds(vec![crate::model::external_id::ExternalId::new(
            external_id('B'),
        )]),
    };
    let planned = plan(
        fixtures::ACCOUNT,
        &instances,
        std::slice::from_ref(&beta),
        &options,
    );
    assert_eq!(planned.changes.len(), 2, "{planned:#?}");
    let fingerprints = BTreeMap::from([
        ("fn-alpha".to_string(), live_fingerprint(None)),
        ("fn-beta".to_string(), live_fingerprint(Some(&beta))),
    ]);
    SavedPlan::new(
        fixtures::NOW.into(),
        vec![SavedAccount {
            account: fixtures::ACCOUNT.into(),
            assume_role: None,
            instances,
            fingerprints,
            plan: planned,
        }],
    )
}

fn written(directory: &Path, plan: &SavedPlan) -> PathBuf {
    let path = directory.join("plan.json");
    plan.write(&path).expect("writing the plan");
    path
}

/// The plan names roles and accounts: mode 0600 on unix.
fn assert_only_its_owner_can_read(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// Rewrites the file's text with `edit`.
fn edit_text(path: &Path, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).expect("reading the plan");
    std::fs::write(path, edit(text)).expect("writing the plan");
}

fn refusal(path: &Path) -> String {
    match SavedPlan::read(path) {
        Ok(_) => panic!("the plan was accepted"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn a_saved_plan_reads_back_as_written_and_only_its_owner_can_read_it() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let plan = saved();
    let path = written(directory.path(), &plan);
    assert_eq!(SavedPlan::read(&path).expect("reads back"), plan);
    assert_eq!(
        (plan.kind.as_str(), plan.format_version.as_str()),
        (KIND, FORMAT_VERSION)
    );
    assert_only_its_owner_can_read(&path);
}

#[test]
fn a_saved_plan_holds_external_ids_only_by_fingerprint() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = written(directory.path(), &saved());
    let text = std::fs::read_to_string(path).expect("reading the plan");
    for seed in ['B', 'Z'] {
        assert!(
            !text.contains(&external_id(seed)),
            "ID {seed} is in the plan"
        );
    }
    assert!(text.contains(&fixtures::fingerprint(&external_id('B'))));
}

#[test]
fn an_edited_plan_is_refused_by_its_checksum() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = written(directory.path(), &saved());
    edit_text(&path, |text| text.replace("fn-alpha", "fn-mallory"));
    let error = refusal(&path);
    assert!(error.contains("checksum mismatch"), "{error}");
}

/// The plan with `format_version` set and its checksum recomputed, as
/// anyone can (the checksum has no key).
fn resigned(mut plan: SavedPlan, format_version: &str) -> SavedPlan {
    use sha2::{Digest, Sha256};
    plan.format_version = format_version.into();
    plan.checksum = String::new();
    let text = serde_json::to_string(&plan).expect("serializes");
    plan.checksum = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    plan
}

#[test]
fn a_plan_of_another_format_version_is_refused_even_with_a_valid_checksum() {
    let directory = tempfile::tempdir().expect("temporary directory");
    // Re-signing as this test does yields a plan fnctl accepts…
    let path = written(directory.path(), &resigned(saved(), FORMAT_VERSION));
    assert!(SavedPlan::read(&path).is_ok());
    // …so only the version can be what is refused here.
    let path = written(directory.path(), &resigned(saved(), "2"));
    let error = refusal(&path);
    assert!(
        error.contains("plan format 2, this fnctl reads 1"),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_a_saved_plan_is_refused() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = written(directory.path(), &saved());
    edit_text(&path, |text| text.replacen(KIND, "terraform-plan", 1));
    assert!(refusal(&path).contains("kind `terraform-plan`"));
    std::fs::write(&path, "not json").expect("writing");
    assert!(refusal(&path).contains("is not an fnctl saved plan"));
    let missing = directory.path().join("missing.json");
    assert!(refusal(&missing).contains("cannot read plan file"));
}

#[test]
fn a_new_plan_replaces_the_old_file_whole_and_private() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("plan.json");
    std::fs::write(&path, "the old plan\n").expect("an old plan");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .expect("chmod the old plan");
    }
    // A reader that opened the old file keeps reading the old file: the new
    // plan arrives by rename, never by rewriting the file in place.
    let mut reader = std::fs::File::open(&path).expect("opening the old plan");
    let plan = saved();
    plan.write(&path).expect("writing the plan");
    let mut old = String::new();
    std::io::Read::read_to_string(&mut reader, &mut old).expect("reading the old plan");
    assert!(
        old == "the old plan\n",
        "a reader of the old file saw it rewritten in place ({} bytes)",
        old.len()
    );
    assert_eq!(SavedPlan::read(&path).expect("reads back"), plan);
    assert_only_its_owner_can_read(&path);
    let names: Vec<_> = std::fs::read_dir(directory.path())
        .expect("listing the folder")
        .map(|entry| entry.expect("an entry").file_name())
        .collect();
    assert_eq!(
        names,
        [std::ffi::OsString::from("plan.json")],
        "no temporary file is left behind"
    );
}

#[test]
fn a_plan_in_a_missing_folder_is_an_error_naming_the_file() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("missing").join("plan.json");
    let error = saved().write(&path).expect_err("no folder to write in");
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot write plan file {}: ", path.display())),
        "{error}"
    );
}
