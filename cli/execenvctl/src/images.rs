//! `execenvctl image examine` and `execenvctl env drift`: the image examiner's answers. What an
//! image holds is shown as a block for people, as a declarative-file entry (`-o yaml`, preceded by
//! comments naming the digest and every note) or as the gateway's JSON (`-o json`); environments'
//! checks as a table, or one environment's findings. `env drift` exits 3 when an environment
//! shown needs attention, so scripts and CI can watch for drift.

use chrono::{DateTime, Utc};
use execenv_core::examine::CheckState;
use execenv_core::{Error, ErrorKind};
use execenv_proto::examiner::v1 as pb;
use execenv_proto::views::examiner::{CheckView, ChecksView, ExamineView};

use crate::args::OutputFormat;
use crate::image_args::{DriftArgs, ExamineArgs, ImageCommand};
use crate::render::{self, NONE, key_values, or_none, table};
use crate::report::Report;
use crate::session::Session;

/// The exit code of `env drift` when an environment is in drift or its image unreadable.
pub const DRIFT_EXIT_CODE: u8 = 3;

/// Runs `image …`.
pub async fn image(session: &Session, command: ImageCommand) -> Result<Report, Error> {
    match command {
        ImageCommand::Examine(a) => examine(session, &a).await,
    }
}

async fn examine(session: &Session, args: &ExamineArgs) -> Result<Report, Error> {
    let request = examine_request(args);
    let answer = session
        .examiner()
        .await?
        .call(|mut c| async move { c.examine(request).await })
        .await?;
    let view = ExamineView::try_from(answer)?;
    match session.output() {
        OutputFormat::Table => Ok(Report {
            stdout: examination_block(&view, Utc::now()),
            note: Some("-o yaml prints a definition for the declarative file".to_owned()),
            exit_code: 0,
        }),
        OutputFormat::Yaml => Ok(Report::text(definition_entry(&view)?)),
        OutputFormat::Json => Ok(Report::text(render::document(&view, OutputFormat::Json)?)),
    }
}

/// The examiner's request for `image examine`.
pub fn examine_request(args: &ExamineArgs) -> pb::ExamineRequest {
    pb::ExamineRequest {
        image: args.reference.trim().to_owned(),
        platform: args.platform.clone().unwrap_or_default(),
        refresh: args.refresh,
    }
}

/// The definition as one entry of the declarative file (a YAML list item), preceded by
/// `# examined DIGEST (PLATFORM)` and one `# note: …` line per note.
pub fn definition_entry(view: &ExamineView) -> Result<String, Error> {
    let e = &view.examination;
    let mut out = format!("# examined {} ({})\n", e.digest, e.platform);
    for note in &e.notes {
        out.push_str(&format!("# note: {}\n", one_line(note)));
    }
    out.push_str(&render::document(&[&view.definition], OutputFormat::Yaml)?);
    Ok(out)
}

/// What an image holds, for people: where it was read from, each installation, each note.
pub fn examination_block(view: &ExamineView, now: DateTime<Utc>) -> String {
    let e = &view.examination;
    let examined = match e.examined_time {
        Some(t) => format!(
            "{} ({}{})",
            render::time(&t),
            ago(t, now),
            if e.cached {
                ", from the examiner's cache"
            } else {
                ""
            }
        ),
        None => NONE.to_owned(),
    };
    let rows: Vec<Vec<String>> = e
        .installations
        .iter()
        .map(|i| {
            vec![
                i.language.clone(),
                or_none(i.version.as_deref()),
                i.path.clone(),
                i.version_file
                    .clone()
                    .or_else(|| i.problem.clone())
                    .unwrap_or_else(|| NONE.to_owned()),
            ]
        })
        .collect();
    let installations = if rows.is_empty() {
        vec![NONE.to_owned()]
    } else {
        table(&["LANGUAGE", "VERSION", "PATH", "VERSION FILE"], &rows)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let notes = e.notes.iter().map(|n| one_line(n)).collect();
    key_values(&[
        ("image", vec![e.image.clone()]),
        ("digest", vec![e.digest.clone()]),
        ("platform", vec![e.platform.clone()]),
        ("examined", vec![examined]),
        (
            "layers",
            vec![format!("{} ({})", e.layers, size(e.layer_bytes))],
        ),
        ("installations", installations),
        ("notes", notes),
        (
            "suggested title",
            vec![or_none(view.definition.title.as_deref())],
        ),
    ])
}

/// Runs `env drift`: every environment's check, or one environment's.
pub async fn drift(session: &Session, args: &DriftArgs) -> Result<Report, Error> {
    let format = session.output();
    let examiner = session.examiner().await?;
    if args.now {
        examiner
            .call(|mut c| async move { c.check_now(pb::CheckNowRequest {}).await })
            .await?;
    }
    let list = || async {
        let answer = examiner
            .call(|mut c| async move { c.list_checks(pb::ListChecksRequest {}).await })
            .await?;
        ChecksView::try_from(answer)
    };
    let Some(wanted) = args.environment.as_deref().map(str::trim) else {
        return checks_report(&list().await?, format, Utc::now());
    };
    let check = if uuid::Uuid::parse_str(wanted).is_ok() {
        let request = pb::GetCheckRequest {
            guid: wanted.to_owned(),
        };
        CheckView::try_from(
            examiner
                .call(|mut c| async move { c.get_check(request).await })
                .await?,
        )?
    } else {
        by_name(list().await?, wanted)?
    };
    check_report(&check, format, Utc::now())
}

/// The one check of the environment whose image is `name`.
pub fn by_name(checks: ChecksView, name: &str) -> Result<CheckView, Error> {
    let mut found: Vec<CheckView> = checks
        .checks
        .into_iter()
        .filter(|c| c.image == name)
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "no environment has the image {name}; `execenvctl env drift` lists every environment with its image"
            ),
        )),
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} environments have the image {name} ({}); give the guid of one",
                found.len(),
                found
                    .iter()
                    .map(|c| c.guid.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Every check as a table (with a summary as the note), or the whole list as a document; exit
/// code 3 when one needs attention.
pub fn checks_report(
    view: &ChecksView,
    format: OutputFormat,
    now: DateTime<Utc>,
) -> Result<Report, Error> {
    let attention = view.checks.iter().any(CheckView::needs_attention);
    let mut report = match format {
        OutputFormat::Table => Report {
            stdout: checks_table(&view.checks, now),
            note: Some(checks_summary(view)),
            exit_code: 0,
        },
        _ => Report::text(render::document(view, format)?),
    };
    if attention {
        report.exit_code = DRIFT_EXIT_CODE;
    }
    Ok(report)
}

/// One check as a block (or a document); exit code 3 when it needs attention.
pub fn check_report(
    check: &CheckView,
    format: OutputFormat,
    now: DateTime<Utc>,
) -> Result<Report, Error> {
    let mut report = Report::one(check, format, |c| check_block(c, now))?;
    if check.needs_attention() {
        report.exit_code = DRIFT_EXIT_CODE;
    }
    Ok(report)
}

/// The `env drift` table: title, image, state, short digest, findings, when checked.
pub fn checks_table(checks: &[CheckView], now: DateTime<Utc>) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                or_none(c.title.as_deref()),
                c.image.clone(),
                c.state.as_str().to_owned(),
                c.digest.as_deref().map_or_else(|| NONE.to_owned(), short),
                findings_count(c),
                c.checked_time
                    .map_or_else(|| NONE.to_owned(), |t| ago(t, now)),
            ]
        })
        .collect();
    table(
        &["TITLE", "IMAGE", "STATE", "DIGEST", "FINDINGS", "CHECKED"],
        &rows,
    )
}

