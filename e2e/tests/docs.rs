//! The documentation is tested like code: the configuration reference is what the binaries
//! print and lists every setting they read; every command the README, CONTRIBUTING.md and
//! docs/*.md show for an execenv binary has subcommands and flags its `--help` lists; the make
//! targets, scripts, binaries and `EXECENV_…` variables they name exist; their links lead to
//! files and headings of the repository. Needs the built binaries (`cargo build --workspace
//! --bins`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use execenv_e2e::docs::{
    self, HelpCache, Snippet, Word, check_invocation, documented_settings, execenv_variables,
    flattened_keys, invocations, relative_links, shell_snippets, shell_words,
};
use execenv_e2e::{bin_dir, binary};

/// Each service binary, and the arguments before `--print-config`/`--print-settings`, in the
/// order docs/configuration.md has them.
const SERVICES: [(&str, &[&str]); 6] = [
    ("execenv-environment-registry", &[]),
    ("execenv-config-sync", &["run"]),
    ("execenv-selector", &[]),
    ("execenv-launcher", &[]),
    ("execenv-gateway", &[]),
    ("execenv-image-examiner", &[]),
];

/// The folder of the built binaries, absolute (the script runs from the repository's root).
fn binaries() -> Result<PathBuf> {
    Ok(std::path::absolute(bin_dir())?)
}

fn read(root: &Path, page: &Path) -> Result<String> {
    std::fs::read_to_string(root.join(page)).with_context(|| format!("reading {}", page.display()))
}

/// Every page with its text.
fn pages() -> Result<Vec<(PathBuf, String)>> {
    let root = docs::repo_root();
    docs::pages(&root)?
        .into_iter()
        .map(|page| read(&root, &page).map(|text| (page, text)))
        .collect()
}

