//! Running a command: build the request (pure, tested), make one gRPC call (or one per page),
//! render the answer. The caller prints the [`Report`]; only streams (watched launches, logs) are
//! written as they arrive, to the writer [`run_to`] is given.

use std::io::Write;

use execenv_core::{Environment, Error, Language, Matching, Permission};
use execenv_proto::convert::timestamp;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::sync::v1 as sync_pb;

use crate::accounts;
use crate::args::{
    ChangesArgs, Cli, Command, CreateArgs, EnvCommand, GlobalArgs, LanguageArg, ListArgs,
    OutputFormat, PermissionAddArgs, PermissionsCommand, SelectArgs, SortArg, SyncCommand,
    UpdateArgs,
};
use crate::connection::{ConfigSync, Registry, Selector};
use crate::launcher::{self, Sink};
use crate::render::{self, ChangeView, EnvironmentList};
use crate::selection::{self, ExplanationView, SelectionView};
use crate::spec;
use crate::sync::{SyncPlan, SyncStatus};

/// What a command prints: its result on stdout and an optional note (counts, next page) on stderr,
/// and how the process exits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The result.
    pub stdout: String,
    /// A line for people, kept off stdout so scripts can parse the result.
    pub note: Option<String>,
    /// The process exit code: 0, or 1 when the command worked but what it waited for failed
    /// (`launch --wait`).
    pub exit_code: u8,
}

impl Report {
    /// Just a result, exit code 0.
    pub fn text(stdout: impl Into<String>) -> Self {
        Report {
            stdout: stdout.into(),
            ..Report::default()
        }
    }
}

/// Runs one command (see [`run_to`]), streams going to stdout.
pub async fn run(cli: Cli) -> Result<Report, Error> {
    run_to(cli, &mut std::io::stdout()).await
}

/// Runs one command against the registry (or, for `sync`, config-sync; for `select` and
/// `explain`, the selector; for `launch` and `launches`, the launcher). What streams is written to
/// `out` as it arrives.
pub async fn run_to(cli: Cli, out: &mut dyn Write) -> Result<Report, Error> {
    let format = cli.global.output;
    // Local problems (bad files, nothing to update) are reported before connecting.
    match cli.command {
        Command::Env(EnvCommand::Create(a)) => {
            let request = create_request(&a)?;
            let mut registry = Registry::connect(&cli.global).await?;
            let created = registry
                .call(|mut c| async move { c.create_environment(request).await })
                .await?;
            environment_report(environment(created)?, format)
        }
        Command::Env(EnvCommand::Update(a)) => {
            let request = update_request(&a)?;
            let mut registry = Registry::connect(&cli.global).await?;
            let updated = registry
                .call(|mut c| async move { c.update_environment(request).await })
                .await?;
            environment_report(environment(updated)?, format)
        }
        Command::Env(EnvCommand::List(a)) => {
            let registry = Registry::connect(&cli.global).await?;
            list(registry, &a, format).await
        }
        Command::Env(EnvCommand::Get { guid }) => {
            let mut registry = Registry::connect(&cli.global).await?;
            let request = reg::GetEnvironmentRequest { guid };
            let found = registry
                .call(|mut c| async move { c.get_environment(request).await })
                .await?;
            environment_report(environment(found)?, format)
        }
        Command::Env(EnvCommand::Delete {
            guid,
            expected_revision,
        }) => {
            let mut registry = Registry::connect(&cli.global).await?;
            let request = reg::DeleteEnvironmentRequest {
                guid: guid.clone(),
                expected_revision: expected_revision.unwrap_or(0),
            };
            registry
                .call(|mut c| async move { c.delete_environment(request).await })
                .await?;
            Ok(Report::text(format!("deleted environment {guid}\n")))
        }
        Command::Env(EnvCommand::Permissions(p)) => {
            let registry = Registry::connect(&cli.global).await?;
            permissions(registry, p, format).await
        }
        Command::Changes(a) => {
            let registry = Registry::connect(&cli.global).await?;
            changes(registry, &a, format).await
        }
        Command::Sync(c) => {
            let config_sync = ConfigSync::connect(&cli.global).await?;
            sync(config_sync, c, format).await
        }
        Command::Select(a) => select(&cli.global, &a, format).await,
        Command::Explain(a) => explain(&cli.global, &a, format).await,
        Command::Launch(c) => launcher::launch(&cli.global, &c, &mut Sink::new(out)).await,
        Command::Launches(c) => launcher::launches(&cli.global, c, &mut Sink::new(out)).await,
        Command::Users(c) => accounts::users(&cli.global, c).await,
        Command::Groups(c) => accounts::groups(&cli.global, c).await,
        Command::Keys(c) => accounts::keys(&cli.global, c).await,
    }
}

