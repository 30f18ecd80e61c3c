//! The Segment functions' steps of a plan as text, JSON and Markdown: each
//! function to create, or to update with the unified diffs of its code and
//! setting definitions, and each instance to create, in the manifests'
//! order (a function, then the instances that will run it).

use serde_json::{json, Value};

use crate::plan::functions::{
    FunctionAction, FunctionsPlan, PlannedFunction, PlannedInstance, PlannedPrune, PruneKind,
};

fn function_heading(function: &PlannedFunction) -> Option<String> {
    let name = &function.function;
    match function.action {
        FunctionAction::Create => Some(format!(
            "+ Segment {} function {name} will be created ({} line(s) of {}, {} setting definition(s))",
            function.kind.as_str(),
            function.code_lines,
            function.code_file,
            function.definitions
        )),
        FunctionAction::Update => Some(format!("~ Segment function {name} will be updated")),
        FunctionAction::Unchanged => None,
        FunctionAction::Conflict => Some(format!(
            "! Segment function {name}: {}",
            function.reason.as_deref().unwrap_or_default()
        )),
    }
}

fn instance_heading(instance: &PlannedInstance) -> String {
    let place = match &instance.source {
        Some(source) => format!("destination connected to source {source}"),
        None => "source".into(),
    };
    format!(
        "+ Segment {place} `{}` (instance {}) will be created running {}",
        instance.name, instance.instance, instance.function
    )
}

fn prune_heading(prune: &PlannedPrune) -> String {
    let what = match prune.what {
        PruneKind::Destination => "destination",
        PruneKind::Source => "source",
        PruneKind::DestinationFunction => "destination function",
        PruneKind::SourceFunction => "source function",
    };
    format!(
        "- Segment {what} `{}` ({}) will be deleted (--prune: no manifest names it)",
        prune.name, prune.id
    )
}

/// "Segment functions: 1 to create, 0 to update; 1 instance(s) to
/// create." (and what `--prune` deletes, when it does).
fn summary_line(plan: &FunctionsPlan) -> String {
    let (create, update, instances) = plan.counts();
    let prune = match plan.prune.len() {
        0 => String::new(),
        count => format!(" {count} to delete (--prune)."),
    };
    let pushes = match plan.pushes.len() {
        0 => String::new(),
        count => format!(" {count} instance(s)' settings to push."),
    };
    format!("Segment functions: {create} to create, {update} to update; {instances} instance(s) to create.{pushes}{prune}")
}

fn diffs(function: &PlannedFunction) -> impl Iterator<Item = &String> {
    [&function.code_diff, &function.definitions_diff]
        .into_iter()
        .flatten()
}

