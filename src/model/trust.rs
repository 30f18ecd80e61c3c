//! The trust-policy rules: the document fnctl writes, which external IDs a
//! live one accepts, why it differs from what fnctl wants, redaction of IDs
//! for display, and the guard every trust write passes.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::model::external_id::ExternalId;
use crate::model::operation::{Operation, SecretDocument, WireOperation};
use crate::model::time::{self, UnreadableTime};
use crate::model::{LiveDocument, LiveRole};

/// Sid of the one statement fnctl's trust policies hold.
pub const TRUST_STATEMENT_SID: &str = "SegmentFunctionAssumeRole";
/// What plan output shows in place of an external ID.
pub const SENSITIVE: &str = "(sensitive)";

/// The trust policy: Segment's account may assume the role only with one of
/// `external_ids` (two while a rotation is in progress).
pub(crate) fn trust_policy(segment_account: &str, external_ids: &[&str]) -> Value {
    let ids: Value = match external_ids {
        [single] => json!(single),
        many => json!(many),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": TRUST_STATEMENT_SID,
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{segment_account}:root") },
            "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "sts:ExternalId": ids } }
        }]
    })
}

const EXTERNAL_ID_KEY: &str = "sts:externalid";

/// The trust policy with every statement's `Sid` set to fnctl's own. A Sid
/// only names a statement: IAM decides the same without it, so a role built
/// by hand (Segment's guide writes none, Terraform its own) compares equal
/// to fnctl's rendering wherever it admits the same, and adoption keeps it.
pub(crate) fn with_fnctl_sids(document: &Value) -> Value {
    let mut document = document.clone();
    let set = |statement: &mut Value| {
        if let Some(fields) = statement.as_object_mut() {
            fields.insert("Sid".into(), json!(TRUST_STATEMENT_SID));
        }
    };
    match document.get_mut("Statement") {
        Some(Value::Array(statements)) => statements.iter_mut().for_each(set),
        Some(statement) => set(statement),
        None => {}
    }
    document
}

/// Whether two trust policies admit the same (their Sids aside).
pub(crate) fn same_meaning(live: &Value, desired: &Value) -> bool {
    crate::policy::normalize::equivalent(&with_fnctl_sids(live), &with_fnctl_sids(desired))
}

fn as_list(value: &Value) -> Vec<&Value> {
    crate::policy::evaluate::list(Some(value))
}

fn statements(document: &Value) -> Vec<&Value> {
    document.get("Statement").map(as_list).unwrap_or_default()
}

fn is_allow(statement: &Value) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
}

/// The trust policy with real IDs, ready to send to IAM.
pub(crate) fn wire_trust(segment_account: &str, external_ids: &[&ExternalId]) -> SecretDocument {
    let ids: Vec<&str> = external_ids.iter().map(|id| id.expose()).collect();
    SecretDocument::new(trust_policy(segment_account, &ids).to_string())
}

/// The external IDs a trust policy accepts: `StringEquals` `sts:ExternalId`
/// values of its Allow statements, in document order, without duplicates.
pub(crate) fn external_ids(document: &Value) -> Vec<ExternalId> {
    let mut found: Vec<ExternalId> = Vec::new();
    for statement in statements(document).into_iter().filter(|s| is_allow(s)) {
        let Some(conditions) = statement.get("Condition").and_then(Value::as_object) else {
            continue;
        };
        for (operator, block) in conditions {
            if operator != "StringEquals" {
                continue;
            }
            let Some(block) = block.as_object() else {
                continue;
            };
            for (key, values) in block {
                if key.to_ascii_lowercase() != EXTERNAL_ID_KEY {
                    continue;
                }
                for value in as_list(values) {
                    if let Some(text) = value.as_str() {
                        if !found.iter().any(|existing| existing.expose() == text) {
                            found.push(ExternalId::new(text));
                        }
                    }
                }
            }
        }
    }
    found
}

/// What a role's trust policy and tags say about its external IDs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdState {
    /// Every ID the trust policy accepts.
    pub ids: Vec<ExternalId>,
    /// The ID `fnctl:external-id` records as current, when the trust holds it.
    pub recorded: Option<ExternalId>,
    /// The new ID of a rotation in progress, when there is one.
    pub pending: Option<ExternalId>,
    /// The fingerprint in `fnctl:external-id` when the trust policy no longer
    /// accepts that ID: removed or replaced by hand, or a `rotate --finish`
    /// interrupted between its trust update and its tags.
    pub recorded_lost: Option<String>,
    /// The fingerprint in `fnctl:rotation-pending` when the trust policy no
    /// longer accepts that ID (and it is not the recorded one): removed or
    /// replaced by hand after `rotate --start`, a `--start` interrupted
    /// before its trust update, or the loser of two racing starts. Only a
    /// bundle on disk can tell these apart (it holds the ID when `--start`
    /// completed), so the planner decides, not this reading.
    pub pending_lost: Option<String>,
}

