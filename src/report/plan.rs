//! Plans for people and machines: Terraform-style text with semantic diffs,
//! JSON with a `format_version`, and Markdown for pull-request comments.
//! Documents in a plan are already redacted; this module adds no secret.

use serde_json::{json, Value};

use crate::model::codes::NoticeCode;
use crate::model::operation::Operation;
use crate::plan::{Action, NoticeLevel, Plan, RoleChange, Step};
use crate::policy::document_diff;
use crate::report::style::{paint, Color};

use crate::model::trust::SENSITIVE;
use crate::model::FORMAT_VERSION;
use crate::plan::segment::SegmentChange;

fn action_words(action: Action) -> (&'static str, &'static str, Color) {
    match action {
        Action::Create => ("+", "will be created", Color::Green),
        Action::Update => ("~", "will be updated in place", Color::Yellow),
        Action::Adopt => ("~", "will be adopted (fnctl takes it over)", Color::Yellow),
        Action::Delete => ("-", "will be deleted", Color::Red),
    }
}

fn step_symbol<T>(operation: &Operation<T>) -> &'static str {
    match operation {
        Operation::CreateRole { .. }
        | Operation::AttachManagedPolicy { .. }
        | Operation::TagRole { .. } => "+",
        Operation::DeleteInlinePolicy { .. }
        | Operation::DetachManagedPolicy { .. }
        | Operation::UntagRole { .. }
        | Operation::DeletePermissionsBoundary { .. }
        | Operation::DeleteRole { .. } => "-",
        _ => "~",
    }
}

fn step_title(step: &Step) -> String {
    match &step.operation {
        Operation::CreateRole { path, .. } => format!("create role at path {path}"),
        Operation::UpdateTrustPolicy { .. } => "trust policy".into(),
        Operation::UpdateRole {
            description: _,
            max_session_duration,
            ..
        } => format!("description / max session duration ({max_session_duration}s)"),
        Operation::PutInlinePolicy { policy_name, .. } => format!("inline policy {policy_name}"),
        Operation::DeleteInlinePolicy { policy_name, .. } => format!("inline policy {policy_name}"),
        Operation::AttachManagedPolicy { policy_arn, .. } => format!("attach {policy_arn}"),
        Operation::DetachManagedPolicy { policy_arn, .. } => format!("detach {policy_arn}"),
        Operation::PutPermissionsBoundary { policy_arn, .. } => {
            format!("permissions boundary {policy_arn}")
        }
        Operation::DeletePermissionsBoundary { .. } => "permissions boundary".into(),
        Operation::TagRole { tags, .. } => format!(
            "tags {}",
            tags.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Operation::UntagRole { keys, .. } => format!("untag {}", keys.join(", ")),
        Operation::DeleteRole { .. } => "delete role".into(),
    }
}

/// " [drift]" / " [pending]": whether IAM or the manifest moved since the last apply.
fn cause_label(step: &Step) -> &'static str {
    match step.cause {
        Some(crate::model::digest::Cause::Drift) => " [drift: changed in IAM out of band]",
        Some(crate::model::digest::Cause::Pending) => {
            " [pending: manifest changed since the last apply]"
        }
        Some(crate::model::digest::Cause::DriftAndPending) => {
            " [drift and pending manifest change]"
        }
        Some(crate::model::digest::Cause::Unknown) | None => "",
    }
}

fn change_heading(change: &RoleChange) -> String {
    let (_, words, _) = action_words(change.action);
    match &change.instance {
        Some(instance) => format!(
            "role {} (instance {instance}, account {}) {words}",
            change.role, change.account
        ),
        None => format!("role {} (account {}) {words}", change.role, change.account),
    }
}

