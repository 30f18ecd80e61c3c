//! Function-settings bundles: the settings one function instance needs
//! (role ARN, external ID and extras), written as `<instance>.json`, mode
//! 0600, atomically (temporary file, fsync, rename) so no reader ever sees a
//! half-written secret.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::external_id::ExternalId;
use crate::model::{DesiredInstance, FunctionKind};

/// Setting holding the role ARN.
pub const ROLE_ARN_SETTING: &str = "iamRoleArn";
/// Setting holding the external ID (sensitive).
pub const EXTERNAL_ID_SETTING: &str = "iamRoleExternalId";
/// Folder bundles go to by default.
pub const DEFAULT_BUNDLE_DIR: &str = "bundles";

/// The settings of one function instance. `Debug` masks the sensitive ones.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Instance name.
    pub instance: String,
    /// Source or destination.
    pub kind: FunctionKind,
    /// Settings by the camel-cased names the function reads.
    pub settings: BTreeMap<String, Value>,
    /// Names of the settings that are secret.
    pub sensitive: Vec<String>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings: BTreeMap<&str, &dyn std::fmt::Debug> = self
            .settings
            .iter()
            .map(|(key, value)| {
                let shown: &dyn std::fmt::Debug = if self.sensitive.contains(key) {
                    &"(sensitive)"
                } else {
                    value
                };
                (key.as_str(), shown)
            })
            .collect();
        formatter
            .debug_struct("Bundle")
            .field("instance", &self.instance)
            .field("kind", &self.kind)
            .field("settings", &settings)
            .field("sensitive", &self.sensitive)
            .finish()
    }
}

/// ARN of a role in an account.
pub(crate) fn role_arn(partition: &str, account: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role{path}{name}")
}

/// The bundle of `instance`, whose role is `role_arn` and accepts `external_id`.
pub(crate) fn build(
    instance: &DesiredInstance,
    role_arn: &str,
    external_id: &ExternalId,
) -> Bundle {
    let mut settings = instance.settings.clone();
    settings.insert(ROLE_ARN_SETTING.into(), Value::String(role_arn.to_string()));
    settings.insert(
        EXTERNAL_ID_SETTING.into(),
        Value::String(external_id.expose().to_string()),
    );
    Bundle {
        instance: instance.name.clone(),
        kind: instance.kind,
        settings,
        sensitive: vec![EXTERNAL_ID_SETTING.into()],
    }
}

/// Where the bundle of `instance` lives in `directory`.
pub(crate) fn path_of(directory: &Path, instance: &str) -> PathBuf {
    directory.join(format!("{instance}.json"))
}

/// Reads a bundle from disk, if there is one.
pub(crate) fn read(directory: &Path, instance: &str) -> std::io::Result<Option<Bundle>> {
    match std::fs::read(path_of(directory, instance)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The external ID a bundle holds.
pub(crate) fn external_id_of(bundle: &Bundle) -> Option<ExternalId> {
    bundle
        .settings
        .get(EXTERNAL_ID_SETTING)
        .and_then(Value::as_str)
        .map(ExternalId::new)
}

/// Writes the bundle atomically with mode 0600; returns its path.
pub(crate) fn write(directory: &Path, bundle: &Bundle) -> std::io::Result<PathBuf> {
    create_private_dir(directory)?;
    let target = path_of(directory, &bundle.instance);
    let mut text = serde_json::to_string_pretty(bundle).map_err(std::io::Error::other)?;
    text.push('\n');
    remove_stale_temporaries(directory, &bundle.instance);
    if held_already(&target, &text) {
        return Ok(target);
    }
    let mut file = temporary_file(directory, &bundle.instance)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(&target)?;
    if let Ok(folder) = std::fs::File::open(directory) {
        let _ = folder.sync_all();
    }
    Ok(target)
}

/// Whether `target` holds `text` already, readable by its owner only: then
/// there is nothing to write (an apply in sync rewrote every bundle, two
/// `fsync`s each, minutes at thousands of roles on a busy disk).
fn held_already(target: &Path, text: &str) -> bool {
    #[cfg(unix)]
    let private = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(target).is_ok_and(|m| m.permissions().mode() & 0o777 == 0o600)
    };
    #[cfg(not(unix))]
    let private = true;
    private && std::fs::read(target).is_ok_and(|held| held == text.as_bytes())
}

/// A new temporary file for the bundle of `instance`, named
/// `.<instance>.json.<random>.tmp`. `tempfile` creates it with mode 0600 on
/// unix, so the secret is never readable by others, and removes it when it
/// is dropped unrenamed; the name is for the one case it cannot: a run
/// killed before the rename, whose file `remove_stale_temporaries` finds.
fn temporary_file(directory: &Path, instance: &str) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&temporary_prefix(instance))
        .suffix(TEMPORARY_SUFFIX)
        .tempfile_in(directory)
}

