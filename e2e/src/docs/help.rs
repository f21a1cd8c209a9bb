//! What a clap binary's `--help` says it accepts ([`parse_help`], asked once per (sub)command by
//! [`HelpCache`]) and whether an invocation in the docs fits it ([`check_invocation`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::commands::Invocation;

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
}

/// `execenvctl env create`, for messages.
fn command_name(program: &str, path: &[String]) -> String {
    std::iter::once(program)
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The flag an argument is (`--title` of `--title=T`, `-o`), if it is one.
pub(super) fn flag_name(arg: &str) -> Option<&str> {
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