/// The plan as text for a terminal or a log.
pub(crate) fn text(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    for change in &plan.changes {
        let (symbol, _, tint) = action_words(change.action);
        out.push_str(&paint(
            &format!("{symbol} {}", change_heading(change)),
            tint,
            color,
        ));
        out.push('\n');
        for step in &change.steps {
            let symbol = step_symbol(&step.operation);
            out.push_str(&format!("    {symbol} {}\n", step_title(step)));
            out.push_str(&format!(
                "        because: {}{}\n",
                step.reason,
                cause_label(step)
            ));
            if let Some(document) = &step.document {
                let diff = document_diff(document.live.as_ref(), document.desired.as_ref());
                for line in diff.lines() {
                    let tint = if line.starts_with('+') && !line.starts_with("+++") {
                        Some(Color::Green)
                    } else if line.starts_with('-') && !line.starts_with("---") {
                        Some(Color::Red)
                    } else {
                        None
                    };
                    let line = format!("        {line}");
                    out.push_str(&match tint {
                        Some(tint) => paint(&line, tint, color),
                        None => line,
                    });
                    out.push('\n');
                }
            }
        }
        out.push('\n');
    }
    for push in &plan.segment {
        out.push_str(&paint(
            &format!("~ {}", segment_heading(push)),
            Color::Yellow,
            color,
        ));
        out.push('\n');
        for line in segment_lines(push) {
            out.push_str(&format!("    {line}\n"));
        }
        out.push_str(&format!("        because: {}\n\n", push.reason));
    }
    for notice in plan.notices.iter().map(super::notice::text) {
        let (label, tint) = match notice.level {
            NoticeLevel::Conflict => ("conflict", Color::Red),
            NoticeLevel::Warning => ("warning", Color::Yellow),
            NoticeLevel::Info => ("info", Color::Bold),
        };
        out.push_str(&paint(
            &format!(
                "{label}[{}]: role {}{}: {}",
                notice.code,
                notice.role,
                notice
                    .instance
                    .as_deref()
                    .map(|i| format!(" (instance {i})"))
                    .unwrap_or_default(),
                notice.message
            ),
            tint,
            color,
        ));
        out.push('\n');
        if let Some(hint) = &notice.hint {
            out.push_str(&format!("  = hint: {hint}\n"));
        }
    }
    if !plan.notices.is_empty() {
        out.push('\n');
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

pub(crate) fn segment_heading(push: &SegmentChange) -> String {
    format!(
        "Segment {} (instance {}) settings updated",
        push.target.path(),
        push.instance
    )
}

/// One line per setting: `~ key: live -> desired` (the ID only as `(sensitive)`).
pub(crate) fn segment_lines(push: &SegmentChange) -> Vec<String> {
    push.settings
        .iter()
        .map(|setting| {
            let shown = |value: &Value| match value {
                Value::String(text) if text.starts_with(SENSITIVE) => text.clone(),
                other => other.to_string(),
            };
            match &setting.live {
                Some(live) => format!(
                    "~ {}: {} -> {}",
                    setting.key,
                    shown(live),
                    shown(&setting.desired)
                ),
                None => format!("+ {}: {}", setting.key, shown(&setting.desired)),
            }
        })
        .collect()
}

/// "Plan: 2 to create, 1 to update, 0 to delete." or the no-change line,
/// which names Segment too when the plan read Segment's settings; Segment
/// pushes are counted when there are any.
pub(crate) fn summary_line(plan: &Plan) -> String {
    let (create, update, delete) = plan.counts();
    let pushes = match plan.segment.len() {
        0 => String::new(),
        count => format!(" {count} Segment instance(s) to update."),
    };
    if plan.is_empty() {
        let roles = plan.unchanged.len();
        match segment_in_sync(plan) {
            0 => format!("No changes. IAM matches the manifests ({roles} role(s) checked)."),
            segment => format!(
                "No changes. IAM and Segment match the manifests ({roles} role(s) and {segment} Segment instance(s) checked)."
            ),
        }
    } else {
        format!("Plan: {create} to create, {update} to update, {delete} to delete.{pushes}")
    }
}

/// The Segment instances the plan read and found holding what the manifests
/// want: one Segment does not have is a warning of its own, not a match.
fn segment_in_sync(plan: &Plan) -> usize {
    let missing = plan
        .notices
        .iter()
        .filter(|notice| notice.code() == NoticeCode::SegmentInstanceMissing)
        .count();
    plan.segment_fingerprints.len().saturating_sub(missing)
}

/// The plan as JSON for scripts: no secret, only references.
pub(crate) fn json(plan: &Plan) -> Value {
    let (create, update, delete) = plan.counts();
    json!({
        "format_version": FORMAT_VERSION,
        "summary": { "create": create, "update": update, "delete": delete, "unchanged": plan.unchanged.len(), "conflicts": plan.notices.iter().filter(|n| n.level() == NoticeLevel::Conflict).count(), "segment": plan.segment.len() },
        "changes": plan.changes.iter().map(|change| json!({
            "instance": change.instance,
            "role": change.role,
            "account": change.account,
            "action": change.action,
            "reasons": change.steps.iter().map(|s| s.reason.clone()).collect::<Vec<_>>(),
            "steps": change.steps,
        })).collect::<Vec<_>>(),
        "segment": plan.segment,
        "notices": plan.notices,
        "unchanged": plan.unchanged,
    })
}

/// Largest Markdown report: GitHub comments hold 65,536 characters.
pub const MARKDOWN_LIMIT: usize = 60_000;

/// The plan as Markdown for a pull-request comment: a summary table, then
/// details per role, cut short (and saying how many) to stay under the limit.
pub(crate) fn markdown(plan: &Plan) -> String {
    let mut out = String::from("### fnctl plan\n\n");
    out.push_str(&format!("**{}**\n\n", summary_line(plan)));
    if !plan.changes.is_empty() {
        out.push_str("| action | role | instance | account | changes |\n|---|---|---|---|---|\n");
    }
    let mut table = String::new();
    let mut details = String::new();
    let mut omitted = 0;
    for change in &plan.changes {
        let (_, words, _) = action_words(change.action);
        let row = format!(
            "| {} | `{}` | {} | {} | {} |\n",
            change.action.as_str(),
            change.role,
            change.instance.as_deref().unwrap_or("-"),
            change.account,
            change.steps.len()
        );
        let mut block = format!(
            "<details><summary><code>{}</code>: {}</summary>\n\n",
            change.role, words
        );
        for step in &change.steps {
            block.push_str(&format!("- {} — {}\n", step_title(step), step.reason));
            if let Some(document) = &step.document {
                let diff = document_diff(document.live.as_ref(), document.desired.as_ref());
                if !diff.is_empty() {
                    block.push_str(&format!("\n```diff\n{diff}```\n"));
                }
            }
        }
        block.push_str("\n</details>\n");
        if out.len() + table.len() + details.len() + row.len() + block.len() + 400 > MARKDOWN_LIMIT
        {
            omitted += 1;
            continue;
        }
        table.push_str(&row);
        details.push_str(&block);
    }
    out.push_str(&table);
    out.push('\n');
    out.push_str(&details);
    if omitted > 0 {
        out.push_str(&format!("\n_{omitted} more role change(s) left out to fit a comment; run `fnctl plan` for all of them._\n"));
    }
    for push in &plan.segment {
        out.push_str(&format!(
            "\n<details><summary>{}</summary>\n\n```\n{}\n```\n{}\n</details>\n",
            segment_heading(push),
            segment_lines(push).join("\n"),
            push.reason
        ));
    }
    for notice in plan.notices.iter().map(super::notice::text) {
        out.push_str(&format!(
            "\n- **{:?}** `{}`: {}",
            notice.level, notice.code, notice.message
        ));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ExternalIdRef, TrustSpec};

    fn change(index: usize) -> RoleChange {
        let trust = TrustSpec {
            segment_account: "458175278816".into(),
            external_ids: vec![ExternalIdRef::Generate],
        };
        RoleChange {
            instance: Some(format!("instance-{index}")),
            role: format!("segment-fn-instance-{index}"),
            account: "123456789012".into(),
            action: Action::Update,
            steps: vec![Step {
                operation: Operation::UpdateTrustPolicy { role: format!("segment-fn-instance-{index}"), trust_policy: trust.clone() },
                reason: "trust policy admits another principal (arn:aws:iam::111122223333:root), added out of band".into(),
                document: Some(crate::plan::DocumentChange { live: None, desired: Some(trust.redacted_document()) }),
                cause: None,
            }],
            live_fingerprint: "x".into(),
        }
    }

    #[test]
    fn markdown_for_a_thousand_changes_fits_a_comment_and_says_what_it_left_out() {
        let plan = Plan {
            changes: (0..1000).map(change).collect(),
            notices: Vec::new(),
            unchanged: Vec::new(),
            ..Plan::default()
        };
        let text = markdown(&plan);
        assert!(text.len() < MARKDOWN_LIMIT, "{} characters", text.len());
        assert!(text.contains("Plan: 0 to create, 1000 to update, 0 to delete."));
        let shown = text.matches("<details>").count();
        assert!(shown > 10, "only {shown} changes shown");
        assert!(
            text.contains(&format!("_{} more role change(s) left out", 1000 - shown)),
            "{}",
            &text[text.len() - 300..]
        );
    }

    #[test]
    fn text_names_every_change_and_the_summary() {
        let plan = Plan {
            changes: vec![change(1)],
            notices: Vec::new(),
            unchanged: vec!["other".into()],
            ..Plan::default()
        };
        let text = text(&plan, false);
        assert!(text.contains("~ role segment-fn-instance-1 (instance instance-1, account 123456789012) will be updated in place"));
        assert!(text.contains("because: trust policy admits another principal"));
        assert!(text.contains("\"(sensitive) new\""));
        assert!(text.ends_with("Plan: 0 to create, 1 to update, 0 to delete.\n"));
    }

    /// With Segment in the set, the no-change line says Segment was checked
    /// too; an instance Segment does not have is not counted as matching.
    #[test]
    fn the_no_change_line_names_segment_when_the_plan_read_it() {
        let mut plan = Plan {
            unchanged: vec!["a".into(), "b".into()],
            ..Plan::default()
        };
        assert_eq!(
            summary_line(&plan),
            "No changes. IAM matches the manifests (2 role(s) checked)."
        );
        for name in ["a", "b"] {
            plan.segment_fingerprints
                .insert(name.into(), format!("fingerprint-{name}"));
        }
        assert_eq!(
            summary_line(&plan),
            "No changes. IAM and Segment match the manifests (2 role(s) and 2 Segment instance(s) checked)."
        );
        plan.notices.push(crate::plan::Notice::new(
            Some("b"),
            "segment-fn-b",
            crate::plan::notice::NoticeKind::SegmentInstanceMissing {
                kind: crate::model::FunctionKind::Destination,
                id: "dstMissing01".into(),
            },
        ));
        assert_eq!(
            summary_line(&plan),
            "No changes. IAM and Segment match the manifests (2 role(s) and 1 Segment instance(s) checked)."
        );
    }
}