fn temporary_prefix(instance: &str) -> String {
    format!(".{instance}.json.")
}

const TEMPORARY_SUFFIX: &str = ".tmp";

/// A temporary file older than this was left by a killed run; a live write
/// takes milliseconds, so a concurrent run's file is never this old.
const STALE_TEMPORARY_AGE: std::time::Duration = std::time::Duration::from_secs(5);

/// Temporary files of this bundle left by a run killed between writing and
/// renaming: they hold the secret, so they do not stay.
fn remove_stale_temporaries(directory: &Path, instance: &str) {
    let prefix = temporary_prefix(instance);
    for path in temporaries_in(directory) {
        let named = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with(&prefix));
        let stale = named
            && std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMPORARY_AGE);
        if stale {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The temporary files in `directory` when this process first wrote a
/// bundle there: the folder is listed once per run, not once per bundle
/// (thousands of bundles made that quadratic). Only a killed run's files
/// can be stale, and a killed run came before this one.
fn temporaries_in(directory: &Path) -> Vec<PathBuf> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static LISTED: OnceLock<Mutex<HashMap<PathBuf, Vec<PathBuf>>>> = OnceLock::new();
    let mut listed = LISTED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    listed
        .entry(directory.to_path_buf())
        .or_insert_with(|| {
            let Ok(entries) = std::fs::read_dir(directory) else {
                return Vec::new();
            };
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name().is_some_and(|name| {
                        let name = name.to_string_lossy();
                        name.starts_with('.') && name.ends_with(TEMPORARY_SUFFIX)
                    })
                })
                .collect()
        })
        .clone()
}

#[cfg(unix)]
fn create_private_dir(directory: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if directory.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)
}

#[cfg(not(unix))]
fn create_private_dir(directory: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(directory)
}

/// The external ID of the instance's bundle in `directory`, when there is a
/// readable one: a missing or unreadable bundle only means there is no ID
/// on disk to keep or restore.
pub(crate) fn id_on_disk(directory: &Path, instance: &str) -> Option<ExternalId> {
    read(directory, instance)
        .ok()
        .flatten()
        .and_then(|bundle| external_id_of(&bundle))
}

/// A bundle holding the new ID of a rotation that the trust policy lost by
/// a hand edit: apply puts that ID back from the bundle (a function may
/// already use it), so nothing may overwrite the bundle or end the rotation
/// before then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{instance}: the trust policy no longer accepts the rotation's new external ID, which the bundle holds (a hand edit?); run `fnctl apply` to put it back first")]
pub struct PendingIdLost {
    /// The instance whose bundle must be kept.
    pub instance: String,
}

/// Why `instance`'s bundle in `directory` must be kept as it is, if it must
/// (see [`PendingIdLost`]).
pub(crate) fn lost_pending_refusal(
    role: &crate::model::LiveRole,
    directory: &Path,
    instance: &str,
) -> Option<PendingIdLost> {
    let lost = crate::model::trust::id_state(role).pending_lost?;
    let on_disk = id_on_disk(directory, instance)?;
    (on_disk.fingerprint() == lost).then(|| PendingIdLost {
        instance: instance.to_string(),
    })
}

