//! `execenvctl launch` and `execenvctl launches`: the requests from the flags, the launches the
//! launcher answers as views, and how they print. Pure: nothing here does network I/O.

use std::collections::HashMap;

use execenv_core::{Error, Installation};
use execenv_proto::launcher::v1 as pb;
pub use execenv_proto::views::{LaunchView, is_finished, succeeded};
use uuid::Uuid;

use crate::args::OutputFormat;
use crate::launch_args::{LaunchArgs, LaunchListArgs};
use crate::render::{self, GAP, NONE, key_values, or_none, table, time};
use crate::selection;

/// The request id for a launch: the one given, or a fresh UUID v4.
pub fn request_id(given: Option<&str>) -> String {
    given.map_or_else(|| Uuid::new_v4().to_string(), str::to_owned)
}

/// The `Launch` request for `launch build|run`: the content with its requirements (flags or the
/// manifest file, read as `select` reads them), the command, the variables and the resources.
pub fn launch_request(
    kind: pb::Kind,
    args: &LaunchArgs,
    command: &[String],
    request_id: String,
) -> Result<pb::LaunchRequest, Error> {
    let select = selection::select_request(&args.select)?;
    let settings = select.content.unwrap_or_default();
    let mut env = HashMap::new();
    for v in &args.env {
        if env.insert(v.name.clone(), v.value.clone()).is_some() {
            return Err(Error::invalid_field(
                "--env",
                format!("{} is given twice; give each variable once", v.name),
            ));
        }
    }
    let r = &args.resources;
    let resources = pb::Resources {
        cpu_request: r.cpu_request.clone(),
        cpu_limit: r.cpu_limit.clone(),
        memory_request: r.memory_request.clone(),
        memory_limit: r.memory_limit.clone(),
        gpu: r.gpu.clone(),
        ephemeral_storage_request: r.ephemeral_storage_request.clone(),
        ephemeral_storage_limit: r.ephemeral_storage_limit.clone(),
    };
    Ok(pb::LaunchRequest {
        request_id,
        kind: kind as i32,
        content: Some(pb::Content {
            guid: args.content.clone(),
            bundle: args.bundle.clone(),
            requirements: select.requirements,
            manifest_json: select.manifest_json,
            default_environment_guid: settings.default_environment_guid,
            default_image_name: settings.default_image_name,
        }),
        command: command.to_vec(),
        env,
        resources: (resources != pb::Resources::default()).then_some(resources),
        service_account: args.service_account.clone(),
        min_revision: select.min_revision,
    })
}

/// The `List` request for `launches list`.
pub fn list_request(a: &LaunchListArgs) -> pb::ListLaunchesRequest {
    pb::ListLaunchesRequest {
        content_guid: a.content.clone(),
        states: a.state.iter().map(|s| pb::State::from(*s) as i32).collect(),
        kind: a.kind.map_or(pb::Kind::Unspecified, pb::Kind::from) as i32,
    }
}

/// One launch as a `key: value` block: what it is, where it stands, where it runs and with what.
pub fn launch_block(l: &LaunchView) -> String {
    let one = |v: String| vec![v];
    let mut pairs = vec![
        ("id", one(l.id.clone())),
        ("kind", one(l.kind.clone())),
        ("state", one(l.state.clone())),
        ("reason", one(or_none(Some(&l.reason)))),
    ];
    if !l.message.is_empty() {
        pairs.push(("message", one(l.message.clone())));
    }
    pairs.push(("exit code", one(exit_code(l.exit_code))));
    pairs.push(("content", one(l.content_guid.clone())));
    pairs.push(("bundle", one(l.bundle.clone())));
    pairs.push(("environment", one(environment(l))));
    pairs.push(("image", one(or_none(Some(&l.image)))));
    pairs.push(("selected by", one(or_none(Some(&l.selected_by)))));
    pairs.push(("owner", one(or_none(Some(&l.owner_guid)))));
    let installed: Vec<Installation> = l
        .installations
        .iter()
        .map(|i| Installation {
            version: i.version.clone(),
            path: i.path.clone(),
        })
        .collect();
    for (i, line) in l
        .installations
        .iter()
        .zip(render::installation_lines(&installed))
    {
        pairs.push((i.language.as_str(), one(line)));
    }
    pairs.push(("backend", one(l.backend.clone())));
    if !l.job_name.is_empty() {
        pairs.push(("job", one(l.job_name.clone())));
    }
    if !l.namespace.is_empty() {
        pairs.push(("namespace", one(l.namespace.clone())));
    }
    if l.kind == "interactive" {
        pairs.push(("address", one(or_none(Some(&l.address)))));
        pairs.push(("restarts", one(l.restarts.to_string())));
    }
    for (key, t) in [
        ("created", &l.created_time),
        ("started", &l.started_time),
        ("ready", &l.ready_time),
        ("finished", &l.finished_time),
    ] {
        if key == "ready" && l.kind != "interactive" {
            continue;
        }
        pairs.push((key, one(t.as_ref().map_or_else(|| NONE.to_owned(), time))));
    }
    key_values(&pairs)
}

