//! Users, groups and API keys, written once over a [`Session`] for both backends (see
//! `session.rs`). They take the same serialised write sessions as the catalogue, so a
//! uniqueness check and the insert after it cannot race another writer.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use execenv_core::accounts::{
    ApiKey, Group, KeyOwner, LAST_USED_RESOLUTION, Lookup, NewApiKey, NewUser, User, UserUpdate,
};
use execenv_core::security::Revocation;
use execenv_core::{Actor, Error, ErrorKind, Principal};
use uuid::Uuid;

use crate::common::{self, Value};
use crate::security::{key_event, record};
use crate::session::{Backend, Session, fetch_rows};
use crate::store::AccountStore;

mod rows;

use rows::{Account, KeyRecord};

#[async_trait]
impl<B: Backend> AccountStore for B {
    async fn create_user(&self, user: &NewUser) -> Result<User, Error> {
        let mut s = self.write().await?;
        let name = Lookup::Name(user.username.clone());
        if !find::<User, _>(&mut s, Some(&name)).await?.is_empty() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "user {:?} already exists; choose another username, or update that user",
                    user.username
                ),
            ));
        }
        let now = common::now();
        let values = vec![
            Value::Text(Some(user.guid.to_string())),
            Value::Text(Some(user.username.clone())),
            Value::Text(user.email.clone()),
            Value::Text(user.first_name.clone()),
            Value::Text(user.last_name.clone()),
            Value::Text(Some(user.role.as_str().to_owned())),
            Value::Bool(false),
            Value::Time(now),
            Value::Time(now),
        ];
        s.execute(rows::INSERT_USER, values).await?;
        let (_, created) = one::<User, _>(&mut s, &Lookup::Guid(user.guid)).await?;
        s.commit().await?;
        Ok(created)
    }

    async fn get_user(&self, user: &Lookup) -> Result<User, Error> {
        let mut s = self.read().await?;
        Ok(one::<User, _>(&mut s, user).await?.1)
    }

    async fn list_users(&self) -> Result<Vec<User>, Error> {
        let mut s = self.read().await?;
        list(&mut s).await
    }

    async fn update_user(&self, user: &Lookup, update: &UserUpdate) -> Result<User, Error> {
        let mut s = self.write().await?;
        let (id, before) = one::<User, _>(&mut s, user).await?;
        let mut after = update.apply(&before);
        if after == before {
            return Ok(before);
        }
        after.updated_time = common::now();
        s.execute(rows::UPDATE_USER, rows::update_user_values(id, &after))
            .await?;
        s.commit().await?;
        Ok(after)
    }

    async fn delete_user(&self, user: &Lookup, actor: &Actor) -> Result<(), Error> {
        let mut s = self.write().await?;
        let (id, _) = one::<User, _>(&mut s, user).await?;
        let sql = format!(
            "SELECT {} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.user_id = $1 \
             ORDER BY k.created_time, k.id",
            rows::KEY_COLUMNS
        );
        for row in fetch_rows(&mut s, &sql, vec![Value::Int(id)], rows::key_record).await? {
            let key = row.to_key()?;
            let event = key_event(
                &actor.name,
                key.id,
                &key.prefix,
                key.user_guid,
                Some(Revocation::UserDeleted),
            );
            record(&mut s, &event).await?;
        }
        // Memberships and keys cascade.
        s.execute("DELETE FROM users WHERE id = $1", vec![Value::Int(id)])
            .await?;
        s.commit().await
    }

    async fn create_group(&self, guid: Uuid, name: &str) -> Result<Group, Error> {
        let mut s = self.write().await?;
        if !find::<Group, _>(&mut s, Some(&Lookup::Name(name.to_owned())))
            .await?
            .is_empty()
        {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("group {name:?} already exists; choose another name"),
            ));
        }
        let values = vec![
            Value::Text(Some(guid.to_string())),
            Value::Text(Some(name.to_owned())),
            Value::Time(common::now()),
        ];
        s.execute(rows::INSERT_GROUP, values).await?;
        let (_, created) = one::<Group, _>(&mut s, &Lookup::Guid(guid)).await?;
        s.commit().await?;
        Ok(created)
    }

    async fn get_group(&self, group: &Lookup) -> Result<Group, Error> {
        let mut s = self.read().await?;
        Ok(one::<Group, _>(&mut s, group).await?.1)
    }

    async fn list_groups(&self) -> Result<Vec<Group>, Error> {
        let mut s = self.read().await?;
        list(&mut s).await
    }

    async fn delete_group(&self, group: &Lookup) -> Result<(), Error> {
        let mut s = self.write().await?;
        let (id, _) = one::<Group, _>(&mut s, group).await?;
        s.execute("DELETE FROM groups WHERE id = $1", vec![Value::Int(id)])
            .await?;
        s.commit().await
    }

    async fn add_group_member(&self, group: &Lookup, user: &Lookup) -> Result<Group, Error> {
        let mut s = self.write().await?;
        let (group_id, before) = one::<Group, _>(&mut s, group).await?;
        let (user_id, member) = one::<User, _>(&mut s, user).await?;
        if before.member_guids.contains(&member.guid) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "user {:?} is already a member of group {:?}; nothing to add",
                    member.username, before.name
                ),
            ));
        }
        s.execute(
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)",
            vec![Value::Int(group_id), Value::Int(user_id)],
        )
        .await?;
        let (_, after) = one::<Group, _>(&mut s, &Lookup::Guid(before.guid)).await?;
        s.commit().await?;
        Ok(after)
    }

    async fn remove_group_member(&self, group: &Lookup, user: &Lookup) -> Result<Group, Error> {
        let mut s = self.write().await?;
        let (group_id, before) = one::<Group, _>(&mut s, group).await?;
        let (user_id, member) = one::<User, _>(&mut s, user).await?;
        let removed = s
            .execute(
                "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
                vec![Value::Int(group_id), Value::Int(user_id)],
            )
            .await?;
        if removed == 0 {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "user {:?} is not a member of group {:?}; nothing to remove",
                    member.username, before.name
                ),
            ));
        }
        let (_, after) = one::<Group, _>(&mut s, &Lookup::Guid(before.guid)).await?;
        s.commit().await?;
        Ok(after)
    }

    async fn create_api_key(&self, key: &NewApiKey, actor: &Actor) -> Result<ApiKey, Error> {
        let mut s = self.write().await?;
        let (user_id, _) = one::<User, _>(&mut s, &key.user).await?;
        let values = vec![
            Value::Text(Some(key.id.to_string())),
            Value::Int(user_id),
            Value::Text(Some(key.name.clone())),
            Value::Text(Some(key.prefix.clone())),
            Value::Text(Some(key.digest.clone())),
            Value::Bool(false),
            Value::Time(common::now()),
        ];
        s.execute(rows::INSERT_KEY, values).await?;
        let created = one_key(&mut s, key.id).await?.to_key()?;
        let event = key_event(
            &actor.name,
            created.id,
            &created.prefix,
            created.user_guid,
            None,
        );
        record(&mut s, &event).await?;
        s.commit().await?;
        Ok(created)
    }

    async fn list_api_keys(&self, user: Option<&Lookup>) -> Result<Vec<ApiKey>, Error> {
        let mut s = self.read().await?;
        let (filter, values) = match user {
            Some(user) => {
                let (id, _) = one::<User, _>(&mut s, user).await?;
                (" WHERE k.user_id = $1", vec![Value::Int(id)])
            }
            None => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT {} FROM api_keys k JOIN users u ON u.id = k.user_id{filter} \
             ORDER BY k.created_time, k.id",
            rows::KEY_COLUMNS
        );
        fetch_rows(&mut s, &sql, values, rows::key_record)
            .await?
            .iter()
            .map(KeyRecord::to_key)
            .collect()
    }

    async fn disable_api_key(&self, id: Uuid, actor: &Actor) -> Result<ApiKey, Error> {
        let mut s = self.write().await?;
        let before = one_key(&mut s, id).await?.to_key()?;
        if before.disabled {
            return Ok(before);
        }
        let event = key_event(
            &actor.name,
            before.id,
            &before.prefix,
            before.user_guid,
            Some(Revocation::Disabled),
        );
        record(&mut s, &event).await?;
        s.execute(
            "UPDATE api_keys SET disabled = $1 WHERE guid = $2",
            vec![Value::Bool(true), Value::Text(Some(id.to_string()))],
        )
        .await?;
        let after = one_key(&mut s, id).await?.to_key()?;
        s.commit().await?;
        Ok(after)
    }

    async fn delete_api_key(&self, id: Uuid, actor: &Actor) -> Result<(), Error> {
        let mut s = self.write().await?;
        let before = one_key(&mut s, id).await?.to_key()?;
        let event = key_event(
            &actor.name,
            before.id,
            &before.prefix,
            before.user_guid,
            Some(Revocation::Deleted),
        );
        record(&mut s, &event).await?;
        s.execute(
            "DELETE FROM api_keys WHERE guid = $1",
            vec![Value::Text(Some(id.to_string()))],
        )
        .await?;
        s.commit().await
    }

    async fn find_api_key(&self, digest: &str) -> Result<Option<KeyOwner>, Error> {
        let mut s = self.read().await?;
        let sql = format!(
            "SELECT {} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.digest = $1",
            rows::KEY_COLUMNS
        );
        let values = vec![Value::Text(Some(digest.to_owned()))];
        let Some(record) = fetch_rows(&mut s, &sql, values, rows::key_record)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let key = record.to_key()?;
        let (_, user) = one::<User, _>(&mut s, &Lookup::Guid(key.user_guid)).await?;
        Ok(Some(KeyOwner {
            key,
            digest: record.digest,
            user,
        }))
    }

    async fn record_api_key_use(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, Error> {
        let mut s = self.write().await?;
        // The condition makes concurrent uses (and registry replicas) write at most once per
        // resolution, whatever each of them read before.
        let written = s
            .execute(
                "UPDATE api_keys SET last_used_time = $1 WHERE guid = $2 \
                 AND (last_used_time IS NULL OR last_used_time <= $3)",
                vec![
                    Value::Time(at),
                    Value::Text(Some(id.to_string())),
                    Value::Time(at - LAST_USED_RESOLUTION),
                ],
            )
            .await?;
        s.commit().await?;
        Ok(written > 0)
    }
}

