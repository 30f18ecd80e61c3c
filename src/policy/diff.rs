//! Line diffs of policy documents for plans: what a reader needs to see to
//! approve a change, computed on the canonical form so that rewrites IAM
//! considers no change never show up.

use serde_json::Value;
use similar::TextDiff;

use super::normalize::{equivalent, pretty};

/// Lines of unchanged context around each change.
const CONTEXT_LINES: usize = 3;

/// A unified diff from the live document to the desired one, both
/// normalized and pretty-printed, with headers `live` and `desired`. `None`
/// stands for a document that does not exist (a role or policy to create or
/// delete), shown as empty. Returns an empty string when the documents are
/// equivalent.
///
/// The documents are printed as given: the caller must redact secrets such
/// as external IDs (replacing them with `(sensitive)`) before calling.
pub(crate) fn document_diff(live: Option<&Value>, desired: Option<&Value>) -> String {
    let unchanged = match (live, desired) {
        (Some(live), Some(desired)) => equivalent(live, desired),
        (None, None) => true,
        _ => false,
    };
    if unchanged {
        return String::new();
    }
    let live_text = printed(live);
    let desired_text = printed(desired);
    TextDiff::from_lines(&live_text, &desired_text)
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header("live", "desired")
        .to_string()
}

/// The pretty form with a final newline, so the diff never carries a
/// "no newline at end of file" marker.
fn printed(document: Option<&Value>) -> String {
    document.map_or_else(String::new, |document| {
        restore_spelling(&pretty(document), document) + "\n"
    })
}

/// The canonical form lowercases action names and condition keys (IAM
/// compares them case-insensitively); a reader should see them as written
/// (`sts:AssumeRole`, not `sts:assumerole`), so the original spelling of
/// every string in the document is put back into the printed text.
fn restore_spelling(text: &str, original: &Value) -> String {
    fn collect(value: &Value, spellings: &mut std::collections::BTreeMap<String, String>) {
        match value {
            Value::String(text) => {
                let lowered = text.to_ascii_lowercase();
                if lowered != *text {
                    spellings.entry(lowered).or_insert_with(|| text.clone());
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, spellings)),
            Value::Object(map) => map.iter().for_each(|(key, item)| {
                collect(&Value::String(key.clone()), spellings);
                collect(item, spellings);
            }),
            _ => {}
        }
    }
    let mut spellings = std::collections::BTreeMap::new();
    collect(original, &mut spellings);
    let mut restored = text.to_string();
    for (lowered, written) in spellings {
        restored = restored.replace(&format!("\"{lowered}\""), &format!("\"{written}\""));
    }
    restored
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trust_policy(external_ids: Value) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "SegmentFunctionAssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": "458175278816"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_ids}}
            }]
        })
    }

    #[test]
    fn equivalent_documents_have_no_diff() {
        let live = json!({
            "Statement": {
                "Condition": {"StringEquals": {"STS:EXTERNALID": ["(sensitive)"]}},
                "Action": ["STS:ASSUMEROLE"],
                "Principal": {"AWS": "arn:aws:iam::458175278816:root"},
                "Effect": "Allow",
                "Sid": "SegmentFunctionAssumeRole"
            },
            "Version": "2012-10-17"
        });
        assert_eq!(
            document_diff(Some(&live), Some(&trust_policy(json!("(sensitive)")))),
            ""
        );
        assert_eq!(document_diff(None, None), "");
    }

    #[test]
    fn rotation_start_adds_a_second_external_id() {
        let live = trust_policy(json!("(sensitive)"));
        let desired = trust_policy(json!(["(sensitive)", "(sensitive, new)"]));
        insta::assert_snapshot!(document_diff(Some(&live), Some(&desired)));
    }

    #[test]
    fn a_new_document_is_all_additions() {
        let desired = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}});
        insta::assert_snapshot!(document_diff(None, Some(&desired)));
    }

    #[test]
    fn a_removed_document_is_all_deletions() {
        let live = json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}});
        insta::assert_snapshot!(document_diff(Some(&live), None));
    }

    proptest::proptest! {
        #[test]
        fn a_document_has_no_diff_with_itself(account in "[0-9]{12}", values in proptest::collection::vec("[a-z]{1,4}", 1..4)) {
            let document = json!({"Statement": {"Principal": {"AWS": account}, "Condition": {"StringEquals": {"k": values}}}});
            proptest::prop_assert_eq!(document_diff(Some(&document), Some(&document)), "");
        }
    }
}