/// The ID a bundle should carry for a role as it is: the pending one during a
/// rotation, else the recorded current one, else the only one there is.
pub(crate) fn external_id_from_live(role: &crate::model::LiveRole) -> Option<ExternalId> {
    let (current, pending) = crate::model::trust::current_and_pending(role);
    pending.or(current).or_else(|| {
        let ids = role
            .trust_policy
            .valid()
            .map(crate::model::trust::external_ids)
            .unwrap_or_default();
        if ids.len() == 1 {
            ids.into_iter().next()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rotate --finish` and `fnctl bundle` before apply, on a rotation
    /// whose new ID a hand edit removed: refused while the bundle on disk
    /// holds that ID (the only copy a function may already use), not when
    /// it holds another one or there is none.
    #[test]
    fn a_bundle_holding_a_hand_removed_new_id_is_kept() {
        use crate::model::fixtures;
        let (old, new) = (fixtures::external_id('O'), fixtures::external_id('N'));
        let instance = fixtures::instance("alpha");
        let mut role = fixtures::applied_role(&instance, &old);
        role.tags.insert(
            crate::model::tags::ROTATION_PENDING.into(),
            fixtures::fingerprint(&new),
        );
        let directory = tempfile::tempdir().unwrap();
        assert_eq!(lost_pending_refusal(&role, directory.path(), "alpha"), None);
        write(
            directory.path(),
            &build(&instance, &role.arn, &ExternalId::new(new.clone())),
        )
        .unwrap();
        assert_eq!(
            lost_pending_refusal(&role, directory.path(), "alpha"),
            Some(PendingIdLost {
                instance: "alpha".into()
            })
        );
        // Both IDs accepted: nothing was lost.
        role.trust_policy = crate::model::LiveDocument::Valid(fixtures::trust_with(&[&old, &new]));
        assert_eq!(lost_pending_refusal(&role, directory.path(), "alpha"), None);
        // The bundle holds the old ID: nothing of the rotation's to keep.
        role.trust_policy = crate::model::LiveDocument::Valid(fixtures::trust_with(&[&old]));
        write(
            directory.path(),
            &build(&instance, &role.arn, &ExternalId::new(old.clone())),
        )
        .unwrap();
        assert_eq!(lost_pending_refusal(&role, directory.path(), "alpha"), None);
    }

    #[test]
    fn writes_private_file_atomically_and_reads_it_back() {
        let directory = tempfile::tempdir().unwrap();
        let bundle = Bundle {
            instance: "a".into(),
            kind: FunctionKind::Destination,
            settings: BTreeMap::from([(
                EXTERNAL_ID_SETTING.to_string(),
                Value::String("x".repeat(48)),
            )]),
            sensitive: vec![EXTERNAL_ID_SETTING.into()],
        };
        let path = write(directory.path(), &bundle).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(read(directory.path(), "a").unwrap(), Some(bundle.clone()));
        write(directory.path(), &bundle).unwrap();
        let names: Vec<_> = std::fs::read_dir(directory.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            [std::ffi::OsString::from("a.json")],
            "no temporary file is left behind"
        );
    }

    #[test]
    fn a_write_removes_temporaries_of_killed_runs_but_not_of_running_ones() {
        let directory = tempfile::tempdir().unwrap();
        let bundle = Bundle {
            instance: "a".into(),
            kind: FunctionKind::Destination,
            settings: BTreeMap::new(),
            sensitive: Vec::new(),
        };
        // Left as a run killed between creating and renaming leaves them.
        let (killed, killed_path) = temporary_file(directory.path(), "a")
            .unwrap()
            .keep()
            .unwrap();
        let long_ago = std::time::SystemTime::now() - 2 * STALE_TEMPORARY_AGE;
        killed.set_modified(long_ago).unwrap();
        let (_running, running_path) = temporary_file(directory.path(), "a")
            .unwrap()
            .keep()
            .unwrap();
        let (other, other_path) = temporary_file(directory.path(), "b")
            .unwrap()
            .keep()
            .unwrap();
        other.set_modified(long_ago).unwrap();
        write(directory.path(), &bundle).unwrap();
        assert!(!killed_path.exists(), "{} was kept", killed_path.display());
        assert!(
            running_path.exists(),
            "a running write's temporary was removed"
        );
        assert!(
            other_path.exists(),
            "another bundle's temporary was removed"
        );
    }
}