/// Runs `program args…` with no `EXECENV_…` variable of the test's environment, and returns
/// what it printed; fails unless it exits 0.
fn run_clean(program: &str, args: &[&str]) -> Result<String> {
    let mut command = Command::new(binary(program)?);
    command.args(args).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("EXECENV_") {
            command.env_remove(name);
        }
    }
    let out = command.output()?;
    ensure!(
        out.status.success(),
        "{program} {} exited {}: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn the_configuration_reference_is_what_the_binaries_print() -> Result<()> {
    let root = docs::repo_root();
    let out = Command::new(root.join("e2e/infra/config-reference"))
        .env("EXECENV_BIN_DIR", binaries()?)
        .stdin(Stdio::null())
        .output()?;
    ensure!(
        out.status.success(),
        "e2e/infra/config-reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout)?;
    let committed = read(&root, Path::new("docs/configuration.md"))?;
    if generated != committed {
        let fresh = tempfile::NamedTempFile::new()?;
        std::fs::write(fresh.path(), &generated)?;
        let diff = Command::new("diff")
            .arg("-u")
            .arg(root.join("docs/configuration.md"))
            .arg(fresh.path())
            .output()
            .map(|d| String::from_utf8_lossy(&d.stdout).into_owned())
            .unwrap_or_else(|e| format!("(diff could not run: {e})"));
        bail!(
            "docs/configuration.md is not what the binaries print (- committed, + printed):\n{diff}\n\
             Regenerate it with `make config-reference` (or `e2e/infra/config-reference > docs/configuration.md`)."
        );
    }
    Ok(())
}

#[test]
fn the_configuration_reference_lists_every_setting_each_service_prints() -> Result<()> {
    let reference = read(&docs::repo_root(), Path::new("docs/configuration.md"))?;
    let mut missing = vec![];
    for (program, args) in SERVICES {
        let printed = run_clean(program, &[args, &["--print-config"]].concat())?;
        let config: serde_json::Value = serde_json::from_str(&printed)
            .with_context(|| format!("{program} --print-config printed no JSON: {printed}"))?;
        let keys = flattened_keys(&config);
        ensure!(
            keys.len() >= 5,
            "{program} printed too few settings: {keys:?}"
        );
        let documented: BTreeSet<String> = documented_settings(&reference, program)
            .into_iter()
            .collect();
        missing.extend(
            keys.into_iter()
                .filter(|k| !documented.contains(k))
                .map(|k| format!("{program}: {k}")),
        );
    }
    ensure!(
        missing.is_empty(),
        "settings that --print-config shows but docs/configuration.md does not list:\n  {}\n\
         Give each a Setting entry in its service's config.rs, then run `make config-reference`.",
        missing.join("\n  ")
    );
    Ok(())
}

/// Checks every invocation of `programs` in the pages against their `--help`; returns how many
/// there were.
fn check_programs(programs: &[&str]) -> Result<usize> {
    let mut helps = HelpCache::new(binaries()?);
    let mut problems = vec![];
    let mut count = 0;
    for (page, text) in pages()? {
        for snippet in shell_snippets(&text) {
            for program in programs {
                for invocation in invocations(program, &snippet) {
                    count += 1;
                    for problem in check_invocation(&invocation, &mut helps) {
                        problems.push(format!(
                            "{}:{}: `{}`: {problem}",
                            page.display(),
                            invocation.line,
                            invocation.shown()
                        ));
                    }
                }
            }
        }
    }
    ensure!(
        problems.is_empty(),
        "commands in the docs that the binaries do not take (compare with their --help):\n{}",
        problems.join("\n")
    );
    Ok(count)
}

#[test]
fn every_execenvctl_command_in_the_docs_matches_its_help() -> Result<()> {
    let count = check_programs(&["execenvctl"])?;
    // The quick start alone has several; none found means the extraction is broken.
    ensure!(
        count >= 10,
        "only {count} execenvctl commands found in the docs"
    );
    Ok(())
}

#[test]
fn every_config_sync_command_in_the_docs_matches_its_help() -> Result<()> {
    let count = check_programs(&["execenv-config-sync"])?;
    ensure!(
        count >= 2,
        "only {count} execenv-config-sync commands found in the docs"
    );
    Ok(())
}

#[test]
fn every_service_binary_command_in_the_docs_matches_its_help() -> Result<()> {
    let count = check_programs(&[
        "execenv-environment-registry",
        "execenv-selector",
        "execenv-launcher",
        "execenv-gateway",
        "execenv-image-examiner",
        "execenv-content-runner",
    ])?;
    ensure!(
        count >= 2,
        "only {count} service commands found in the docs"
    );
    Ok(())
}

/// The targets the Makefile defines.
fn make_targets(makefile: &str) -> BTreeSet<String> {
    makefile
        .lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_make_target_script_and_binary_the_docs_run_exists() -> Result<()> {
    let root = docs::repo_root();
    let targets = make_targets(&read(&root, Path::new("Makefile"))?);
    let bins = binaries()?;
    let mut problems = vec![];
    for (page, text) in pages()? {
        for snippet in shell_snippets(&text) {
            let at = |what: String| format!("{}:{}: {what}", page.display(), snippet.line);
            for make in invocations("make", &snippet) {
                if let Some(target) = make.args.iter().find(|a| !a.starts_with('-'))
                    && !targets.contains(target)
                {
                    problems.push(at(format!("the Makefile has no target {target:?}")));
                }
            }
            for word in shell_words(&snippet.text) {
                let Word::Text(word) = word else { continue };
                if word.starts_with("e2e/infra/") && !root.join(&word).is_file() {
                    problems.push(at(format!("{word} does not exist")));
                }
                let built = word
                    .strip_prefix("target/debug/")
                    .or_else(|| word.strip_prefix("target/release/"));
                if let Some(name) = built
                    && !name.contains('/')
                    && !bins.join(name).is_file()
                {
                    problems.push(at(format!(
                        "{word}: no binary {name} is built (cargo build --workspace --bins)"
                    )));
                }
            }
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// Every `EXECENV_…` name in the files under `dir` (recursively) whose name ends in one of
/// `extensions` (an empty extension: files without one, such as scripts), except `skip`.
fn variables_in(
    dir: &Path,
    extensions: &[&str],
    skip: &[PathBuf],
    out: &mut BTreeSet<String>,
) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if skip.contains(&path) {
            continue;
        }
        if path.is_dir() {
            variables_in(&path, extensions, skip, out)?;
            continue;
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        if extensions.contains(&ext.as_str())
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            out.extend(execenv_variables(&text).into_keys());
        }
    }
    Ok(())
}

#[test]
fn every_execenv_variable_in_the_docs_is_one_the_project_reads() -> Result<()> {
    let root = docs::repo_root();
    // What exists: every setting's variable as the binaries print them, and every name the
    // sources, scripts and chart use (test and build variables, execenvctl's flags, deprecated
    // names still read) — except this test's own helper, which names variables as examples.
    let mut known = BTreeSet::new();
    for (program, args) in SERVICES {
        known.extend(
            execenv_variables(&run_clean(
                program,
                &[args, &["--print-settings"]].concat(),
            )?)
            .into_keys(),
        );
    }
    let skip = [root.join("e2e/src/docs.rs"), root.join("e2e/src/docs")];
    for dir in [
        "libs",
        "services",
        "cli",
        "runtime",
        "e2e/src",
        "e2e/infra",
        "charts",
    ] {
        variables_in(
            &root.join(dir),
            &["rs", "", "tpl", "yaml", "sh"],
            &skip,
            &mut known,
        )?;
    }
    known.extend(execenv_variables(&read(&root, Path::new("Makefile"))?).into_keys());

    let mut unknown: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (page, text) in pages()? {
        for (name, line) in execenv_variables(&text) {
            if !known.contains(&name) {
                unknown
                    .entry(name)
                    .or_default()
                    .push(format!("{}:{line}", page.display()));
            }
        }
    }
    ensure!(
        unknown.is_empty(),
        "variables the docs name that nothing reads (a typo, or a renamed setting):\n{}",
        unknown
            .iter()
            .map(|(name, at)| format!("  {name} ({})", at.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

#[test]
fn every_link_in_the_docs_leads_to_a_file_and_heading_of_the_repository() -> Result<()> {
    let root = docs::repo_root();
    let mut problems = vec![];
    for (page, text) in pages()? {
        if let Some(line) = text.lines().position(|l| l.contains("../shared")) {
            problems.push(format!(
                "{}:{}: points to ../shared, which a clone of the repository does not have",
                page.display(),
                line + 1
            ));
        }
        let folder = page.parent().unwrap_or(Path::new(""));
        for (line, target) in relative_links(&text) {
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                page.clone()
            } else {
                folder.join(path)
            };
            if !root.join(&file).exists() {
                problems.push(format!("{}:{line}: {target}: no such file", page.display()));
                continue;
            }
            if !anchor.is_empty() && file.extension().is_some_and(|e| e == "md") {
                let headings = docs::anchors(&read(&root, &file)?);
                if !headings.contains(anchor) {
                    problems.push(format!(
                        "{}:{line}: {target}: {} has no heading with anchor #{anchor}",
                        page.display(),
                        file.display()
                    ));
                }
            }
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[test]
fn the_readme_indexes_every_page() -> Result<()> {
    let root = docs::repo_root();
    let readme = read(&root, Path::new("README.md"))?;
    let linked: BTreeSet<String> = relative_links(&readme)
        .into_iter()
        .map(|(_, target)| target.split('#').next().unwrap_or_default().to_owned())
        .collect();
    let mut expected: Vec<String> = docs::pages(&root)?
        .into_iter()
        .filter(|p| p != Path::new("README.md"))
        .map(|p| p.display().to_string())
        .collect();
    expected.push("CHANGELOG.md".to_owned());
    let missing: Vec<&String> = expected.iter().filter(|p| !linked.contains(*p)).collect();
    ensure!(
        missing.is_empty(),
        "README.md does not link to {missing:?}; its index should list every page"
    );
    Ok(())
}

#[test]
fn the_readme_quick_start_shows_make_run_and_make_test() -> Result<()> {
    // The README's quick start names these; if they vanish from what the extraction finds, the
    // checks above check nothing.
    let readme = read(&docs::repo_root(), Path::new("README.md"))?;
    let snippets: Vec<Snippet> = shell_snippets(&readme);
    for expected in ["make run", "make test"] {
        ensure!(
            snippets.iter().any(|s| s.text.trim() == expected),
            "README.md has no `{expected}` command"
        );
    }
    Ok(())
}
