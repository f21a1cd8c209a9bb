//! Reading the project's Markdown pages the way the docs tests check them: the shell commands in
//! their code blocks and inline code ([`shell_snippets`]), each invocation of a program in those
//! commands ([`invocations`]), what a binary's `--help` accepts ([`parse_help`]) and whether an
//! invocation fits it ([`check_invocation`]); the tables of the configuration reference
//! ([`documented_settings`]), the relative links and heading anchors, and the `EXECENV_…`
//! variables a page names.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

#[cfg(test)]
mod tests;

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

/// Text that may hold shell commands, and the line of its page where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The 1-based line of the page.
    pub line: usize,
    /// The command text, continuation lines joined.
    pub text: String,
}

/// How the lines of a fenced code block are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// `sh`, `bash`, `shell`: every line is a command.
    Shell,
    /// `console`, `text`: only lines after a `$ ` prompt are commands; the rest is output.
    Prompted,
    /// Anything else (YAML, JSON, …): no commands.
    Other,
}

impl Block {
    fn of(info: &str) -> Block {
        match info.split_whitespace().next().unwrap_or("") {
            "sh" | "bash" | "shell" | "zsh" => Block::Shell,
            "console" | "text" => Block::Prompted,
            _ => Block::Other,
        }
    }
}

/// The shell commands of a Markdown page: each logical line (a line ending in `\` joined with the
/// next) of its `sh`/`bash`/`shell` code blocks, each `$ `-prompted command of its
/// `console`/`text` blocks, and each inline code span outside code blocks.
pub fn shell_snippets(markdown: &str) -> Vec<Snippet> {
    let mut out = vec![];
    let mut block: Option<Block> = None;
    // A command whose line ended with `\`, waiting for the rest.
    let mut continued: Option<Snippet> = None;
    // Prose with an unclosed inline code span, waiting for the line that closes it.
    let mut prose: Option<Snippet> = None;
    for (index, raw) in markdown.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            out.extend(continued.take());
            prose = None;
            block = match block {
                Some(_) => None,
                None => Some(Block::of(info)),
            };
            continue;
        }
        match block {
            Some(Block::Other) => {}
            Some(kind) => {
                let text = match continued.take() {
                    Some(mut pending) => {
                        pending.text.push(' ');
                        pending
                            .text
                            .push_str(trimmed.strip_prefix("> ").unwrap_or(trimmed));
                        pending
                    }
                    None => {
                        let command = match kind {
                            Block::Prompted => match trimmed.strip_prefix("$ ") {
                                Some(command) => command,
                                None => continue,
                            },
                            _ => trimmed,
                        };
                        Snippet {
                            line,
                            text: command.to_owned(),
                        }
                    }
                };
                match text.text.strip_suffix('\\') {
                    Some(head) => {
                        continued = Some(Snippet {
                            line: text.line,
                            text: head.trim_end().to_owned(),
                        });
                    }
                    None => out.push(text),
                }
            }
            None => {
                if trimmed.is_empty() {
                    prose = None;
                    continue;
                }
                let mut text = match prose.take() {
                    Some(mut pending) => {
                        pending.text.push(' ');
                        pending.text.push_str(trimmed);
                        pending
                    }
                    None => Snippet {
                        line,
                        text: raw.to_owned(),
                    },
                };
                if text.text.matches('`').count() % 2 == 1 {
                    prose = Some(text);
                    continue;
                }
                text.text = text.text.replace("``", "`");
                out.extend(
                    text.text
                        .split('`')
                        .skip(1)
                        .step_by(2)
                        .filter(|code| !code.trim().is_empty())
                        .map(|code| Snippet {
                            line: text.line,
                            text: code.to_owned(),
                        }),
                );
            }
        }
    }
    out.extend(continued);
    out
}

/// A shell word, or an operator that ends a command (`|`, `&&`, `;`, `$(`, `)`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A word, its quotes removed.
    Text(String),
    /// An operator.
    Operator(String),
}