/// The `launches list` table.
pub fn launches_table(launches: &[LaunchView]) -> String {
    let rows: Vec<Vec<String>> = launches
        .iter()
        .map(|l| {
            let title = Some(l.environment_title.as_str()).filter(|t| !t.is_empty());
            vec![
                l.id.clone(),
                l.kind.clone(),
                l.state.clone(),
                or_none(Some(&l.reason)),
                exit_code(l.exit_code),
                or_none(title.or(Some(&l.image))),
                l.content_guid.clone(),
                l.bundle.clone(),
                l.created_time
                    .as_ref()
                    .map_or_else(|| NONE.to_owned(), time),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "KIND",
            "STATE",
            "REASON",
            "EXIT",
            "ENVIRONMENT",
            "CONTENT",
            "BUNDLE",
            "CREATED",
        ],
        &rows,
    )
}

/// One watched change as printed: in a table, a line (time, id, state, reason, message, exit
/// code); in json, the launch on one line; in yaml, a document of its own.
pub fn event_text(l: &LaunchView, format: OutputFormat) -> Result<String, Error> {
    match format {
        OutputFormat::Table => Ok(event_line(l) + "\n"),
        OutputFormat::Json => serde_json::to_string(l)
            .map(|line| line + "\n")
            .map_err(|e| Error::internal(format!("cannot write JSON: {e}"))),
        OutputFormat::Yaml => Ok(format!("---\n{}", render::document(l, format)?)),
    }
}

/// `TIME  ID  STATE  REASON  MESSAGE  exit N`; the time is the launch's latest (finished, else
/// started, else created), so a replayed state shows when it happened, not when it was received.
pub fn event_line(l: &LaunchView) -> String {
    let when = l.finished_time.or(l.started_time).or(l.created_time);
    let exit = l
        .exit_code
        .map_or_else(|| NONE.to_owned(), |c| format!("exit {c}"));
    [
        when.as_ref().map_or_else(|| NONE.to_owned(), time),
        l.id.clone(),
        l.state.clone(),
        or_none(Some(&l.reason)),
        or_none(Some(&l.message)),
        exit,
    ]
    .join(GAP)
}

/// How a finished launch ended, for the note below `launch --wait`.
pub fn outcome_note(l: &LaunchView) -> String {
    let mut note = format!("launch {} {}", l.id, l.state);
    let detail: Vec<&str> = [l.reason.as_str(), l.message.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if !detail.is_empty() {
        note.push_str(&format!(": {}", detail.join(": ")));
    }
    if let Some(code) = l.exit_code {
        note.push_str(&format!(" (exit code {code})"));
    }
    note
}

/// `Python 3.11 (<guid>)`, the guid alone without a title, or `-` before one was chosen.
fn environment(l: &LaunchView) -> String {
    match (
        l.environment_title.is_empty(),
        l.environment_guid.is_empty(),
    ) {
        (_, true) => or_none(Some(&l.environment_title)),
        (true, false) => l.environment_guid.clone(),
        (false, false) => format!("{} ({})", l.environment_title, l.environment_guid),
    }
}

fn exit_code(code: Option<i32>) -> String {
    code.map_or_else(|| NONE.to_owned(), |c| c.to_string())
}

#[cfg(test)]
#[path = "launch_tests.rs"]
mod tests;