async fn select(
    global: &GlobalArgs,
    args: &SelectArgs,
    format: OutputFormat,
) -> Result<Report, Error> {
    let request = selection::select_request(args)?;
    let mut selector = Selector::connect(global).await?;
    let answer = selector
        .call(|mut c| async move { c.select(request).await })
        .await
        .map_err(selection::selection_failure)?;
    let view = SelectionView::try_from(answer)?;
    match format {
        OutputFormat::Table => Ok(Report::text(selection::selection_block(&view))),
        _ => Ok(Report::text(render::document(&view, format)?)),
    }
}

async fn explain(
    global: &GlobalArgs,
    args: &SelectArgs,
    format: OutputFormat,
) -> Result<Report, Error> {
    let request = selection::select_request(args)?;
    let mut selector = Selector::connect(global).await?;
    let answer = selector
        .call(|mut c| async move { c.explain(request).await })
        .await
        .map_err(selection::selection_failure)?;
    let view = ExplanationView::try_from(answer)?;
    match format {
        OutputFormat::Table => Ok(Report::text(selection::explanation_table(&view))),
        _ => Ok(Report::text(render::document(&view, format)?)),
    }
}

async fn sync(
    mut config_sync: ConfigSync,
    command: SyncCommand,
    format: OutputFormat,
) -> Result<Report, Error> {
    match command {
        SyncCommand::Status => {
            let status = config_sync
                .call(|mut c| async move { c.status(sync_pb::StatusRequest {}).await })
                .await?;
            let status = SyncStatus::from(status);
            match format {
                OutputFormat::Table => Ok(Report::text(crate::sync::status_block(&status))),
                _ => Ok(Report::text(render::document(&status, format)?)),
            }
        }
        SyncCommand::Plan => {
            let plan = config_sync
                .call(|mut c| async move { c.plan(sync_pb::PlanRequest {}).await })
                .await?;
            let plan = SyncPlan::from(plan);
            match format {
                OutputFormat::Table => Ok(Report::text(crate::sync::plan_summary(&plan))),
                _ => Ok(Report::text(render::document(&plan, format)?)),
            }
        }
    }
}

async fn list(
    mut registry: Registry,
    args: &ListArgs,
    format: OutputFormat,
) -> Result<Report, Error> {
    let mut request = list_request(args);
    let mut environments = Vec::new();
    loop {
        let page_request = request.clone();
        let page = registry
            .call(|mut c| async move { c.list_environments(page_request).await })
            .await?;
        for e in page.environments {
            environments.push(environment(e)?);
        }
        let more = next_page(&request.page_token, &page.next_page_token, args.all)?;
        if !more {
            let list = EnvironmentList {
                environments,
                total_count: page.total_count,
                next_page_token: page.next_page_token,
            };
            return list_report(&list, format);
        }
        request.page_token = page.next_page_token;
    }
}

fn list_report(list: &EnvironmentList, format: OutputFormat) -> Result<Report, Error> {
    if format != OutputFormat::Table {
        return Ok(Report::text(render::document(list, format)?));
    }
    Ok(Report {
        stdout: render::environments_table(&list.environments),
        note: Some(render::list_footer(
            list.environments.len(),
            Some(list.total_count),
            "environments",
            &list.next_page_token,
        )),
        exit_code: 0,
    })
}