/// The words of one shell command line, as `sh` splits them: quotes and backslashes honoured, a
/// `#` at the start of a word starting a comment. `<PLACEHOLDER>` stays one word.
pub fn shell_words(line: &str) -> Vec<Word> {
    fn end(words: &mut Vec<Word>, current: &mut String, in_word: &mut bool) {
        if *in_word {
            words.push(Word::Text(std::mem::take(current)));
            *in_word = false;
        }
    }
    let mut words = vec![];
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => end(&mut words, &mut current, &mut in_word),
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    current.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            current.extend(chars.next());
                        }
                        d => current.push(d),
                    }
                }
            }
            '\\' => {
                in_word = true;
                current.extend(chars.next());
            }
            '#' if !in_word => break,
            // `2>&1` is one redirection, not a background `&`.
            '&' if in_word && current.ends_with('>') => current.push('&'),
            '$' if chars.peek() == Some(&'(') => {
                end(&mut words, &mut current, &mut in_word);
                chars.next();
                words.push(Word::Operator("$(".to_owned()));
            }
            '|' | '&' | ';' | '(' | ')' => {
                end(&mut words, &mut current, &mut in_word);
                let mut op = c.to_string();
                if matches!(c, '|' | '&') && chars.peek() == Some(&c) {
                    op.push(c);
                    chars.next();
                }
                words.push(Word::Operator(op));
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    end(&mut words, &mut current, &mut in_word);
    words
}

/// One run of a program in a page's commands: its arguments, up to the end of the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The line of the page.
    pub line: usize,
    /// The program's name (`execenvctl`), whatever path the page runs it by.
    pub program: String,
    /// Its arguments, redirections left out.
    pub args: Vec<String>,
}

impl Invocation {
    /// The invocation as a page shows it, for messages.
    pub fn shown(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether `word` runs `program`: `program` itself or a path ending in it (`target/debug/execenvctl`),
/// not an assignment (`alias execenvctl=target/debug/execenvctl`).
fn runs(word: &str, program: &str) -> bool {
    !word.contains('=') && word.rsplit('/').next() == Some(program)
}

/// A redirection (`> file`, `2>&1`, `>>log`); `true` in the second place when its target is the
/// next word.
fn redirection(word: &str) -> Option<bool> {
    let op = word
        .strip_prefix("2>")
        .or_else(|| word.strip_prefix("1>"))
        .or_else(|| word.strip_prefix('>'))
        .or_else(|| (word == "<").then_some(""))?;
    let op = op.strip_prefix('>').unwrap_or(op);
    Some(op.is_empty())
}

/// Every invocation of `program` in `snippet`.
pub fn invocations(program: &str, snippet: &Snippet) -> Vec<Invocation> {
    let words = shell_words(&snippet.text);
    let mut out = vec![];
    for (i, word) in words.iter().enumerate() {
        let Word::Text(text) = word else { continue };
        if !runs(text, program) {
            continue;
        }
        let mut args = vec![];
        let mut rest = words[i + 1..].iter().peekable();
        while let Some(Word::Text(arg)) = rest.next() {
            match redirection(arg) {
                Some(true) => {
                    rest.next_if(|w| matches!(w, Word::Text(_)));
                }
                Some(false) => {}
                None => args.push(arg.clone()),
            }
        }
        out.push(Invocation {
            line: snippet.line,
            program: program.to_owned(),
            args,
        });
    }
    out
}

/// What a (sub)command's `--help` says it accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Help {
    /// Its subcommands (`Commands:`).
    pub subcommands: BTreeSet<String>,
    /// Its flags, long (`--registry`) and short (`-o`), each with whether it takes a value.
    pub flags: BTreeMap<String, bool>,
    /// What its usage line requires, when it has one usage line.
    pub usage: Option<Usage>,
}

/// What a usage line (`Usage: execenvctl keys create [OPTIONS] --name <NAME> <USER>`) requires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// The flags that must be given: each entry is one flag, or a group of which one must be
    /// (`<--user <USER>|--group <GROUP>>`).
    pub flags: Vec<Vec<String>>,
    /// How many positional arguments (or a subcommand, `<COMMAND>`) must be given.
    pub positionals: usize,
}