/// Reads the external-ID state of a role. The pending ID is the one
/// `fnctl:rotation-pending` names; when two runs raced and the tag names the
/// loser's ID while the trust policy holds the winner's, the pending ID is
/// the one beside the recorded current (a rotation is still in progress).
pub(crate) fn id_state(role: &crate::model::LiveRole) -> IdState {
    let ids = role
        .trust_policy
        .valid()
        .map(external_ids)
        .unwrap_or_default();
    let by_tag = |key: &str| {
        role.tags
            .get(key)
            .and_then(|fingerprint| ids.iter().find(|id| id.fingerprint() == *fingerprint))
            .cloned()
    };
    let lost = |key: &str| {
        role.tags
            .get(key)
            .filter(|fingerprint| !ids.iter().any(|id| id.fingerprint() == **fingerprint))
            .cloned()
    };
    let recorded = by_tag(crate::model::tags::EXTERNAL_ID);
    let recorded_lost = lost(crate::model::tags::EXTERNAL_ID);
    let pending_lost = lost(crate::model::tags::ROTATION_PENDING)
        .filter(|fingerprint| role.tags.get(crate::model::tags::EXTERNAL_ID) != Some(fingerprint));
    let tagged =
        by_tag(crate::model::tags::ROTATION_PENDING).filter(|p| Some(p) != recorded.as_ref());
    let others: Vec<&ExternalId> = ids
        .iter()
        .filter(|id| Some(*id) != recorded.as_ref())
        .collect();
    // A pending tag naming the recorded ID is a finish under way (it records
    // the new ID before dropping the old one), not a rotation to guess at.
    let pending_tag = role
        .tags
        .get(crate::model::tags::ROTATION_PENDING)
        .filter(|pending| role.tags.get(crate::model::tags::EXTERNAL_ID) != Some(*pending));
    let pending =
        tagged.or_else(
            || match (pending_tag.is_some(), recorded.is_some(), others.as_slice()) {
                (true, true, [other]) => Some((*other).clone()),
                _ => None,
            },
        );
    IdState {
        ids,
        recorded,
        pending,
        recorded_lost,
        pending_lost,
    }
}