async fn permissions(
    mut registry: Registry,
    command: PermissionsCommand,
    format: OutputFormat,
) -> Result<Report, Error> {
    match command {
        PermissionsCommand::List { guid } => {
            let request = reg::ListPermissionsRequest {
                environment_guid: guid,
            };
            let listed = registry
                .call(|mut c| async move { c.list_permissions(request).await })
                .await?;
            let list = listed
                .permissions
                .into_iter()
                .map(permission)
                .collect::<Result<Vec<_>, _>>()?;
            permissions_report(&list, format)
        }
        PermissionsCommand::Add(a) => {
            let request = add_permission_request(a);
            let added = registry
                .call(|mut c| async move { c.add_permission(request).await })
                .await?;
            let added = permission(added)?;
            if format == OutputFormat::Table {
                permissions_report(std::slice::from_ref(&added), format)
            } else {
                Ok(Report::text(render::document(&added, format)?))
            }
        }
        PermissionsCommand::Remove {
            guid,
            permission_guid,
        } => {
            let request = reg::RemovePermissionRequest {
                environment_guid: guid.clone(),
                permission_guid: permission_guid.clone(),
            };
            registry
                .call(|mut c| async move { c.remove_permission(request).await })
                .await?;
            Ok(Report::text(format!(
                "removed permission {permission_guid} from environment {guid}\n"
            )))
        }
    }
}

fn permissions_report(list: &[Permission], format: OutputFormat) -> Result<Report, Error> {
    match format {
        OutputFormat::Table => Ok(Report {
            stdout: render::permissions_table(list),
            note: list.is_empty().then(|| {
                "no permission entries: every publisher may use this environment".to_owned()
            }),
            exit_code: 0,
        }),
        _ => Ok(Report::text(render::document(&list, format)?)),
    }
}

async fn changes(
    mut registry: Registry,
    args: &ChangesArgs,
    format: OutputFormat,
) -> Result<Report, Error> {
    let mut request = changes_request(args);
    let mut changes = Vec::new();
    loop {
        let page_request = request.clone();
        let page = registry
            .call(|mut c| async move { c.list_changes(page_request).await })
            .await?;
        changes.extend(page.changes.into_iter().map(ChangeView::from));
        if !next_page(&request.page_token, &page.next_page_token, args.all)? {
            if format != OutputFormat::Table {
                return Ok(Report::text(render::document(&changes, format)?));
            }
            return Ok(Report {
                stdout: render::changes_table(&changes),
                note: Some(render::list_footer(
                    changes.len(),
                    None,
                    "changes",
                    &page.next_page_token,
                )),
                exit_code: 0,
            });
        }
        request.page_token = page.next_page_token;
    }
}

/// Whether to fetch another page; fails when the registry hands back the token it was given
/// (which would loop forever).
fn next_page(current: &str, next: &str, all: bool) -> Result<bool, Error> {
    if !all || next.is_empty() {
        return Ok(false);
    }
    if next == current {
        return Err(Error::internal(format!(
            "the registry returned page token {next:?} for the page it names; stopping instead of looping"
        )));
    }
    Ok(true)
}

fn environment_report(e: Environment, format: OutputFormat) -> Result<Report, Error> {
    match format {
        OutputFormat::Table => Ok(Report::text(render::environment_block(&e))),
        _ => Ok(Report::text(render::document(&e, format)?)),
    }
}

/// The `CreateEnvironment` request for `env create`, from flags or from `--file`.
pub fn create_request(args: &CreateArgs) -> Result<reg::CreateEnvironmentRequest, Error> {
    let draft = match (&args.file, &args.image) {
        (Some(path), _) => {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::invalid_field("--file", format!("cannot read {origin}: {e}"))
            })?;
            spec::parse_file(&text, spec::is_json(&origin, &text), &origin)?
        }
        (None, Some(image)) => spec::create_draft(image, args.guid.as_deref(), &args.fields),
        (None, None) => {
            return Err(Error::invalid_field(
                "IMAGE",
                "is required: give the container image or --file FILE",
            ));
        }
    };
    Ok(reg::CreateEnvironmentRequest {
        environment: Some(pb::EnvironmentSpec::from(&draft)),
    })
}