/// What the usage line `line` requires, after the command's own words.
pub fn parse_usage(line: &str) -> Usage {
    // Optional parts (`[OPTIONS]`, `[IMAGE]`, `[-- <COMMAND>...]`) require nothing.
    let mut required = String::new();
    let mut optional_depth = 0usize;
    for c in line.chars() {
        match c {
            '[' => optional_depth += 1,
            ']' => optional_depth = optional_depth.saturating_sub(1),
            c if optional_depth == 0 => required.push(c),
            _ => {}
        }
    }
    // Words, a `<…>` with what it nests being one word.
    let mut words = vec![];
    let mut current = String::new();
    let mut depth = 0usize;
    for c in required.chars() {
        match c {
            ' ' if depth == 0 => {
                words.extend((!current.is_empty()).then(|| std::mem::take(&mut current)))
            }
            '<' => {
                depth += 1;
                current.push(c);
            }
            '>' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            c => current.push(c),
        }
    }
    words.extend((!current.is_empty()).then_some(current));
    let mut usage = Usage::default();
    let mut words = words.into_iter().peekable();
    while let Some(word) = words.next() {
        if word.starts_with("--") {
            usage.flags.push(vec![word]);
            words.next_if(|w| w.starts_with('<'));
        } else if let Some(group) = word.strip_prefix("<--") {
            let group = format!("--{}", group.strip_suffix('>').unwrap_or(group));
            usage.flags.push(
                group
                    .split('|')
                    .filter_map(|alternative| alternative.split(' ').next())
                    .map(str::to_owned)
                    .collect(),
            );
        } else if word.starts_with('<') {
            usage.positionals += 1;
        }
    }
    usage
}

/// The subcommands and flags in the text a clap `--help` prints.
pub fn parse_help(text: &str) -> Help {
    let mut help = Help::default();
    let mut in_commands = false;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(usage) = line.strip_prefix("Usage: ") {
            // A second usage line is an alternative: what is required then depends on which.
            let alternatives = lines.peek().is_some_and(|next| next.starts_with("       "));
            if !alternatives {
                // The command's own words come before the first `[`, `<` or `-`.
                let start = usage.find([' ']).map_or(usage.len(), |i| i + 1);
                let after_words = usage[start..]
                    .split(' ')
                    .skip_while(|w| !w.starts_with(['[', '<', '-']))
                    .collect::<Vec<_>>()
                    .join(" ");
                help.usage = Some(parse_usage(&after_words));
            }
            continue;
        }
        if line.trim_end() == "Commands:" {
            in_commands = true;
            continue;
        }
        if in_commands {
            match line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
            {
                Some(name) if !line.trim().is_empty() => {
                    help.subcommands.insert(name.to_owned());
                }
                _ => in_commands = false,
            }
            continue;
        }
        // An option line is indented by at most 6 spaces; descriptions are indented further, and
        // a list of possible values starts with "- ".
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if indent == 0 || indent > 6 || !trimmed.starts_with('-') || trimmed.starts_with("- ") {
            continue;
        }
        let head = trimmed.split("  ").next().unwrap_or(trimmed);
        let takes_value = head.contains('<');
        for part in head.split(", ") {
            let name = part.split([' ', '=', '[']).next().unwrap_or(part);
            if name.len() > 1 {
                help.flags.insert(name.to_owned(), takes_value);
            }
        }
    }
    help
}

/// The `--help` of each (sub)command of the binaries in one folder, asked once each.
#[derive(Debug)]
pub struct HelpCache {
    bin_dir: PathBuf,
    seen: HashMap<(String, Vec<String>), Result<Help, String>>,
}

impl HelpCache {
    /// Asks the binaries in `bin_dir`.
    pub fn new(bin_dir: PathBuf) -> Self {
        HelpCache {
            bin_dir,
            seen: HashMap::new(),
        }
    }