/// AWS principals of the Allow statements, as written (`*` for a wildcard).
pub(crate) fn principals(document: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for statement in statements(document).into_iter().filter(|s| is_allow(s)) {
        match statement.get("Principal") {
            Some(Value::String(text)) => {
                found.insert(text.clone());
            }
            Some(Value::Object(map)) => {
                for (kind, values) in map {
                    for value in as_list(values) {
                        let text = value.as_str().unwrap_or("?");
                        found.insert(if kind == "AWS" {
                            text.to_string()
                        } else {
                            format!("{kind}:{text}")
                        });
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// The principal a bare account id or root ARN stands for, as a root ARN.
pub(crate) fn root_principal(principal: &str) -> String {
    crate::policy::normalize::account_root_arn(principal.to_string())
}

/// Why the live trust policy is not the desired one, in one line and without secrets.
pub(crate) fn describe_difference(live: &LiveDocument, desired: &Value) -> String {
    let live = match live {
        // The parse error is not shown: its excerpt could hold an external ID.
        LiveDocument::Invalid(_) => return "trust policy is not a valid policy document".into(),
        LiveDocument::Valid(value) => value,
    };
    let desired_principals: BTreeSet<String> = principals(desired)
        .iter()
        .map(|p| root_principal(p))
        .collect();
    let live_principals: BTreeSet<String> =
        principals(live).iter().map(|p| root_principal(p)).collect();
    let extra: Vec<&String> = live_principals.difference(&desired_principals).collect();
    if !extra.is_empty() {
        let names: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
        return format!(
            "trust policy admits another principal ({}), added out of band",
            names.join(", ")
        );
    }
    if !live_principals.is_superset(&desired_principals) {
        return "trust policy no longer admits Segment's account".into();
    }
    let live_ids = external_ids(live);
    if live_ids.is_empty() {
        return "trust policy: external ID condition removed out of band".into();
    }
    let desired_ids = external_ids(desired);
    if live_ids.len() > desired_ids.len() {
        return "trust policy accepts an external ID fnctl did not issue".into();
    }
    if live_ids != desired_ids && !desired_ids.iter().all(|id| id.expose() == SENSITIVE) {
        return "trust policy: external ID condition changed out of band".into();
    }
    if statements(live).len() != 1 {
        return format!(
            "trust policy has {} statements; fnctl keeps exactly one",
            statements(live).len()
        );
    }
    "trust policy differs from the manifest".into()
}

/// A copy of a policy document with every `sts:ExternalId` value replaced by
/// `(sensitive)`, for plan output.
pub(crate) fn redact(document: &Value) -> Value {
    redact_with(document, &|_| SENSITIVE.to_string())
}

/// Like [`redact`], with the placeholder of each ID chosen by `label` (which
/// sees the secret but must not return it): plans mark IDs that apply will
/// remove, so a diff shows which one goes without showing any.
pub(crate) fn redact_with(document: &Value, label: &dyn Fn(&str) -> String) -> Value {
    fn walk(value: &Value, under_external_id: bool, label: &dyn Fn(&str) -> String) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, inner)| {
                        (
                            key.clone(),
                            walk(
                                inner,
                                under_external_id || key.to_ascii_lowercase() == EXTERNAL_ID_KEY,
                                label,
                            ),
                        )
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| walk(item, under_external_id, label))
                    .collect(),
            ),
            Value::String(text) if under_external_id => Value::String(label(text)),
            _ if under_external_id => Value::String(SENSITIVE.into()),
            other => other.clone(),
        }
    }
    walk(document, false, label)
}

/// The last line of defence before a trust policy leaves fnctl: it must be
/// exactly the one statement fnctl owns, admitting only `segment_account`,
/// only with an external ID. Anything else is refused, whatever produced it.
pub(crate) fn guard_trust(operation: &WireOperation, segment_account: &str) -> Result<(), String> {
    let (Operation::CreateRole { trust_policy, .. }
    | Operation::UpdateTrustPolicy { trust_policy, .. }) = operation
    else {
        return Ok(());
    };
    let refuse = |why: &str| Err(format!("refusing to write a trust policy that {why}"));
    let Ok(document) = serde_json::from_str::<serde_json::Value>(trust_policy.expose()) else {
        return refuse("is not JSON");
    };
    let statements = document
        .get("Statement")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default();
    let [statement] = statements.as_slice() else {
        return refuse("does not have exactly one statement");
    };
    let principals = principals(&document);
    let expected = format!("arn:aws:iam::{segment_account}:root");
    if principals.len() != 1 || !principals.contains(&expected) {
        return refuse(&format!(
            "admits anything but Segment's account {segment_account}"
        ));
    }
    if statement.get("Effect").and_then(|e| e.as_str()) != Some("Allow")
        || statement.get("Action").and_then(|a| a.as_str()) != Some("sts:AssumeRole")
    {
        return refuse("is not an Allow of sts:AssumeRole");
    }
    let ids = external_ids(&document);
    let conditions = statement
        .get("Condition")
        .and_then(|c| c.as_object())
        .map_or(0, |c| c.len());
    if ids.is_empty()
        || ids.len() > 2
        || conditions != 1
        || !ids
            .iter()
            .all(|id| crate::model::external_id::is_acceptable(id.expose()))
    {
        return refuse("does not require one or two valid external IDs");
    }
    Ok(())
}

/// The role's recorded current external ID and, during a rotation, the
/// pending one (inferred when racing runs left the pending tag naming an ID
/// the trust policy does not hold).
pub(crate) fn current_and_pending(role: &LiveRole) -> (Option<ExternalId>, Option<ExternalId>) {
    let state = id_state(role);
    (state.recorded, state.pending)
}

/// Whether a rotation is in progress on the role.
pub(crate) fn in_progress(role: &LiveRole) -> bool {
    id_state(role).pending.is_some()
}

/// Whether the role's external ID is older than `rotate_after_days` at
/// `now`: `Ok(false)` without a rotation policy or a creation tag (nothing
/// to age). A creation tag that holds no time is an error, never a silent
/// "not due": the caller cannot tell and says so (`plan` a warning notice,
/// `drift` a finding, `rotate --due` a failure of that instance), all with
/// the code `unreadable-tag-time`.
pub(crate) fn is_due(
    role: &LiveRole,
    rotate_after_days: Option<u32>,
    now: SystemTime,
) -> Result<bool, UnreadableTime> {
    let (Some(days), Some(created)) = (
        rotate_after_days,
        role.tags.get(crate::model::tags::EXTERNAL_ID_CREATED),
    ) else {
        return Ok(false);
    };
    let created = time::from_tag(crate::model::tags::EXTERNAL_ID_CREATED, created)?;
    Ok(now
        .duration_since(created)
        .is_ok_and(|age| age >= Duration::from_secs(u64::from(days) * 86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trust::trust_policy;
    use serde_json::json;

    #[test]
    fn finds_ids_in_string_equals_only() {
        let document = trust_policy("458175278816", &["first", "second"]);
        assert_eq!(external_ids(&document), ["first", "second"]);
        let like = json!({"Statement": {"Effect": "Allow", "Condition": {"StringLike": {"sts:ExternalId": "x*"}}}});
        assert!(external_ids(&like).is_empty());
        let case = json!({"Statement": [{"Effect": "Allow", "Condition": {"StringEquals": {"STS:EXTERNALID": "abc"}}}]});
        assert_eq!(external_ids(&case), ["abc"]);
    }

    #[test]
    fn redaction_hides_every_id() {
        let document = trust_policy("458175278816", &["secret-one", "secret-two"]);
        let text = redact(&document).to_string();
        assert!(!text.contains("secret"));
        assert!(text.contains(SENSITIVE));
    }

    #[test]
    fn describes_broadening_and_removal() {
        let desired = trust_policy("458175278816", &["id"]);
        let mut broadened = desired.clone();
        broadened["Statement"][0]["Principal"]["AWS"] = json!([
            "arn:aws:iam::458175278816:root",
            "arn:aws:iam::111122223333:root"
        ]);
        assert!(
            describe_difference(&LiveDocument::Valid(broadened), &desired).contains("111122223333")
        );
        let mut removed = desired.clone();
        removed["Statement"][0]
            .as_object_mut()
            .unwrap()
            .remove("Condition");
        assert!(describe_difference(&LiveDocument::Valid(removed), &desired)
            .contains("external ID condition removed"));
        let bare = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "458175278816"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "other"}}}]});
        assert!(describe_difference(&LiveDocument::Valid(bare), &desired)
            .contains("changed out of band"));
    }

    #[test]
    fn sids_do_not_change_what_a_trust_policy_means() {
        let desired = trust_policy("458175278816", &["id"]);
        let mut guide = desired.clone();
        guide["Statement"][0].as_object_mut().unwrap().remove("Sid");
        let mut terraform = desired.clone();
        terraform["Statement"][0]["Sid"] = json!("AllowSegment");
        assert!(same_meaning(&guide, &desired));
        assert!(same_meaning(&terraform, &desired));
        let mut other_id = guide.clone();
        other_id["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = json!("other");
        assert!(!same_meaning(&other_id, &desired));
    }

    #[test]
    fn trust_policy_with_one_id() {
        let text =
            serde_json::to_string_pretty(&trust_policy("458175278816", &[SENSITIVE])).unwrap();
        insta::assert_snapshot!(text);
    }

    #[test]
    fn trust_policy_during_rotation_lists_both_ids() {
        let policy = trust_policy("300240842537", &["old", "new"]);
        assert_eq!(
            policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
            json!(["old", "new"])
        );
    }

    fn update(trust: &serde_json::Value) -> WireOperation {
        Operation::UpdateTrustPolicy {
            role: "r".into(),
            trust_policy: SecretDocument::new(trust.to_string()),
        }
    }

    const ID: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl";

    #[test]
    fn the_guard_passes_what_fnctl_renders() {
        assert!(guard_trust(
            &update(&trust_policy("458175278816", &[ID])),
            "458175278816"
        )
        .is_ok());
        assert!(guard_trust(
            &update(&trust_policy("458175278816", &[ID, "second-id-12345"])),
            "458175278816"
        )
        .is_ok());
    }

    #[test]
    fn the_guard_refuses_strangers_missing_ids_and_extra_statements() {
        let other_account = trust_policy("111122223333", &[ID]);
        assert!(guard_trust(&update(&other_account), "458175278816")
            .unwrap_err()
            .contains("admits anything but"));
        let mut two_principals = trust_policy("458175278816", &[ID]);
        two_principals["Statement"][0]["Principal"]["AWS"] =
            serde_json::json!(["arn:aws:iam::458175278816:root", "*"]);
        assert!(guard_trust(&update(&two_principals), "458175278816").is_err());
        let mut no_condition = trust_policy("458175278816", &[ID]);
        no_condition["Statement"][0]
            .as_object_mut()
            .unwrap()
            .remove("Condition");
        assert!(guard_trust(&update(&no_condition), "458175278816")
            .unwrap_err()
            .contains("external ID"));
        let three_ids = trust_policy("458175278816", &[ID, "b-second-id", "c-third-id"]);
        assert!(guard_trust(&update(&three_ids), "458175278816").is_err());
        let mut extra = trust_policy("458175278816", &[ID]);
        let statement = extra["Statement"][0].clone();
        extra["Statement"].as_array_mut().unwrap().push(statement);
        assert!(guard_trust(&update(&extra), "458175278816").is_err());
        let bad_id = trust_policy("458175278816", &["has space"]);
        assert!(guard_trust(&update(&bad_id), "458175278816").is_err());
    }
}