/// The principal of a new permission entry as stored: the canonical guid of the existing user
/// or group it names. InvalidArgument on `user_guid` or `group_guid` otherwise, with the guid
/// to give when the value is the name of one.
pub(crate) async fn existing_principal<S: Session>(
    s: &mut S,
    principal: &Principal,
) -> Result<Principal, Error> {
    let (value, field, noun, list) = match principal {
        Principal::User(v) => (v, "user_guid", "user", "users"),
        Principal::Group(v) => (v, "group_guid", "group", "groups"),
    };
    let lookup = Lookup::parse(value);
    let found = match principal {
        Principal::User(_) => find::<User, _>(s, Some(&lookup))
            .await?
            .into_iter()
            .next()
            .map(|(_, u)| (u.guid, u.username)),
        Principal::Group(_) => find::<Group, _>(s, Some(&lookup))
            .await?
            .into_iter()
            .next()
            .map(|(_, g)| (g.guid, g.name)),
    };
    let how = format!(
        "list them with `execenvctl {list} list` or GET /__api__/v1/{list}, \
         or create the {noun} first"
    );
    match (lookup, found) {
        (Lookup::Guid(_), Some((guid, _))) => Ok(match principal {
            Principal::User(_) => Principal::User(guid.to_string()),
            Principal::Group(_) => Principal::Group(guid.to_string()),
        }),
        (Lookup::Name(_), Some((guid, name))) => Err(Error::invalid_field(
            field,
            format!("{value:?} is the name of {noun} {name:?}, not a guid; give its guid, {guid}"),
        )),
        // A well-formed guid naming nobody is not found (404), as an unknown environment is.
        (Lookup::Guid(_), None) => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "{field}: no {noun} has guid {value}; a permission must name an existing {noun}: {how}"
            ),
        )),
        (Lookup::Name(_), None) => Err(Error::invalid_field(
            field,
            format!(
                "{value:?} is not the guid of a {noun}; a permission must name an existing {noun} by guid: {how}"
            ),
        )),
    }
}