    /// What `program path… --help` prints, parsed; an error when it does not exit 0.
    pub fn help(&mut self, program: &str, path: &[String]) -> Result<Help, String> {
        let key = (program.to_owned(), path.to_vec());
        if let Some(known) = self.seen.get(&key) {
            return known.clone();
        }
        let shown = command_name(program, path);
        let binary = self.bin_dir.join(program);
        let answer = Command::new(&binary)
            .args(path)
            .arg("--help")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))
            .and_then(|out| {
                if out.status.success() {
                    Ok(parse_help(&String::from_utf8_lossy(&out.stdout)))
                } else {
                    Err(format!(
                        "`{shown} --help` exited {}: {}",
                        out.status.code().unwrap_or(-1),
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                }
            });
        self.seen.insert(key, answer.clone());
        answer
    }

    /// The full text `program path… --help` prints (empty when it cannot run).
    pub fn text(&self, program: &str, path: &[String]) -> String {
        Command::new(self.bin_dir.join(program))
            .args(path)
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default()
    }
}

/// `execenvctl env create`, for messages.
fn command_name(program: &str, path: &[String]) -> String {
    std::iter::once(program)
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The flag an argument is (`--title` of `--title=T`, `-o`), if it is one.
fn flag_name(arg: &str) -> Option<&str> {
    if let Some(long) = arg.strip_prefix("--") {
        return (!long.is_empty()).then(|| arg.split('=').next().unwrap_or(arg));
    }
    let short = arg.strip_prefix('-')?;
    (short.len() == 1 && short.chars().all(|c| c.is_ascii_alphabetic())).then_some(arg)
}

/// What is wrong with `invocation` according to its program's `--help`: a subcommand that does
/// not exist (`program path… --help` does not exit 0, or the parent does not list it), a flag
/// that the (sub)command it is given to does not take (global flags are listed by every
/// subcommand), a required flag or positional argument missing (from the usage line).
/// Arguments after `--` (a command to run) are not checked; after an ellipsis (`…`, the rest
/// left out) nothing is, not even what is required.
pub fn check_invocation(invocation: &Invocation, helps: &mut HelpCache) -> Vec<String> {
    let program = invocation.program.as_str();
    let mut path: Vec<String> = vec![];
    let mut help = match helps.help(program, &path) {
        Ok(help) => help,
        Err(e) => return vec![e],
    };
    let mut problems = vec![];
    let mut given_flags = BTreeSet::new();
    let mut positionals = 0;
    let mut elided = false;
    let mut args = invocation.args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "…" || arg == "..." {
            elided = true;
            break;
        }
        if let Some(flag) = flag_name(arg) {
            given_flags.insert(flag.to_owned());
            match help.flags.get(flag) {
                None => problems.push(format!(
                    "`{}` has no flag {flag}",
                    command_name(program, &path)
                )),
                Some(true) if !arg.contains('=') => {
                    args.next();
                }
                Some(_) => {}
            }
            continue;
        }
        if help.subcommands.is_empty() {
            // A positional argument of a command without subcommands.
            positionals += 1;
            continue;
        }
        if !help.subcommands.contains(arg) {
            problems.push(format!(
                "`{}` has no subcommand {arg:?}; it has {}",
                command_name(program, &path),
                help.subcommands
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            break;
        }
        path.push(arg.clone());
        help = match helps.help(program, &path) {
            Ok(help) => help,
            Err(e) => {
                problems.push(e);
                return problems;
            }
        };
    }
    // A program named without arguments (`execenvctl`, `cli/execenvctl`) is a mention, not a
    // command; one asked for its help needs nothing else.
    let mention = invocation.args.is_empty();
    let asks_help = given_flags.contains("--help") || given_flags.contains("-h");
    if let Some(usage) = help
        .usage
        .as_ref()
        .filter(|_| !elided && !asks_help && !mention)
    {
        let shown = command_name(program, &path);
        for group in &usage.flags {
            if !group.iter().any(|flag| given_flags.contains(flag)) {
                problems.push(format!("`{shown}` needs {}", group.join(" or ")));
            }
        }
        if positionals < usage.positionals {
            problems.push(format!(
                "`{shown}` needs {} positional argument(s){}, given {positionals}",
                usage.positionals,
                if help.subcommands.is_empty() {
                    ""
                } else {
                    " (a subcommand)"
                }
            ));
        }
    }
    problems
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
