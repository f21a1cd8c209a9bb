//! Running a command: each group of commands has its module (`environments`, `accounts`,
//! `launcher`); `select`, `explain` and `sync` are short enough to live here. The caller prints
//! the [`Report`]; only streams (watched launches, logs) are written as they arrive, to the writer
//! [`run_to`] is given.

use std::io::Write;

use execenv_core::Error;
use execenv_proto::sync::v1 as sync_pb;
use execenv_proto::views::SyncStatus;

use crate::accounts;
use crate::args::OutputFormat;
use crate::audit;
use crate::bundles;
use crate::cli::{Cli, Command, SyncCommand};
use crate::environments;
use crate::images;
use crate::launcher::{self, Sink};
use crate::report::Report;
use crate::select_args::SelectArgs;
use crate::selection::{self, ExplanationView, SelectionView};
use crate::session::Session;
use crate::sync::{self, SyncPlan};

/// Runs one command (see [`run_to`]), streams going to stdout.
pub async fn run(cli: Cli) -> Result<Report, Error> {
    run_to(cli, &mut std::io::stdout()).await
}

/// Runs one command against the registry (or, for `sync`, config-sync; for `select` and
/// `explain`, the selector; for `launch` and `launches`, the launcher; for `image` and
/// `env drift`, the image examiner). What streams is written to
/// `out` as it arrives.
pub async fn run_to(cli: Cli, out: &mut dyn Write) -> Result<Report, Error> {
    let session = Session::new(cli.global);
    let format = session.output();
    match cli.command {
        Command::Env(c) => environments::env(&session, c).await,
        Command::Changes(a) => environments::changes(&session, &a).await,
        Command::Audit(c) => audit::audit(&session, c).await,
        Command::Sync(c) => run_sync(&session, c, format).await,
        Command::Select(a) => select(&session, &a, format, false).await,
        Command::Explain(a) => select(&session, &a, format, true).await,
        Command::Launch(c) => launcher::launch(&session, &c, &mut Sink::new(out)).await,
        Command::Launches(c) => launcher::launches(&session, c, &mut Sink::new(out)).await,
        Command::Users(c) => accounts::users(&session, c).await,
        Command::Groups(c) => accounts::groups(&session, c).await,
        Command::Keys(c) => accounts::keys(&session, c).await,
        Command::Bundle(c) => bundles::bundle(&session, c).await,
        Command::Image(c) => images::image(&session, c).await,
    }
}

/// `select` (the choice), or with `explain`, every environment's verdict.
async fn select(
    session: &Session,
    args: &SelectArgs,
    format: OutputFormat,
    explain: bool,
) -> Result<Report, Error> {
    let request = selection::select_request(args)?;
    let selector = session.selector().await?;
    if explain {
        let answer = selector
            .call(|mut c| async move { c.explain(request).await })
            .await
            .map_err(selection::selection_failure)?;
        let view = ExplanationView::try_from(answer)?;
        return Report::one(&view, format, selection::explanation_table);
    }
    let answer = selector
        .call(|mut c| async move { c.select(request).await })
        .await
        .map_err(selection::selection_failure)?;
    Report::one(
        &SelectionView::try_from(answer)?,
        format,
        selection::selection_block,
    )
}

async fn run_sync(
    session: &Session,
    command: SyncCommand,
    format: OutputFormat,
) -> Result<Report, Error> {
    let config_sync = session.config_sync().await?;
    match command {
        SyncCommand::Status => {
            let status = config_sync
                .call(|mut c| async move { c.status(sync_pb::StatusRequest {}).await })
                .await?;
            Report::one(&SyncStatus::try_from(status)?, format, sync::status_block)
        }
        SyncCommand::Plan => {
            let plan = config_sync
                .call(|mut c| async move { c.plan(sync_pb::PlanRequest {}).await })
                .await?;
            Report::one(&SyncPlan::from(plan), format, sync::plan_summary)
        }
    }
}

#[cfg(test)]
#[path = "commands_sync_tests.rs"]
mod sync_tests;

#[cfg(test)]
#[path = "commands_selector_tests.rs"]
mod selector_tests;

#[cfg(test)]
#[path = "commands_launcher_tests.rs"]
mod launcher_tests;

#[cfg(test)]
#[path = "commands_launches_tests.rs"]
mod launches_tests;
