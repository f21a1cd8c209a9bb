//! `execenvctl users|groups|keys …`: the accounts the gateway authenticates with, managed
//! through the registry's Identity service. Each command makes one call and renders the
//! answer; local problems are reported before connecting.

use execenv_core::accounts::{ApiKey, Group, User};
use execenv_core::{Error, Role};
use execenv_proto::identity::v1 as id;
use serde::Serialize;

use crate::accounts_args::{GroupsCommand, KeysCommand, MemberArgs, UserUpdateArgs, UsersCommand};
use crate::args::OutputFormat;
use crate::render::{self, NONE, key_values, or_none, table, time};
use crate::report::Report;
use crate::session::Session;

/// What `keys create` prints once: the secret and the key as listed.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    /// The secret, shown only now.
    pub key: String,
    /// The key as `keys list` shows it.
    pub api_key: ApiKey,
}

/// The note printed with a new key.
pub const KEY_NOTE: &str =
    "store this key now: it cannot be shown again (execenv keeps only its digest)";

/// Runs `users …`.
pub async fn users(session: &Session, command: UsersCommand) -> Result<Report, Error> {
    let format = session.output();
    let update = |user: String, disabled: bool| id::UpdateUserRequest {
        user,
        disabled: Some(disabled),
        ..id::UpdateUserRequest::default()
    };
    let request = match command {
        UsersCommand::Update(a) => update_request(&a)?,
        UsersCommand::Disable { user } => update(user, true),
        UsersCommand::Enable { user } => update(user, false),
        UsersCommand::Create(a) => {
            let request = id::CreateUserRequest {
                username: a.username,
                role: Role::from(a.role).as_str().to_owned(),
                email: a.names.email,
                first_name: a.names.first_name,
                last_name: a.names.last_name,
            };
            let created = session
                .identity()
                .await?
                .call(|mut c| async move { c.create_user(request).await })
                .await?;
            return Report::one(&User::try_from(created)?, format, user_block);
        }
        UsersCommand::List => {
            let listed = session
                .identity()
                .await?
                .call(|mut c| async move { c.list_users(id::ListUsersRequest {}).await })
                .await?;
            let users = listed
                .users
                .into_iter()
                .map(User::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            return list_report(&users, format, users_table, "users");
        }
        UsersCommand::Get { user } => {
            let request = id::GetUserRequest { user };
            let found = session
                .identity()
                .await?
                .call(|mut c| async move { c.get_user(request).await })
                .await?;
            return Report::one(&User::try_from(found)?, format, user_block);
        }
        UsersCommand::Delete { user } => {
            let request = id::DeleteUserRequest { user: user.clone() };
            session
                .identity()
                .await?
                .call(|mut c| async move { c.delete_user(request).await })
                .await?;
            return Ok(Report::text(format!(
                "deleted user {user} with their API keys and group memberships\n"
            )));
        }
    };
    let updated = session
        .identity()
        .await?
        .call(|mut c| async move { c.update_user(request).await })
        .await?;
    Report::one(&User::try_from(updated)?, format, user_block)
}

/// The `UpdateUser` request for `users update`; InvalidArgument when no flag is given.
pub fn update_request(a: &UserUpdateArgs) -> Result<id::UpdateUserRequest, Error> {
    let n = &a.names;
    if a.role.is_none() && n.email.is_none() && n.first_name.is_none() && n.last_name.is_none() {
        return Err(Error::invalid_field(
            "update",
            "nothing to update: give --role, --email, --first-name or --last-name \
             (users disable|enable change whether the user may sign in)",
        ));
    }
    Ok(id::UpdateUserRequest {
        user: a.user.clone(),
        role: a.role.map(|r| Role::from(r).as_str().to_owned()),
        disabled: None,
        email: n.email.clone(),
        first_name: n.first_name.clone(),
        last_name: n.last_name.clone(),
    })
}

/// Runs `groups …`.
pub async fn groups(session: &Session, command: GroupsCommand) -> Result<Report, Error> {
    let format = session.output();
    let identity = session.identity().await?;
    let group = match command {
        GroupsCommand::Create { name } => {
            let request = id::CreateGroupRequest { name };
            identity
                .call(|mut c| async move { c.create_group(request).await })
                .await?
        }
        GroupsCommand::List => {
            let listed = identity
                .call(|mut c| async move { c.list_groups(id::ListGroupsRequest {}).await })
                .await?;
            let groups = listed
                .groups
                .into_iter()
                .map(Group::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            return list_report(&groups, format, groups_table, "groups");
        }
        GroupsCommand::Delete { group } => {
            let request = id::DeleteGroupRequest {
                group: group.clone(),
            };
            identity
                .call(|mut c| async move { c.delete_group(request).await })
                .await?;
            return Ok(Report::text(format!("deleted group {group}\n")));
        }
        GroupsCommand::AddMember(a) => {
            let request = member_request(a);
            identity
                .call(|mut c| async move { c.add_group_member(request).await })
                .await?
        }
        GroupsCommand::RemoveMember(a) => {
            let request = member_request(a);
            identity
                .call(|mut c| async move { c.remove_group_member(request).await })
                .await?
        }
    };
    Report::one(&Group::try_from(group)?, format, group_block)
}

fn member_request(a: MemberArgs) -> id::GroupMemberRequest {
    id::GroupMemberRequest {
        group: a.group,
        user: a.user,
    }
}

/// Runs `keys …`.
pub async fn keys(session: &Session, command: KeysCommand) -> Result<Report, Error> {
    let format = session.output();
    let identity = session.identity().await?;
    match command {
        KeysCommand::Create { user, name } => {
            let request = id::CreateApiKeyRequest { user, name };
            let created = identity
                .call(|mut c| async move { c.create_api_key(request).await })
                .await?;
            let api_key = created
                .api_key
                .ok_or_else(|| Error::internal("the registry created a key but did not list it"))?;
            let created = CreatedKey {
                key: created.key,
                api_key: ApiKey::try_from(api_key)?,
            };
            let stdout = match format {
                OutputFormat::Table => {
                    let mut block = key_values(&[("key", vec![created.key.clone()])]);
                    block.push_str(&key_block(&created.api_key));
                    block
                }
                _ => render::document(&created, format)?,
            };
            Ok(Report {
                stdout,
                note: Some(KEY_NOTE.to_owned()),
                exit_code: 0,
            })
        }
        KeysCommand::List { user } => {
            let request = id::ListApiKeysRequest { user };
            let listed = identity
                .call(|mut c| async move { c.list_api_keys(request).await })
                .await?;
            let keys = listed
                .api_keys
                .into_iter()
                .map(ApiKey::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            list_report(&keys, format, keys_table, "API keys")
        }
        KeysCommand::Disable { id: key } => {
            let request = id::DisableApiKeyRequest { id: key };
            let disabled = identity
                .call(|mut c| async move { c.disable_api_key(request).await })
                .await?;
            Report::one(&ApiKey::try_from(disabled)?, format, key_block)
        }
        KeysCommand::Delete { id: key } => {
            let request = id::DeleteApiKeyRequest { id: key.clone() };
            identity
                .call(|mut c| async move { c.delete_api_key(request).await })
                .await?;
            Ok(Report::text(format!("deleted API key {key}\n")))
        }
    }
}

/// A whole list (accounts come in one page), counted in the note.
fn list_report<T: Serialize>(
    items: &[T],
    format: OutputFormat,
    rows: fn(&[T]) -> String,
    noun: &str,
) -> Result<Report, Error> {
    Report::list(items, format, rows, || {
        render::list_footer(items.len(), None, noun, "")
    })
}

/// The `users list` table.
pub fn users_table(users: &[User]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.guid.to_string(),
                u.username.clone(),
                u.role.as_str().to_owned(),
                or_none(u.email.as_deref()),
                u.group_guids.len().to_string(),
                yes_no(u.disabled),
            ]
        })
        .collect();
    table(
        &["GUID", "USERNAME", "ROLE", "EMAIL", "GROUPS", "DISABLED"],
        &rows,
    )
}

