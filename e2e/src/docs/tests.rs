#![allow(clippy::unwrap_used)]

use super::help::flag_name;
use super::*;

fn texts(words: &[Word]) -> Vec<&str> {
    words
        .iter()
        .map(|w| match w {
            Word::Text(t) | Word::Operator(t) => t.as_str(),
        })
        .collect()
}

#[test]
fn shell_blocks_give_every_line_with_continuations_joined() {
    let page = "intro\n\n```sh\nexecenvctl env create IMG \\\n    --title \"T\"\nexecenvctl env list\n```\n";
    assert_eq!(
        shell_snippets(page),
        vec![
            Snippet {
                line: 4,
                text: "execenvctl env create IMG --title \"T\"".to_owned()
            },
            Snippet {
                line: 6,
                text: "execenvctl env list".to_owned()
            },
        ]
    );
}

#[test]
fn console_and_text_blocks_give_only_prompted_lines() {
    let page = "```console\n$ execenvctl select --python 3.8.1\nerror: no environment\n```\n\
                ```text\n$ execenvctl launches logs ID\nhello\n```\n";
    let lines: Vec<(usize, String)> = shell_snippets(page)
        .into_iter()
        .map(|s| (s.line, s.text))
        .collect();
    assert_eq!(
        lines,
        vec![
            (2, "execenvctl select --python 3.8.1".to_owned()),
            (6, "execenvctl launches logs ID".to_owned()),
        ]
    );
}

#[test]
fn other_blocks_give_nothing_and_inline_code_gives_each_span() {
    let page = "```yaml\nexecenvctl: not a command\n```\nRun `make run`, then\n`execenvctl env\nlist --managed` and `x`.\n";
    let lines: Vec<(usize, String)> = shell_snippets(page)
        .into_iter()
        .map(|s| (s.line, s.text))
        .collect();
    assert_eq!(
        lines,
        vec![
            (4, "make run".to_owned()),
            (5, "execenvctl env list --managed".to_owned()),
            (5, "x".to_owned()),
        ]
    );
}

#[test]
fn shell_words_honour_quotes_escapes_comments_and_operators() {
    let words = shell_words(
        r#"x=$(execenvctl -o json env create "A B" --title 'C D' --r-requires '>= 4.1' a\|b) && ls # execenvctl not"#,
    );
    assert_eq!(
        texts(&words),
        vec![
            "x=",
            "$(",
            "execenvctl",
            "-o",
            "json",
            "env",
            "create",
            "A B",
            "--title",
            "C D",
            "--r-requires",
            ">= 4.1",
            "a|b",
            ")",
            "&&",
            "ls"
        ]
    );
    assert_eq!(words[1], Word::Operator("$(".to_owned()));
    assert_eq!(words[7], Word::Text("A B".to_owned()));
}

#[test]
fn invocations_stop_at_operators_and_leave_out_redirections() {
    let snippet = Snippet {
        line: 9,
        text: "alias execenvctl=target/debug/execenvctl; target/debug/execenvctl env get <GUID> > out.json 2>&1 | jq .".to_owned(),
    };
    assert_eq!(
        invocations("execenvctl", &snippet),
        vec![Invocation {
            line: 9,
            program: "execenvctl".to_owned(),
            args: vec!["env".to_owned(), "get".to_owned(), "<GUID>".to_owned()],
        }]
    );
}

const HELP: &str = "List environments

Usage: execenvctl env [OPTIONS] <COMMAND>

Commands:
  list         List environments
  permissions  Manage who may use an environment
  help         Print this message

Options:
  -h, --help
          Print help (see a summary with '-h')

Global options:
      --registry <URL>
          gRPC address of the registry
          --not-a-flag in a description

  -o, --output <FORMAT>
          Output format

          Possible values:
          - table: Aligned columns
      --all
          Every page
";

#[test]
fn help_gives_subcommands_and_flags_with_whether_they_take_a_value() {
    let help = parse_help(HELP);
    assert_eq!(
        help.subcommands.iter().collect::<Vec<_>>(),
        ["help", "list", "permissions"]
    );
    assert_eq!(
        help.flags,
        BTreeMap::from([
            ("--all".to_owned(), false),
            ("--help".to_owned(), false),
            ("--output".to_owned(), true),
            ("--registry".to_owned(), true),
            ("-h".to_owned(), false),
            ("-o".to_owned(), true),
        ])
    );
}

