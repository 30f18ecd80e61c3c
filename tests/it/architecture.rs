//! The layering of src/ (src/lib.rs, issue 11), checked on the source text:
//! clap and `crate::cli` only in the CLI layer (src/cli/, src/main.rs); AWS
//! SDK crates only in src/live/aws/; the core prints nothing (print macros
//! only in the CLI layer); and no import cycle between the top-level modules
//! of the library. Comments, string and char literals and `#[cfg(test)]`
//! modules are blanked out first, so only code counts. Every failure names
//! the file and line of each offending reference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A source file of src/, reduced to its code.
struct Source {
    /// Relative to the repository, with `/` separators: `src/plan/mod.rs`.
    path: String,
    /// Module path inside the library: `["plan"]`, `["plan", "saved"]`.
    module: Vec<String>,
    /// The text with comments, literals and test modules replaced by spaces
    /// (line breaks kept, so offsets map to the original lines).
    code: String,
}

impl Source {
    fn new(path: &str, text: &str) -> Source {
        let module = module_of(path);
        Source {
            path: path.to_string(),
            module,
            code: without_test_modules(&strip_comments_and_literals(text)),
        }
    }

    /// The top-level module this file belongs to (`None`: crate root or binary).
    fn top(&self) -> Option<&str> {
        self.module.first().map(String::as_str)
    }

    fn in_cli_layer(&self) -> bool {
        self.path == "src/main.rs" || self.path.starts_with("src/cli/") || self.path == "src/cli.rs"
    }

    fn line_of(&self, offset: usize) -> usize {
        self.code[..offset].matches('\n').count() + 1
    }

