//! Drift findings for people (text), machines (JSON with `format_version`)
//! and pull requests or issues (Markdown under 60,000 characters).

use serde_json::json;

use crate::check::drift::{Finding, FindingKind, Severity};
use crate::model::FORMAT_VERSION;
use crate::report::plan::MARKDOWN_LIMIT;

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// Findings sorted most urgent first, drift before pending.
pub(crate) fn sorted(findings: &[Finding]) -> Vec<&Finding> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| {
        (
            a.kind == FindingKind::Pending,
            std::cmp::Reverse(a.severity),
            &a.role,
        )
            .cmp(&(
                b.kind == FindingKind::Pending,
                std::cmp::Reverse(b.severity),
                &b.role,
            ))
    });
    sorted
}

/// Counts of drift findings per severity, and of pending changes.
pub(crate) fn summary(findings: &[Finding]) -> String {
    let drift: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::Drift)
        .collect();
    let pending = findings.len() - drift.len();
    if findings.is_empty() {
        return "No drift: IAM matches what fnctl last applied, and no manifest change is pending."
            .into();
    }
    let counts: Vec<String> = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Warning,
        Severity::Info,
    ]
    .iter()
    .map(|s| {
        format!(
            "{} {}",
            drift.iter().filter(|f| f.severity == *s).count(),
            severity_word(*s)
        )
    })
    .collect();
    format!(
        "Drift: {}; {pending} pending manifest change(s).",
        counts.join(", ")
    )
}

/// Text, one finding a line.
pub(crate) fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in sorted(findings) {
        let label = match finding.kind {
            FindingKind::Drift => severity_word(finding.severity).to_uppercase(),
            FindingKind::Pending => "PENDING".into(),
        };
        let instance = finding
            .instance
            .as_deref()
            .map(|i| format!(" (instance {i})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{label:<8} {:<24} role {}{instance}, account {}: {}\n",
            finding.category, finding.role, finding.account, finding.message
        ));
    }
    out.push_str(&summary(findings));
    out.push('\n');
    out
}

/// JSON for scripts and alerting.
pub(crate) fn json(findings: &[Finding]) -> serde_json::Value {
    json!({
        "format_version": FORMAT_VERSION,
        "summary": summary(findings),
        "findings": sorted(findings),
    })
}

/// Markdown: a summary table first, then details, cut short to fit a comment.
pub(crate) fn markdown(findings: &[Finding]) -> String {
    let mut out = format!("### fnctl drift\n\n**{}**\n\n", summary(findings));
    if findings.is_empty() {
        return out;
    }
    out.push_str("| severity | category | role | instance | account |\n|---|---|---|---|---|\n");
    let mut details = String::from("\n<details><summary>Details</summary>\n\n");
    let mut omitted = 0;
    for finding in sorted(findings) {
        let severity = match finding.kind {
            FindingKind::Drift => severity_word(finding.severity),
            FindingKind::Pending => "pending",
        };
        let row = format!(
            "| {severity} | `{}` | `{}` | {} | {} |\n",
            finding.category,
            finding.role,
            finding.instance.as_deref().unwrap_or("-"),
            finding.account
        );
        let detail = format!(
            "- `{}` {}: {}\n",
            finding.role, finding.category, finding.message
        );
        if out.len() + details.len() + row.len() + detail.len() + 300 > MARKDOWN_LIMIT {
            omitted += 1;
            continue;
        }
        out.push_str(&row);
        details.push_str(&detail);
    }
    out.push_str(&details);
    out.push_str("\n</details>\n");
    if omitted > 0 {
        out.push_str(&format!("\n_{omitted} more finding(s) left out to fit a comment; run `fnctl drift` for all of them._\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_for_many_findings_fits_a_comment() {
        let findings: Vec<Finding> = (0..5000)
            .map(|i| Finding {
                instance: Some(format!("instance-{i}")),
                role: format!("segment-fn-instance-{i}"),
                account: "123456789012".into(),
                category: crate::model::codes::DriftCategory::TrustBroadened,
                severity: Severity::Critical,
                kind: FindingKind::Drift,
                message:
                    "the trust policy admits another principal: arn:aws:iam::111122223333:root"
                        .into(),
            })
            .collect();
        let text = markdown(&findings);
        assert!(text.len() < MARKDOWN_LIMIT);
        assert!(text.contains("more finding(s) left out"));
        assert!(text.contains("Drift: 5000 critical"));
    }
}