/// The accounts matching `lookup` (all when `None`), in list order, with their ids.
async fn find<A: Account, S: Session>(
    s: &mut S,
    lookup: Option<&Lookup>,
) -> Result<Vec<(i64, A)>, Error> {
    let (filter, values) = rows::lookup_condition::<A>(lookup);
    let sql = format!("{}{filter}{}", A::SELECT, A::ORDER);
    let records = fetch_rows(s, &sql, values.clone(), A::decode).await?;
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{}{filter}", A::RELATED);
    let mut related: HashMap<i64, Vec<String>> = HashMap::new();
    for (owner, guid) in fetch_rows(s, &sql, values, rows::membership).await? {
        related.entry(owner).or_default().push(guid);
    }
    records
        .into_iter()
        .map(|r| {
            let id = A::id(&r);
            let account = A::assemble(r, related.get(&id).map_or(&[], Vec::as_slice))?;
            Ok((id, account))
        })
        .collect()
}

/// Every account, without ids.
async fn list<A: Account, S: Session>(s: &mut S) -> Result<Vec<A>, Error> {
    Ok(find(s, None).await?.into_iter().map(|(_, a)| a).collect())
}

/// The one account `lookup` names, with its id; NotFound when there is none.
async fn one<A: Account, S: Session>(s: &mut S, lookup: &Lookup) -> Result<(i64, A), Error> {
    find(s, Some(lookup))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "{noun} {lookup} does not exist; list {noun}s to find it",
                    noun = A::NOUN
                ),
            )
        })
}

/// The key with id `id`; NotFound when there is none.
async fn one_key<S: Session>(s: &mut S, id: Uuid) -> Result<KeyRecord, Error> {
    let sql = format!(
        "SELECT {} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.guid = $1",
        rows::KEY_COLUMNS
    );
    fetch_rows(
        s,
        &sql,
        vec![Value::Text(Some(id.to_string()))],
        rows::key_record,
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("API key {id} does not exist; list keys to find its id"),
        )
    })
}