/// The `UpdateEnvironment` request for `env update`: only the given fields, named in the mask.
pub fn update_request(args: &UpdateArgs) -> Result<reg::UpdateEnvironmentRequest, Error> {
    let update = spec::build_update(&args.fields, &args.clear)?;
    Ok(reg::UpdateEnvironmentRequest {
        guid: args.guid.clone(),
        environment: Some(pb::EnvironmentSpec::from(&update.draft)),
        update_mask: Some(prost_types::FieldMask { paths: update.mask }),
        expected_revision: args.expected_revision.unwrap_or(0),
    })
}

/// The first `ListEnvironments` request for `env list`.
pub fn list_request(a: &ListArgs) -> reg::ListEnvironmentsRequest {
    let language = a.language.map(|l| match l {
        LanguageArg::Python => Language::Python,
        LanguageArg::R => Language::R,
        LanguageArg::Quarto => Language::Quarto,
        LanguageArg::Tensorflow => Language::Tensorflow,
    });
    let sort = match a.sort {
        None => reg::SortField::Unspecified,
        Some(SortArg::Title) => reg::SortField::Title,
        Some(SortArg::Name) => reg::SortField::Name,
        Some(SortArg::Created) => reg::SortField::Created,
        Some(SortArg::Updated) => reg::SortField::Updated,
        Some(SortArg::Matching) => reg::SortField::Matching,
        Some(SortArg::Python) => reg::SortField::PythonVersion,
        Some(SortArg::R) => reg::SortField::RVersion,
        Some(SortArg::Quarto) => reg::SortField::QuartoVersion,
    };
    reg::ListEnvironmentsRequest {
        search: a.search.clone().unwrap_or_default(),
        name: a.name.clone(),
        matching: a.matching.map(|m| Matching::from(m).as_str().to_owned()),
        managed: if a.managed {
            Some(true)
        } else if a.unmanaged {
            Some(false)
        } else {
            None
        },
        language: language.map(|l| l.as_str().to_owned()),
        language_version: a.language_version.clone(),
        sort: sort as i32,
        descending: a.desc,
        page_size: a.page_size.unwrap_or(0),
        page_token: a.page_token.clone().unwrap_or_default(),
    }
}

/// The first `ListChanges` request for `changes`.
pub fn changes_request(a: &ChangesArgs) -> reg::ListChangesRequest {
    reg::ListChangesRequest {
        environment_guid: a.environment.clone(),
        since: a.since.map(timestamp),
        until: a.until.map(timestamp),
        after_revision: a.after_revision.unwrap_or(0),
        page_size: a.page_size.unwrap_or(0),
        page_token: a.page_token.clone().unwrap_or_default(),
    }
}

/// The `AddPermission` request for `env permissions add`.
pub fn add_permission_request(a: PermissionAddArgs) -> reg::AddPermissionRequest {
    reg::AddPermissionRequest {
        environment_guid: a.guid,
        user_guid: a.principal.user,
        group_guid: a.principal.group,
    }
}

fn environment(e: pb::Environment) -> Result<Environment, Error> {
    Environment::try_from(e)
}

fn permission(p: pb::Permission) -> Result<Permission, Error> {
    Permission::try_from(p)
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "commands_sync_tests.rs"]
mod sync_tests;

#[cfg(test)]
#[path = "commands_selector_tests.rs"]
mod selector_tests;

#[cfg(test)]
#[path = "commands_launcher_fake.rs"]
mod launcher_fake;

#[cfg(test)]
#[path = "commands_launcher_tests.rs"]
mod launcher_tests;

#[cfg(test)]
#[path = "commands_launches_tests.rs"]
mod launches_tests;