/// `3 environments: 1 ok, 1 drift, 1 unreadable; checked every 300 s`, and what to do next when
/// one needs attention.
pub fn checks_summary(view: &ChecksView) -> String {
    let n = view.checks.len();
    let counts: Vec<String> = CheckState::ALL
        .iter()
        .filter_map(|s| {
            let k = view.checks.iter().filter(|c| c.state == *s).count();
            (k > 0).then(|| format!("{k} {}", s.as_str()))
        })
        .collect();
    let mut out = format!(
        "{n} environment{}{}{}; checked every {} s",
        if n == 1 { "" } else { "s" },
        if counts.is_empty() { "" } else { ": " },
        counts.join(", "),
        view.interval_seconds
    );
    if view.checks.iter().any(CheckView::needs_attention) {
        out.push_str(
            "\nan environment is in drift or its image unreadable (exit code 3); \
             `execenvctl env drift GUID` shows why",
        );
    }
    out
}

/// One environment's check for people, each finding on its own line.
pub fn check_block(c: &CheckView, now: DateTime<Utc>) -> String {
    let when = |t: Option<DateTime<Utc>>| {
        vec![t.map_or_else(
            || NONE.to_owned(),
            |t| format!("{} ({})", render::time(&t), ago(t, now)),
        )]
    };
    let findings: Vec<String> = c
        .findings
        .iter()
        .map(|f| {
            let label = if f.drift { "drift " } else { "notice" };
            format!("{label}  {}", one_line(&f.message))
        })
        .collect();
    let mut pairs = vec![
        ("guid", vec![c.guid.clone()]),
        ("title", vec![or_none(c.title.as_deref())]),
        ("image", vec![c.image.clone()]),
        ("state", vec![c.state.as_str().to_owned()]),
        ("digest", vec![or_none(c.digest.as_deref())]),
        (
            "previous digest",
            vec![or_none(c.previous_digest.as_deref())],
        ),
        ("checked", when(c.checked_time)),
        ("state changed", when(c.state_changed_time)),
        ("revision", vec![c.revision.to_string()]),
    ];
    if let Some(u) = &c.unreadable {
        pairs.push((
            "unreadable",
            vec![format!("{}: {}", u.kind.as_str(), one_line(&u.message))],
        ));
    }
    pairs.push(("findings", findings));
    key_values(&pairs)
}

/// `2 (1 drift)`, `1`, `0`.
fn findings_count(c: &CheckView) -> String {
    match (c.findings.len(), c.drift_count()) {
        (n, 0) => n.to_string(),
        (n, d) => format!("{n} ({d} drift)"),
    }
}

/// The digest as people compare them: its algorithm dropped, 12 hex digits.
pub fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// How long before `now` `t` was: `just now`, `40s ago`, `5m ago`, `3h ago`, `2d ago`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    match s {
        ..=0 => "just now".to_owned(),
        1..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// Bytes as people read sizes: `812 B`, `4.2 MB`, `1.3 GB` (powers of 1000).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A sentence on one line (a comment or a table cell must not be broken).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