    /// `file:line: text of the line` for a finding at `offset`.
    fn place(&self, offset: usize, original: &str) -> String {
        let line = self.line_of(offset);
        let text = original.lines().nth(line - 1).unwrap_or("").trim();
        format!("{}:{line}: {text}", self.path)
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.rs` under src/, with its original text.
fn sources() -> Vec<(Source, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("src"), &mut files);
    files.sort();
    assert!(files.len() > 10, "src/ has too few files: {files:?}");
    let all: Vec<(Source, String)> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
            let relative = file
                .strip_prefix(repo())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (Source::new(&relative, &text), text)
        })
        .collect();
    let test_only = test_only_files(&all);
    all.into_iter()
        .filter(|(source, _)| !test_only.contains(&source.path))
        .collect()
}

/// Files declared as `#[cfg(test)] mod name;` (test code in a file of its own).
fn test_only_files(all: &[(Source, String)]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (source, original) in all {
        let stripped = strip_comments_and_literals(original);
        for (_, name) in test_modules(&stripped)
            .into_iter()
            .filter(|(r, _)| r.is_none())
        {
            let dir = match source.path.rsplit_once('/') {
                Some((dir, file)) if file == "mod.rs" || file == "lib.rs" || file == "main.rs" => {
                    dir.to_string()
                }
                _ => source.path.trim_end_matches(".rs").to_string(),
            };
            found.insert(format!("{dir}/{name}.rs"));
            found.insert(format!("{dir}/{name}/mod.rs"));
        }
    }
    found
}

/// `src/plan/saved.rs` → `["plan", "saved"]`; `src/plan/mod.rs` → `["plan"]`;
/// `src/lib.rs` and `src/main.rs` → `[]`.
fn module_of(path: &str) -> Vec<String> {
    let inner = path.trim_start_matches("src/").trim_end_matches(".rs");
    if inner == "lib" || inner == "main" {
        return Vec::new();
    }
    let mut parts: Vec<String> = inner.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with comments and the contents of string and char literals
/// replaced by spaces; line breaks are kept.
fn strip_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if !after_ident && (c == 'r' || (c == 'b' && next == Some('r'))) && {
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[start..].iter().take_while(|&&h| h == '#').count();
            chars.get(start + hashes) == Some(&'"')
        } {
            // A raw string: r"…", r#"…"#, br"…".
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[start..].iter().take_while(|&&h| h == '#').count();
            let body = start + hashes + 1;
            for &k in &chars[i..body] {
                out.push(k);
            }
            i = body;
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    out.push('"');
                    out.extend(std::iter::repeat_n('#', hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && !after_ident {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            let literal_end = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&k| k == '\'')
                    .map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match literal_end {
                Some(end) => {
                    out.push('\'');
                    out.extend(std::iter::repeat_n(' ', end - i - 1));
                    out.push('\'');
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `#[cfg(test)] mod name` declarations of stripped code: the byte range of
/// the module's block (`None` for `mod name;`, a file of its own) and its name.
fn test_modules(code: &str) -> Vec<(Option<(usize, usize)>, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("#[cfg(test)]").map(|p| p + from) {
        from = at + 1;
        let mut rest = code[at + "#[cfg(test)]".len()..].trim_start();
        // Other attributes between cfg(test) and the item.
        while rest.starts_with("#[") {
            let Some(close) = rest.find(']') else { break };
            rest = rest[close + 1..].trim_start();
        }
        if let Some(after) = rest.strip_prefix("pub") {
            rest = after.trim_start();
            if rest.starts_with('(') {
                let Some(close) = rest.find(')') else {
                    continue;
                };
                rest = rest[close + 1..].trim_start();
            }
        }
        let Some(after) = rest.strip_prefix("mod") else {
            continue;
        };
        if !after.starts_with(char::is_whitespace) {
            continue;
        }
        let after = after.trim_start();
        let name: String = after.chars().take_while(|&c| is_ident(c)).collect();
        let tail = after[name.len()..].trim_start();
        if tail.starts_with(';') {
            found.push((None, name));
        } else if tail.starts_with('{') {
            let open = code.len() - tail.len();
            let mut depth = 0;
            let mut close = code.len();
            for (offset, c) in code[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = open + offset + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            found.push((Some((at, close)), name));
        }
    }
    found
}

/// Stripped code with the blocks of `#[cfg(test)]` modules blanked out.
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_string();
    for (range, _) in test_modules(code) {
        if let Some((start, end)) = range {
            let blanked: String = code[start..end]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            out.replace_range(start..end, &blanked);
        }
    }
    out
}

/// Offsets of `word` in `code` as a whole token (not part of a longer name).
fn token_offsets(code: &str, word: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(word).map(|p| p + from) {
        from = at + word.len();
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            found.push(at);
        }
    }
    found
}

/// Offsets of identifiers that start with `prefix` (`aws_sdk_` finds `aws_sdk_iam`).
fn prefixed_identifiers(code: &str, prefix: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(prefix).map(|p| p + from) {
        from = at + prefix.len();
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let name: String = code[at..].chars().take_while(|&c| is_ident(c)).collect();
        found.push((at, name));
    }
    found
}

/// The names a path segment list starts with at `offset`: `name` or, for a
/// group `{a, b::c, d}`, each first name of the group.
fn first_segments(code: &str, offset: usize) -> Vec<(usize, String)> {
    let rest = &code[offset..];
    let skipped = rest.len() - rest.trim_start().len();
    let start = offset + skipped;
    if code[start..].starts_with('{') {
        let mut names = Vec::new();
        let mut depth = 0;
        let mut expect_name = true;
        for (i, c) in code[start..].char_indices() {
            let at = start + i;
            match c {
                '{' => {
                    depth += 1;
                    expect_name = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => expect_name = true,
                c if expect_name && depth == 1 && is_ident(c) => {
                    let name: String = code[at..].chars().take_while(|&k| is_ident(k)).collect();
                    names.push((at, name));
                    expect_name = false;
                }
                _ => {}
            }
        }
        names
    } else {
        let name: String = code[start..].chars().take_while(|&c| is_ident(c)).collect();
        if name.is_empty() {
            Vec::new()
        } else {
            vec![(start, name)]
        }
    }
}

/// Top-level modules a file refers to, with the offset of each reference:
/// `crate::x`, `$crate::x`, `crate::{x, y}`, and `super::…::x` chains that
/// climb to the crate root.
fn top_level_references(source: &Source) -> Vec<(usize, String)> {
    let code = &source.code;
    let mut found = Vec::new();
    for at in token_offsets(code, "crate") {
        if code[at + "crate".len()..].starts_with("::") {
            found.extend(first_segments(code, at + "crate::".len()));
        }
    }
    let mut from = 0;
    while let Some(at) = code[from..].find("super::").map(|p| p + from) {
        if code[..at].chars().next_back().is_some_and(is_ident) || code[..at].ends_with("super::") {
            from = at + 1;
            continue;
        }
        let mut depth = 0;
        let mut end = at;
        while code[end..].starts_with("super::") {
            depth += 1;
            end += "super::".len();
        }
        from = end;
        if depth == source.module.len() {
            found.extend(first_segments(code, end));
        }
    }
    found
}

/// Renders findings, or nothing when there are none.
fn report(findings: &[String], rule: &str) -> Result<(), String> {
    if findings.is_empty() {
        Ok(())
    } else {
        Err(format!("{rule}:\n  {}", findings.join("\n  ")))
    }
}

/// clap (and clap_complete) and `crate::cli` only in src/cli/ and src/main.rs.
fn check_cli_layer(all: &[(Source, String)]) -> Result<(), String> {
    let mut findings = Vec::new();
    for (source, original) in all.iter().filter(|(s, _)| !s.in_cli_layer()) {
        for (at, name) in prefixed_identifiers(&source.code, "clap") {
            if name == "clap" || name == "clap_complete" {
                findings.push(source.place(at, original));
            }
        }
        for (at, name) in top_level_references(source) {
            if name == "cli" {
                findings.push(source.place(at, original));
            }
        }
    }
    report(
        &findings,
        "clap or crate::cli used outside the CLI layer (src/cli/, src/main.rs)",
    )
}

/// AWS SDK crates only in src/live/aws/.
fn check_sdk_confined(all: &[(Source, String)]) -> Result<(), String> {
    let mut findings = Vec::new();
    for (source, original) in all
        .iter()
        .filter(|(s, _)| !s.path.starts_with("src/live/aws/"))
    {
        for (at, name) in prefixed_identifiers(&source.code, "aws_") {
            let sdk = name.starts_with("aws_sdk_")
                || name == "aws_config"
                || name.starts_with("aws_smithy")
                || name == "aws_types";
            if sdk {
                findings.push(source.place(at, original));
            }
        }
    }
    report(
        &findings,
        "AWS SDK crates used outside src/live/aws/ (the IamBackend trait is the core's view of IAM)",
    )
}

/// The core returns data or logs; only the CLI layer writes to the terminal.
fn check_core_prints_nothing(all: &[(Source, String)]) -> Result<(), String> {
    let mut findings = Vec::new();
    for (source, original) in all.iter().filter(|(s, _)| !s.in_cli_layer()) {
        for name in ["print", "println", "eprint", "eprintln", "dbg"] {
            for at in token_offsets(&source.code, name) {
                if source.code[at + name.len()..].trim_start().starts_with('!') {
                    findings.push(source.place(at, original));
                }
            }
        }
    }
    findings.sort();
    report(
        &findings,
        "the core prints (print macros belong to src/cli/ and src/main.rs; the core logs with `log`)",
    )
}

/// No cycle between the top-level modules of the library.
fn check_no_cycles(all: &[(Source, String)]) -> Result<(), String> {
    let tops: BTreeSet<&str> = all.iter().filter_map(|(s, _)| s.top()).collect();
    // edge (from, to) → the first place that makes it
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    for (source, original) in all {
        let Some(from) = source.top() else { continue };
        for (at, to) in top_level_references(source) {
            if to != from && tops.contains(to.as_str()) {
                edges
                    .entry((from.to_string(), to))
                    .or_insert_with(|| source.place(at, original));
            }
        }
    }
    let mut graph: BTreeMap<&str, Vec<&str>> = tops.iter().map(|t| (*t, Vec::new())).collect();
    for (from, to) in edges.keys() {
        graph.get_mut(from.as_str()).unwrap().push(to.as_str());
    }
    let mut findings = Vec::new();
    for component in strongly_connected(&graph) {
        if component.len() < 2 {
            continue;
        }
        let members: BTreeSet<&str> = component.iter().copied().collect();
        let cycle = shortest_cycle(&graph, &members);
        let mut lines = vec![format!(
            "{} (one cycle among {{{}}}):",
            cycle.join(" → "),
            members.iter().copied().collect::<Vec<_>>().join(", ")
        )];
        for pair in cycle.windows(2) {
            let place = &edges[&(pair[0].to_string(), pair[1].to_string())];
            lines.push(format!("  {} → {} at {place}", pair[0], pair[1]));
        }
        findings.push(lines.join("\n  "));
    }
    report(&findings, "import cycles between top-level modules of src/")
}

/// A shortest cycle through the strongly connected `members`, as the list
/// of modules it passes (the first one repeated at the end).
fn shortest_cycle<'a>(
    graph: &BTreeMap<&'a str, Vec<&'a str>>,
    members: &BTreeSet<&'a str>,
) -> Vec<&'a str> {
    let mut best: Vec<&str> = Vec::new();
    for &start in members {
        // Breadth-first from `start` back to `start`, inside the component.
        let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        'search: while let Some(node) = queue.pop_front() {
            for &next in &graph[node] {
                if !members.contains(next) {
                    continue;
                }
                if next == start {
                    let mut path = vec![start, node];
                    let mut at = node;
                    while at != start {
                        at = previous[at];
                        path.push(at);
                    }
                    path.reverse();
                    if best.is_empty() || path.len() < best.len() {
                        best = path;
                    }
                    break 'search;
                }
                if !previous.contains_key(next) {
                    previous.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
    }
    best
}

/// Tarjan's strongly connected components.
fn strongly_connected<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(v: &'a str, graph: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in &graph[v] {
            if !s.index.contains_key(w) {
                visit(w, graph, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.components.push(component);
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for &v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(v, graph, &mut state);
        }
    }
    state.components
}

/// Nothing below the CLI reads an environment variable or the wall clock:
/// settings are resolved once by the CLI and time comes from the run
/// context's clock (src/execute/context.rs), so a test can fix or step it.
fn check_settings_and_clock_in_the_cli(all: &[(Source, String)]) -> Result<(), String> {
    let mut findings = Vec::new();
    for (source, original) in all.iter().filter(|(s, _)| !s.in_cli_layer()) {
        let code = &source.code;
        for name in ["var", "var_os", "vars", "vars_os"] {
            for at in token_offsets(code, name) {
                if code[..at].trim_end().ends_with("env::") {
                    findings.push(source.place(at, original));
                }
            }
        }
        for at in token_offsets(code, "now") {
            let before = code[..at].trim_end();
            // `Instant` is no clock of record: it only measures how long a
            // request took, for the logs.
            let clock = ["SystemTime::", "Utc::", "Timestamp::", "Zoned::"];
            if clock.iter().any(|c| before.ends_with(c)) {
                findings.push(source.place(at, original));
            }
        }
    }
    findings.sort();
    report(
        &findings,
        "an environment read or the wall clock below src/cli/ (settings and the clock arrive through the run context)",
    )
}

/// The in-memory backends (IAM, Segment) are test support: declared under
/// `#[cfg(test)]`, so neither they nor code naming them reaches the
/// release binary.
fn check_test_backends_stay_in_tests(all: &[(Source, String)]) -> Result<(), String> {
    let mut findings = Vec::new();
    for (source, original) in all {
        let file = source.path.rsplit('/').next().unwrap_or_default();
        if file.contains("memory") {
            findings.push(format!(
                "{}:1: compiled into the release binary (declare it `#[cfg(test)]`)",
                source.path
            ));
            continue;
        }
        let code = &source.code;
        for name in ["MemoryIam", "MemorySegment", "MemoryAccounts"] {
            for at in token_offsets(code, name) {
                findings.push(source.place(at, original));
            }
        }
        // `mod memory;` without `#[cfg(test)]` before it.
        for at in token_offsets(code, "mod") {
            let rest = &code[at + "mod".len()..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|&c| is_ident(c))
                .collect();
            let declared = rest.trim_start()[name.len()..]
                .trim_start()
                .starts_with(';');
            let before = code[..at].trim_end();
            let before = before
                .strip_suffix("pub(crate)")
                .or_else(|| before.strip_suffix("pub"))
                .unwrap_or(before)
                .trim_end();
            if name.contains("memory") && declared && !before.ends_with("#[cfg(test)]") {
                findings.push(source.place(at, original));
            }
        }
    }
    findings.sort();
    findings.dedup();
    report(
        &findings,
        "an in-memory test backend reachable from the release binary",
    )
}

/// The generic arguments of the `<…>` that opens at `open` (top-level
/// commas split them), or `None` when it does not close.
fn generic_arguments(code: &str, open: usize) -> Option<Vec<String>> {
    let mut depth = 0usize;
    let mut arguments = vec![String::new()];
    for c in code[open..].chars() {
        match c {
            '<' | '(' | '[' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            '>' | ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(
                        arguments
                            .into_iter()
                            .map(|a| a.trim().to_string())
                            .collect(),
                    );
                }
            }
            ',' if depth == 1 => {
                arguments.push(String::new());
                continue;
            }
            _ => {}
        }
        arguments.last_mut()?.push(c);
    }
    None
}

/// The services (src/execute/, src/check/, src/live/, src/plan/) fail with
/// typed errors that keep their cause: no `Result<_, String>`, no `String`
/// error field, no error enum variant holding a bare `String`.
fn check_typed_errors_in_services(all: &[(Source, String)]) -> Result<(), String> {
    let services = ["src/execute/", "src/check/", "src/live/", "src/plan/"];
    let mut findings = Vec::new();
    for (source, original) in all
        .iter()
        .filter(|(s, _)| services.iter().any(|d| s.path.starts_with(d)))
    {
        let code = &source.code;
        for at in token_offsets(code, "Result") {
            let open = at + "Result".len();
            if !code[open..].starts_with('<') {
                continue;
            }
            if let Some(arguments) = generic_arguments(code, open) {
                if arguments
                    .get(1)
                    .is_some_and(|e| e == "String" || e == "&str")
                {
                    findings.push(source.place(at, original));
                }
            }
        }
        for at in token_offsets(code, "error") {
            let after = code[at + "error".len()..].trim_start();
            if let Some(kind) = after.strip_prefix(':') {
                let kind = kind.trim_start();
                if kind.starts_with("String") || kind.starts_with("Option<String>") {
                    findings.push(source.place(at, original));
                }
            }
        }
        for at in token_offsets(code, "enum") {
            let rest = &code[at + "enum".len()..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|&c| is_ident(c))
                .collect();
            let Some(open) = rest.find('{') else { continue };
            let body_start = at + "enum".len() + open;
            let Some(body) =
                generic_arguments(&code.replace('{', "(").replace('}', ")"), body_start)
            else {
                continue;
            };
            if !(name.ends_with("Error") || name == "Outcome") {
                continue;
            }
            let body_text = body.join(",");
            if body_text.contains("(String)") {
                let offset = body_start + code[body_start..].find("(String)").unwrap_or(0);
                findings.push(source.place(offset, original));
            }
        }
    }
    findings.sort();
    report(
        &findings,
        "a String where a typed error belongs in the services (src/execute/, src/check/, src/live/, src/plan/)",
    )
}

#[track_caller]
fn assert_holds(result: Result<(), String>) {
    if let Err(message) = result {
        panic!("{message}");
    }
}

#[test]
fn clap_and_the_cli_module_stay_in_the_cli_layer() {
    assert_holds(check_cli_layer(&sources()));
}

#[test]
fn aws_sdk_crates_stay_in_live_aws() {
    assert_holds(check_sdk_confined(&sources()));
}

#[test]
fn the_core_prints_nothing() {
    assert_holds(check_core_prints_nothing(&sources()));
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    assert_holds(check_no_cycles(&sources()));
}

#[test]
fn settings_and_the_clock_are_read_in_the_cli_only() {
    assert_holds(check_settings_and_clock_in_the_cli(&sources()));
}

#[test]
fn test_backends_stay_out_of_the_release_binary() {
    assert_holds(check_test_backends_stay_in_tests(&sources()));
}

#[test]
fn the_services_fail_with_typed_errors() {
    assert_holds(check_typed_errors_in_services(&sources()));
}

// ---- The checks catch what they are for (on made-up sources), and only that.

fn made_up(files: &[(&str, &str)]) -> Vec<(Source, String)> {
    files
        .iter()
        .map(|(path, text)| (Source::new(path, text), text.to_string()))
        .collect()
}

#[track_caller]
fn assert_fails_at(result: Result<(), String>, places: &[&str]) {
    let message = result.expect_err("the check must fail");
    for place in places {
        assert!(message.contains(place), "{place} not named in:\n{message}");
    }
}

#[test]
fn each_check_names_the_file_and_line_of_a_violation() {
    let sources = made_up(&[
        (
            "src/plan/mod.rs",
            "//! Plans.\nuse crate::model::Role;\n\nuse clap::ValueEnum;\n",
        ),
        (
            "src/model/mod.rs",
            "pub struct Role;\nfn show() {\n    println!(\"x\");\n}\nuse crate::{policy, plan::Plan};\n",
        ),
        ("src/policy/mod.rs", "use aws_sdk_iam::types::Role;\n"),
        ("src/report/mod.rs", "use super::cli::Args;\n"),
        ("src/cli/mod.rs", "use clap::Parser;\nfn f() { println!(\"ok\"); }\n"),
        ("src/live/aws/iam.rs", "use aws_config::SdkConfig;\n"),
    ]);
    assert_fails_at(
        check_cli_layer(&sources),
        &[
            "src/plan/mod.rs:4: use clap::ValueEnum;",
            "src/report/mod.rs:1: use super::cli::Args;",
        ],
    );
    assert_fails_at(
        check_sdk_confined(&sources),
        &["src/policy/mod.rs:1: use aws_sdk_iam::types::Role;"],
    );
    assert_fails_at(
        check_core_prints_nothing(&sources),
        &["src/model/mod.rs:3: println!(\"x\");"],
    );
    assert_fails_at(
        check_no_cycles(&sources),
        &[
            "model → plan → model (one cycle among {model, plan})",
            "plan → model at src/plan/mod.rs:2",
            "model → plan at src/model/mod.rs:5",
        ],
    );
}

#[test]
fn the_context_checks_name_the_file_and_line_of_a_violation() {
    let sources = made_up(&[
        (
            "src/execute/lease.rs",
            "fn lease() -> u64 {\n    std::env::var(\"X\").ok();\n    let t = std::time::SystemTime::now();\n    0\n}\n",
        ),
        ("src/plan/due.rs", "fn due() { let _ = Timestamp::now(); }\n"),
        ("src/live/memory.rs", "pub struct MemoryIam;\n"),
        ("src/live/mod.rs", "pub mod memory;\nuse memory::MemoryIam;\n"),
        (
            "src/execute/executor.rs",
            "pub struct RoleOutcome {\n    pub error: Option<String>,\n}\nfn f() -> Result<(), String> { Ok(()) }\n",
        ),
        (
            "src/check/verify.rs",
            "pub enum LockError {\n    Held { role: String },\n    Iam(String),\n}\n",
        ),
        ("src/cli/settings.rs", "fn f() { std::env::var(\"X\"); SystemTime::now(); }\n"),
        (
            "src/model/trust.rs",
            "fn guard() -> Result<(), String> { Ok(()) }\n",
        ),
    ]);
    assert_fails_at(
        check_settings_and_clock_in_the_cli(&sources),
        &[
            "src/execute/lease.rs:2: std::env::var(\"X\").ok();",
            "src/execute/lease.rs:3: let t = std::time::SystemTime::now();",
            "src/plan/due.rs:1:",
        ],
    );
    assert!(!check_settings_and_clock_in_the_cli(&sources)
        .unwrap_err()
        .contains("src/cli/settings.rs"));
    assert_fails_at(
        check_test_backends_stay_in_tests(&sources),
        &[
            "src/live/memory.rs:1:",
            "src/live/mod.rs:1: pub mod memory;",
        ],
    );
    let typed = check_typed_errors_in_services(&sources).unwrap_err();
    for place in [
        "src/execute/executor.rs:2: pub error: Option<String>,",
        "src/execute/executor.rs:4: fn f() -> Result<(), String>",
        "src/check/verify.rs:3: Iam(String),",
    ] {
        assert!(typed.contains(place), "{place} not named in:\n{typed}");
    }
    assert!(
        !typed.contains("src/model/"),
        "model/ is not a service: {typed}"
    );
    assert!(
        !typed.contains("verify.rs:2"),
        "a named field is fine: {typed}"
    );
}

#[test]
fn comments_literals_and_test_modules_do_not_count() {
    let sources = made_up(&[
        (
            "src/plan/mod.rs",
            "//! Unlike clap, crate::cli and println!, this uses crate::model.\n\
             /* use crate::model; /* nested */ println!(); */\n\
             const HELP: &str = \"see crate::model and aws_sdk_iam, println!\";\n\
             const RAW: &str = r#\"use clap::Parser; \"crate::model\"\"#;\n\
             const QUOTE: char = '\"';\n\
             fn longest<'a>(a: &'a str) -> &'a str { a }\n\
             #[cfg(test)]\n\
             mod tests {\n    use crate::model::Role;\n    fn f() { println!(\"{}\", 1); }\n}\n",
        ),
        ("src/model/mod.rs", "use crate::plan::Plan;\n"),
    ]);
    assert_holds(check_cli_layer(&sources));
    assert_holds(check_sdk_confined(&sources));
    assert_holds(check_core_prints_nothing(&sources));
    assert_holds(check_no_cycles(&sources));
    assert_holds(check_settings_and_clock_in_the_cli(&sources));
    assert_holds(check_typed_errors_in_services(&sources));
}
