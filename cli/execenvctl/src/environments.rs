//! `execenvctl env …` and `execenvctl changes`: the catalogue in the registry. Each request is
//! built from the flags first (pure, tested), then sent: one call, or one per page.

use execenv_core::{Environment, Error, ErrorKind, FieldViolation, Language, Matching, Permission};
use execenv_proto::convert::connect::with_connect_paths;
use execenv_proto::convert::timestamp;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;

use crate::args::OutputFormat;
use crate::connection::Registry;
use crate::env_args::{
    ChangesArgs, CreateArgs, EnvCommand, LanguageArg, ListArgs, PermissionAddArgs,
    PermissionsCommand, SortArg, UpdateArgs,
};
use crate::images;
use crate::principals::{Kind, Named};
use crate::render::{self, ChangeView, EnvironmentList};
use crate::report::Report;
use crate::session::Session;
use crate::spec;

/// Runs `env …`; local problems (bad files, nothing to update) are reported before connecting.
pub async fn env(session: &Session, command: EnvCommand) -> Result<Report, Error> {
    let format = session.output();
    match command {
        EnvCommand::Create(a) => {
            let request = create_request(&a)?;
            let created = session
                .registry()
                .await?
                .call(|mut c| async move { c.create_environment(request).await })
                .await
                .map_err(with_connect_paths)?;
            environment_report(&environment(created)?, format)
        }
        EnvCommand::Update(a) => {
            let request = update_request(&a)?;
            let updated = session
                .registry()
                .await?
                .call(|mut c| async move { c.update_environment(request).await })
                .await
                .map_err(with_connect_paths)?;
            environment_report(&environment(updated)?, format)
        }
        EnvCommand::List(a) => list(session.registry().await?, &a, format).await,
        EnvCommand::Get { guid } => {
            let request = reg::GetEnvironmentRequest { guid };
            let found = session
                .registry()
                .await?
                .call(|mut c| async move { c.get_environment(request).await })
                .await?;
            environment_report(&environment(found)?, format)
        }
        EnvCommand::Delete {
            guid,
            expected_revision,
        } => {
            let request = reg::DeleteEnvironmentRequest {
                guid: guid.clone(),
                expected_revision: expected_revision.unwrap_or(0),
            };
            session
                .registry()
                .await?
                .call(|mut c| async move { c.delete_environment(request).await })
                .await?;
            Ok(Report::text(format!("deleted environment {guid}\n")))
        }
        EnvCommand::Permissions(p) => permissions(session, p, format).await,
        EnvCommand::Drift(a) => images::drift(session, &a).await,
    }
}

/// Runs `changes`: the change log, one page or (`--all`) every page.
pub async fn changes(session: &Session, args: &ChangesArgs) -> Result<Report, Error> {
    let format = session.output();
    let registry = session.registry().await?;
    let mut request = changes_request(args);
    let mut changes = Vec::new();
    loop {
        let page_request = request.clone();
        let page = registry
            .call(|mut c| async move { c.list_changes(page_request).await })
            .await?;
        changes.extend(page.changes.into_iter().map(ChangeView::from));
        if !next_page(&request.page_token, &page.next_page_token, args.page.all)? {
            return Report::list(&changes, format, render::changes_table, || {
                render::list_footer(changes.len(), None, "changes", &page.next_page_token)
            });
        }
        request.page_token = page.next_page_token;
    }
}

async fn list(registry: Registry, args: &ListArgs, format: OutputFormat) -> Result<Report, Error> {
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
        if !next_page(&request.page_token, &page.next_page_token, args.page.all)? {
            let list = EnvironmentList {
                environments,
                total_count: page.total_count,
                next_page_token: page.next_page_token,
            };
            if format != OutputFormat::Table {
                return Ok(Report::text(render::document(&list, format)?));
            }
            return Ok(Report {
                stdout: render::environments_table(&list.environments),
                note: Some(render::list_footer(
                    list.environments.len(),
                    Some(list.total_count),
                    "environments",
                    &list.next_page_token,
                )),
                exit_code: 0,
            });
        }
        request.page_token = page.next_page_token;
    }
}

