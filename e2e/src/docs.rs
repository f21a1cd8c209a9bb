//! Reading the project's Markdown pages the way the docs tests check them: the shell commands in
//! their code blocks and inline code ([`shell_snippets`]), each invocation of a program in those
//! commands ([`invocations`]), what a binary's `--help` accepts ([`parse_help`]) and whether an
//! invocation fits it ([`check_invocation`]); the tables of the configuration reference
//! ([`documented_settings`]), the relative links and heading anchors, and the `EXECENV_…`
//! variables a page names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

mod commands;
mod help;
#[cfg(test)]
mod tests;

pub use commands::{Invocation, Snippet, Word, invocations, shell_snippets, shell_words};
pub use help::{Help, HelpCache, Usage, check_invocation, parse_help, parse_usage};

/// The repository's root folder (the parent of `e2e/`).
pub fn repo_root() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
    e2e.parent().unwrap_or(e2e).to_path_buf()
}

/// The pages whose commands must run as written, relative to `root`: README.md,
/// CONTRIBUTING.md and every `docs/*.md`, in a stable order.
pub fn pages(root: &Path) -> Result<Vec<PathBuf>> {
    let mut pages = vec![PathBuf::from("README.md"), PathBuf::from("CONTRIBUTING.md")];
    let docs = root.join("docs");
    let mut found = vec![];
    for entry in std::fs::read_dir(&docs).with_context(|| format!("reading {}", docs.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md")
            && let Some(name) = path.file_name()
        {
            found.push(Path::new("docs").join(name));
        }
    }
    found.sort();
    pages.extend(found);
    Ok(pages)
}

/// The settings (first column) of the table under `## {binary}` in the configuration reference.
pub fn documented_settings(reference: &str, binary: &str) -> Vec<String> {
    let heading = format!("## {binary}");
    reference
        .lines()
        .skip_while(|l| l.trim_end() != heading)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The keys of a JSON object, nested objects flattened to dotted keys (`server.grpc_addr`); a
/// list or a scalar is one key.
pub fn flattened_keys(value: &serde_json::Value) -> Vec<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (key, inner) in map {
                    let key = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&key, inner, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = vec![];
    walk("", value, &mut out);
    out
}

/// The lines of a page outside its fenced code blocks, with their 1-based numbers.
fn prose_lines(markdown: &str) -> Vec<(usize, &str)> {
    let mut in_block = false;
    let mut out = vec![];
    for (index, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            out.push((index + 1, line));
        }
    }
    out
}

/// The links of a page that point into the repository (`[text](docs/page.md#anchor)`), outside
/// code, with their lines; links to other sites are left out.
pub fn relative_links(markdown: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    for (line, text) in prose_lines(markdown) {
        // Inline code may hold `](`; only the text between code spans is searched.
        for prose in text.split('`').step_by(2) {
            let mut rest = prose;
            while let Some(start) = rest.find("](") {
                let after = &rest[start + 2..];
                let Some(end) = after.find(')') else { break };
                let target = &after[..end];
                if !target.contains("://") && !target.starts_with("mailto:") {
                    out.push((line, target.to_owned()));
                }
                rest = &after[end..];
            }
        }
    }
    out
}

/// The anchor GitHub gives a heading: lower case, spaces as hyphens, other punctuation dropped.
pub fn heading_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings.
pub fn anchors(markdown: &str) -> BTreeSet<String> {
    prose_lines(markdown)
        .into_iter()
        .filter_map(|(_, line)| {
            let title = line.trim_start_matches('#');
            (title.len() < line.len() && title.starts_with(' ')).then(|| heading_anchor(title))
        })
        .collect()
}

/// Every `EXECENV_…` variable a text names (`EXECENV_REGISTRY__URL`), with the first line it is
/// on; a pattern such as `EXECENV_<SECTION>__<KEY>` is not a variable.
pub fn execenv_variables(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("EXECENV_") {
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let preceded_by_name = rest[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name.ends_with('_') && !preceded_by_name {
                out.entry(name.to_owned()).or_insert(index + 1);
            }
            rest = &tail[end.max(1)..];
        }
    }
    out
}