/// The steps as text, after the IAM plan's.
pub(crate) fn text(plan: &FunctionsPlan) -> String {
    let mut out = String::new();
    for function in &plan.functions {
        if let Some(heading) = function_heading(function) {
            out.push_str(&heading);
            out.push('\n');
        }
        for diff in diffs(function) {
            for line in diff.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        for instance in plan
            .instances
            .iter()
            .filter(|i| i.function == function.function)
        {
            out.push_str(&instance_heading(instance));
            out.push('\n');
        }
    }
    for push in &plan.pushes {
        out.push_str(&format!("~ {}\n", super::plan::segment_heading(push)));
        for line in super::plan::segment_lines(push) {
            out.push_str(&format!("    {line}\n"));
        }
        out.push_str(&format!("        because: {}\n", push.reason));
    }
    for prune in &plan.prune {
        out.push_str(&prune_heading(prune));
        out.push('\n');
    }
    if plan.has_changes() {
        out.push_str(&summary_line(plan));
        out.push('\n');
    }
    out
}

/// The steps as JSON: a summary, every function (the unchanged ones too,
/// each with its code file's SHA-256) and the instances to create.
pub(crate) fn json(plan: &FunctionsPlan) -> Value {
    let (create, update, instances) = plan.counts();
    json!({
        "summary": {
            "create": create,
            "update": update,
            "instances": instances,
            "conflicts": plan.functions.iter().filter(|f| f.action == FunctionAction::Conflict).count(),
            "delete": plan.prune.len(),
            "push": plan.pushes.len(),
        },
        "functions": plan.functions,
        "instances": plan.instances,
        "prune": plan.prune,
        "pushes": plan.pushes,
    })
}

/// The steps as Markdown for a pull-request comment: one line per step,
/// the diffs folded.
pub(crate) fn markdown(plan: &FunctionsPlan) -> String {
    if !plan.has_changes() && !plan.has_conflicts() {
        return String::new();
    }
    let mut out = format!("\n#### Segment functions\n\n**{}**\n\n", summary_line(plan));
    for function in &plan.functions {
        if let Some(heading) = function_heading(function) {
            out.push_str(&format!("- `` {heading} ``\n"));
        }
        let shown: Vec<&String> = diffs(function).collect();
        if !shown.is_empty() {
            let body: String = shown.into_iter().map(String::as_str).collect();
            out.push_str(&format!(
                "\n<details><summary><code>{}</code>: diff</summary>\n\n```diff\n{body}```\n</details>\n\n",
                function.function
            ));
        }
    }
    for instance in &plan.instances {
        out.push_str(&format!("- `` {} ``\n", instance_heading(instance)));
    }
    for push in &plan.pushes {
        out.push_str(&format!(
            "\n<details><summary>{}</summary>\n\n```\n{}\n```\n{}\n</details>\n\n",
            super::plan::segment_heading(push),
            super::plan::segment_lines(push).join("\n"),
            push.reason
        ));
    }
    for prune in &plan.prune {
        out.push_str(&format!("- `` {} ``\n", prune_heading(prune)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FunctionKind;

    fn sample() -> FunctionsPlan {
        let function = |name: &str, action| PlannedFunction {
            function: name.into(),
            kind: FunctionKind::Destination,
            action,
            code_file: format!("functions/{name}.js"),
            code_sha256: "ab".repeat(32),
            code_lines: 3,
            definitions: 4,
            code_diff: (action == FunctionAction::Update)
                .then(|| "--- segment\n+++ manifest\n-old\n+new\n".to_string()),
            definitions_diff: None,
            reason: None,
        };
        FunctionsPlan {
            functions: vec![
                function("a", FunctionAction::Create),
                function("b", FunctionAction::Update),
                function("c", FunctionAction::Unchanged),
            ],
            instances: vec![PlannedInstance {
                instance: "a-prod".into(),
                function: "a".into(),
                kind: FunctionKind::Destination,
                name: "a-prod (fnctl:s)".into(),
                source: Some("src1".into()),
            }],
            prune: vec![PlannedPrune {
                what: PruneKind::Source,
                region: crate::model::segment::SegmentRegion::Us,
                id: "src9".into(),
                name: "fnctl-s-gone".into(),
            }],
            pushes: Vec::new(),
        }
    }

    #[test]
    fn text_shows_each_step_after_its_function_and_no_unchanged_one() {
        assert_eq!(
            text(&sample()),
            "+ Segment destination function a will be created (3 line(s) of functions/a.js, 4 setting definition(s))\n\
             + Segment destination connected to source src1 `a-prod (fnctl:s)` (instance a-prod) will be created running a\n\
             ~ Segment function b will be updated\n    --- segment\n    +++ manifest\n    -old\n    +new\n\
             - Segment source `fnctl-s-gone` (src9) will be deleted (--prune: no manifest names it)\n\
             Segment functions: 1 to create, 1 to update; 1 instance(s) to create. 1 to delete (--prune).\n"
        );
        assert_eq!(text(&FunctionsPlan::default()), "");
    }

    #[test]
    fn json_and_markdown_carry_the_same_steps() {
        let plan = sample();
        let value = json(&plan);
        assert_eq!(
            value["summary"],
            json!({"create": 1, "update": 1, "instances": 1, "conflicts": 0, "delete": 1, "push": 0})
        );
        assert_eq!(value["functions"][1]["action"], "update");
        assert_eq!(
            value["functions"][1]["code_diff"],
            "--- segment\n+++ manifest\n-old\n+new\n"
        );
        assert_eq!(value["functions"][2]["action"], "unchanged");
        assert_eq!(value["instances"][0]["source"], "src1");
        let markdown = markdown(&plan);
        assert!(markdown.contains("**Segment functions: 1 to create, 1 to update; 1 instance(s) to create. 1 to delete (--prune).**"));
        assert!(markdown.contains("- `` - Segment source `fnctl-s-gone` (src9) will be deleted"));
        assert_eq!(value["prune"][0]["what"], "source");
        assert!(markdown.contains("```diff\n--- segment\n+++ manifest\n-old\n+new\n```"));
        assert!(markdown.contains("`a-prod (fnctl:s)`"));
        assert!(!markdown.contains("function c"));
        assert_eq!(super::markdown(&FunctionsPlan::default()), "");
    }
}