async fn permissions(
    session: &Session,
    command: PermissionsCommand,
    format: OutputFormat,
) -> Result<Report, Error> {
    match command {
        PermissionsCommand::List { guid } => {
            let request = reg::ListPermissionsRequest {
                environment_guid: guid,
            };
            let listed = session
                .registry()
                .await?
                .call(|mut c| async move { c.list_permissions(request).await })
                .await?;
            let list = listed
                .permissions
                .into_iter()
                .map(Permission::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            permissions_report(&list, format)
        }
        PermissionsCommand::Add(a) => {
            let request = add_permission_request(session, a).await?;
            let added = session
                .registry()
                .await?
                .call(|mut c| async move { c.add_permission(request).await })
                .await
                .map_err(with_permission_flags)?;
            let added = Permission::try_from(added)?;
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
            session
                .registry()
                .await?
                .call(|mut c| async move { c.remove_permission(request).await })
                .await?;
            Ok(Report::text(format!(
                "removed permission {permission_guid} from environment {guid}\n"
            )))
        }
    }
}

/// The registry's refusal of a permission with its fields named as the flags that gave them
/// (`user_guid` → `--user`): a user or group that does not exist is named where it was typed.
pub fn with_permission_flags(e: Error) -> Error {
    if e.kind != ErrorKind::InvalidArgument || e.violations.is_empty() {
        return e;
    }
    let flag = |field: &str| match field {
        "user_guid" => "--user".to_owned(),
        "group_guid" => "--group".to_owned(),
        other => other.to_owned(),
    };
    Error::invalid(
        e.violations
            .into_iter()
            .map(|v| FieldViolation::new(flag(&v.field), v.description))
            .collect(),
    )
}

fn permissions_report(list: &[Permission], format: OutputFormat) -> Result<Report, Error> {
    let mut report = Report::one(&list, format, |l| render::permissions_table(l))?;
    if format == OutputFormat::Table && list.is_empty() {
        report.note =
            Some("no permission entries: every publisher may use this environment".to_owned());
    }
    Ok(report)
}

/// The `AddPermission` request for `env permissions add`: the user or group by guid, a name
/// looked up in the registry's users or groups (an entry holding a name would match no one).
pub async fn add_permission_request(
    session: &Session,
    a: PermissionAddArgs,
) -> Result<reg::AddPermissionRequest, Error> {
    let named = match (&a.principal.user, &a.principal.group) {
        (Some(user), _) => Named::user("--user", user),
        (None, Some(group)) => Named::group("--group", group),
        (None, None) => {
            return Err(Error::invalid_field(
                "--user",
                "give the user (--user) or the group (--group) to allow",
            ));
        }
    };
    let kind = named.kind;
    let guid = session.guids(&[named]).await?.remove(0);
    let (user_guid, group_guid) = match kind {
        Kind::User => (Some(guid), None),
        Kind::Group => (None, Some(guid)),
    };
    Ok(reg::AddPermissionRequest {
        environment_guid: a.guid,
        user_guid,
        group_guid,
    })
}

/// Whether to fetch another page; fails when the registry hands back the token it was given
/// (which would loop forever).
pub fn next_page(current: &str, next: &str, all: bool) -> Result<bool, Error> {
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

fn environment_report(e: &Environment, format: OutputFormat) -> Result<Report, Error> {
    Report::one(e, format, render::environment_block)
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
        page_size: a.page.page_size.unwrap_or(0),
        page_token: a.page.page_token.clone().unwrap_or_default(),
    }
}

/// The first `ListChanges` request for `changes`.
pub fn changes_request(a: &ChangesArgs) -> reg::ListChangesRequest {
    reg::ListChangesRequest {
        environment_guid: a.environment.clone(),
        since: a.since.map(timestamp),
        until: a.until.map(timestamp),
        after_revision: a.after_revision.unwrap_or(0),
        page_size: a.page.page_size.unwrap_or(0),
        page_token: a.page.page_token.clone().unwrap_or_default(),
    }
}

fn environment(e: pb::Environment) -> Result<Environment, Error> {
    Environment::try_from(e)
}

#[cfg(test)]
#[path = "environments_tests.rs"]
mod tests;