#[test]
fn flags_are_told_from_values_and_placeholders() {
    assert_eq!(flag_name("--title=T"), Some("--title"));
    assert_eq!(flag_name("-o"), Some("-o"));
    assert_eq!(flag_name("-1"), None);
    assert_eq!(flag_name("--"), None);
    assert_eq!(flag_name("<GUID>"), None);
}

#[test]
fn the_settings_of_one_service_come_from_its_own_table() {
    let reference = "# Configuration\n\n## execenv-a\n\n| setting | variable | default | meaning |\n|---|---|---|---|\n\
                     | `server.grpc_addr` | `EXECENV_SERVER__GRPC_ADDR` | `x` | y |\n\n## execenv-b\n\n\
                     | setting | variable | default | meaning |\n|---|---|---|---|\n| `sync.file` | `EXECENV_SYNC__FILE` | `(unset)` | z |\n";
    assert_eq!(
        documented_settings(reference, "execenv-a"),
        ["server.grpc_addr"]
    );
    assert_eq!(documented_settings(reference, "execenv-b"), ["sync.file"]);
    assert!(documented_settings(reference, "execenv-c").is_empty());
}

#[test]
fn nested_objects_flatten_to_dotted_keys_and_lists_stay_whole() {
    let value = serde_json::json!({
        "server": {"grpc_addr": "0.0.0.0:1"},
        "kubernetes": {"image_pull_secrets": ["a"], "job_template": null},
        "limit": 3
    });
    let mut keys = flattened_keys(&value);
    keys.sort();
    assert_eq!(
        keys,
        [
            "kubernetes.image_pull_secrets",
            "kubernetes.job_template",
            "limit",
            "server.grpc_addr"
        ]
    );
}

#[test]
fn relative_links_and_heading_anchors_are_found_outside_code() {
    let page = "# The gateway (Connect-compatible)\n\nSee [launching](launching.md#local-backend), \
                [Posit](https://posit.co) and `[x](not-a-link.md)`.\n```md\n[y](in-code.md)\n```\n## `--print-config` and secrets\n";
    assert_eq!(
        relative_links(page),
        vec![(3, "launching.md#local-backend".to_owned())]
    );
    assert_eq!(
        anchors(page),
        BTreeSet::from([
            "--print-config-and-secrets".to_owned(),
            "the-gateway-connect-compatible".to_owned()
        ])
    );
}

#[test]
fn variables_are_found_and_patterns_are_not() {
    let text = "Set EXECENV_REGISTRY__URL (or `EXECENV_<SECTION>__<KEY>`, EXECENV_…);\nMY_EXECENV_X is not ours; EXECENV_SYNC__FILE=x.";
    assert_eq!(
        execenv_variables(text),
        BTreeMap::from([
            ("EXECENV_REGISTRY__URL".to_owned(), 1),
            ("EXECENV_SYNC__FILE".to_owned(), 2),
        ])
    );
}

#[test]
fn a_usage_line_gives_the_required_flags_groups_and_positionals() {
    assert_eq!(
        parse_usage("[OPTIONS] --name <NAME> <USER>"),
        Usage {
            flags: vec![vec!["--name".to_owned()]],
            positionals: 1
        }
    );
    assert_eq!(
        parse_usage("[OPTIONS] <--user <USER>|--group <GROUP>> <GUID>"),
        Usage {
            flags: vec![vec!["--user".to_owned(), "--group".to_owned()]],
            positionals: 1
        }
    );
    assert_eq!(
        parse_usage("[OPTIONS] --content <GUID> --bundle <ID> [-- <COMMAND>...]"),
        Usage {
            flags: vec![vec!["--content".to_owned()], vec!["--bundle".to_owned()]],
            positionals: 0
        }
    );
    assert_eq!(parse_usage("[OPTIONS] [IMAGE]"), Usage::default());
}

#[test]
fn help_reads_one_usage_line_and_ignores_alternatives() {
    let one =
        parse_help("Usage: execenvctl keys create [OPTIONS] --name <NAME> <USER>\n\nOptions:\n");
    assert_eq!(
        one.usage,
        Some(Usage {
            flags: vec![vec!["--name".to_owned()]],
            positionals: 1
        })
    );
    let two = parse_help("Usage: tool [OPTIONS] <FILE>\n       tool <COMMAND>\n\nOptions:\n");
    assert_eq!(two.usage, None);
}