/// Every field of one user.
pub fn user_block(u: &User) -> String {
    let groups = if u.group_guids.is_empty() {
        vec![NONE.to_owned()]
    } else {
        u.group_guids.iter().map(ToString::to_string).collect()
    };
    key_values(&[
        ("guid", vec![u.guid.to_string()]),
        ("username", vec![u.username.clone()]),
        ("role", vec![u.role.as_str().to_owned()]),
        ("email", vec![or_none(u.email.as_deref())]),
        ("first_name", vec![or_none(u.first_name.as_deref())]),
        ("last_name", vec![or_none(u.last_name.as_deref())]),
        ("groups", groups),
        ("disabled", vec![yes_no(u.disabled)]),
        ("created_time", vec![time(&u.created_time)]),
        ("updated_time", vec![time(&u.updated_time)]),
    ])
}

/// The `groups list` table.
pub fn groups_table(groups: &[Group]) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.guid.to_string(),
                g.name.clone(),
                g.member_guids.len().to_string(),
                time(&g.created_time),
            ]
        })
        .collect();
    table(&["GUID", "NAME", "MEMBERS", "CREATED"], &rows)
}

/// Every field of one group.
pub fn group_block(g: &Group) -> String {
    let members = if g.member_guids.is_empty() {
        vec![NONE.to_owned()]
    } else {
        g.member_guids.iter().map(ToString::to_string).collect()
    };
    key_values(&[
        ("guid", vec![g.guid.to_string()]),
        ("name", vec![g.name.clone()]),
        ("members", members),
        ("created_time", vec![time(&g.created_time)]),
    ])
}

/// The `keys list` table.
pub fn keys_table(keys: &[ApiKey]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.to_string(),
                k.name.clone(),
                format!("{}…", k.prefix),
                k.user_guid.to_string(),
                time(&k.created_time),
                k.last_used_time
                    .as_ref()
                    .map_or_else(|| NONE.to_owned(), time),
                yes_no(k.disabled),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "NAME",
            "PREFIX",
            "USER",
            "CREATED",
            "LAST USED",
            "DISABLED",
        ],
        &rows,
    )
}

/// Every field of one API key (never its secret, which is not kept).
pub fn key_block(k: &ApiKey) -> String {
    key_values(&[
        ("id", vec![k.id.to_string()]),
        ("name", vec![k.name.clone()]),
        ("prefix", vec![format!("{}…", k.prefix)]),
        ("user_guid", vec![k.user_guid.to_string()]),
        ("created_time", vec![time(&k.created_time)]),
        (
            "last_used_time",
            vec![
                k.last_used_time
                    .as_ref()
                    .map_or_else(|| NONE.to_owned(), time),
            ],
        ),
        ("disabled", vec![yes_no(k.disabled)]),
    ])
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
