//! Security audit events (`security_events`), written once over a [`Session`] for both
//! backends. [`record`] writes an event inside the transaction of the change it records (a key
//! created or revoked, a permission added or removed), so the change and its event commit
//! together or not at all; [`SecurityEventStore`] records the events that go with no change
//! (failed sign-ins), lists and compacts them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use execenv_core::query::DEFAULT_PAGE_SIZE;
use execenv_core::security::{
    NewSecurityEvent, Revocation, SecurityEvent, SecurityEventFilter, SecurityEventKind,
    SecurityEventSubject,
};
use execenv_core::{Error, Principal};
use uuid::Uuid;

use crate::common::{self, StoreRow, Value, corrupt, parse_guid};
use crate::session::{Backend, Session, fetch_rows};
use crate::store::SecurityEventStore;

/// The columns of an event, in [`event_row`]'s order.
const COLUMNS: &str = "id, time, kind, actor, user_guid, group_guid, api_key_id, \
     api_key_prefix, revocation, environment_guid, permission_guid, client_address, failures";

const INSERT: &str = "INSERT INTO security_events (time, kind, actor, user_guid, group_guid, \
     api_key_id, api_key_prefix, revocation, environment_guid, permission_guid, client_address, \
     failures) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

#[async_trait]
impl<B: Backend> SecurityEventStore for B {
    async fn record_security_event(&self, event: &NewSecurityEvent) -> Result<(), Error> {
        let mut s = self.write().await?;
        record(&mut s, event).await?;
        s.commit().await
    }

    async fn list_security_events(
        &self,
        filter: &SecurityEventFilter,
    ) -> Result<Vec<SecurityEvent>, Error> {
        let mut s = self.read().await?;
        let (sql, values) = query(filter);
        fetch_rows(&mut s, &sql, values, event_row)
            .await?
            .into_iter()
            .map(EventRow::into_event)
            .collect()
    }

    async fn compact_security_events(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        let mut s = self.write().await?;
        let deleted = s
            .execute(
                "DELETE FROM security_events WHERE time < $1",
                vec![Value::Time(before)],
            )
            .await?;
        s.commit().await?;
        Ok(deleted)
    }
}

/// Writes `event` in the transaction of `s`, at the current time.
pub async fn record<S: Session>(s: &mut S, event: &NewSecurityEvent) -> Result<(), Error> {
    let text = |v: Option<String>| Value::Text(v);
    let guid = |v: Option<Uuid>| Value::Text(v.map(|g| g.to_string()));
    let subject = event.subject.clone();
    let values = vec![
        Value::Time(common::now()),
        Value::Text(Some(event.kind.as_str().to_owned())),
        Value::Text(Some(event.actor.clone())),
        text(subject.user_guid),
        text(subject.group_guid),
        guid(subject.api_key_id),
        text(subject.api_key_prefix),
        text(subject.revocation.map(|r| r.as_str().to_owned())),
        guid(subject.environment_guid),
        guid(subject.permission_guid),
        text(subject.client_address),
        Value::Int(i64::from(subject.failures.unwrap_or(0))),
    ];
    s.execute(INSERT, values).await?;
    Ok(())
}

/// The event for a permission entry added or removed by `actor`.
pub fn permission_event(
    kind: SecurityEventKind,
    actor: &str,
    environment: Uuid,
    permission: Uuid,
    principal: &Principal,
) -> NewSecurityEvent {
    let (user_guid, group_guid) = match principal {
        Principal::User(u) => (Some(u.clone()), None),
        Principal::Group(g) => (None, Some(g.clone())),
    };
    NewSecurityEvent {
        kind,
        actor: actor.to_owned(),
        subject: SecurityEventSubject {
            user_guid,
            group_guid,
            environment_guid: Some(environment),
            permission_guid: Some(permission),
            ..SecurityEventSubject::default()
        },
    }
}

/// The event for a key of `user` created (`revocation` `None`) or revoked by `actor`.
pub fn key_event(
    actor: &str,
    key: Uuid,
    prefix: &str,
    user: Uuid,
    revocation: Option<Revocation>,
) -> NewSecurityEvent {
    NewSecurityEvent {
        kind: if revocation.is_some() {
            SecurityEventKind::ApiKeyRevoked
        } else {
            SecurityEventKind::ApiKeyCreated
        },
        actor: actor.to_owned(),
        subject: SecurityEventSubject {
            user_guid: Some(user.to_string()),
            api_key_id: Some(key),
            api_key_prefix: Some(prefix.to_owned()),
            revocation,
            ..SecurityEventSubject::default()
        },
    }
}

/// The SQL of a list, every input bound.
fn query(filter: &SecurityEventFilter) -> (String, Vec<Value>) {
    let mut values = vec![Value::Int(filter.after_id)];
    let mut sql = format!("SELECT {COLUMNS} FROM security_events WHERE id > $1");
    if !filter.kinds.is_empty() {
        let first = values.len() + 1;
        values.extend(
            filter
                .kinds
                .iter()
                .map(|k| Value::Text(Some(k.as_str().to_owned()))),
        );
        let placeholders = (first..=values.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(" AND kind IN ({placeholders})"));
    }
    if let Some(since) = filter.since {
        values.push(Value::Time(since));
        sql.push_str(&format!(" AND time >= ${}", values.len()));
    }
    if let Some(until) = filter.until {
        values.push(Value::Time(until));
        sql.push_str(&format!(" AND time < ${}", values.len()));
    }
    let limit = if filter.limit == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        filter.limit
    };
    values.push(Value::Int(i64::from(limit)));
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", values.len()));
    (sql, values)
}

/// One row of `security_events`, undecoded.
struct EventRow {
    id: i64,
    time: DateTime<Utc>,
    kind: String,
    actor: String,
    user_guid: Option<String>,
    group_guid: Option<String>,
    api_key_id: Option<String>,
    api_key_prefix: Option<String>,
    revocation: Option<String>,
    environment_guid: Option<String>,
    permission_guid: Option<String>,
    client_address: Option<String>,
    failures: i64,
}

fn event_row<R: StoreRow>(row: &R) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        id: row.named_integer("id")?,
        time: row.time("time")?,
        kind: row.text("kind")?,
        actor: row.text("actor")?,
        user_guid: row.optional_text("user_guid")?,
        group_guid: row.optional_text("group_guid")?,
        api_key_id: row.optional_text("api_key_id")?,
        api_key_prefix: row.optional_text("api_key_prefix")?,
        revocation: row.optional_text("revocation")?,
        environment_guid: row.optional_text("environment_guid")?,
        permission_guid: row.optional_text("permission_guid")?,
        client_address: row.optional_text("client_address")?,
        failures: row.named_integer("failures")?,
    })
}

impl EventRow {
    fn into_event(self) -> Result<SecurityEvent, Error> {
        let guid = |v: Option<String>| v.as_deref().map(parse_guid).transpose();
        let revocation = self
            .revocation
            .as_deref()
            .map(|r| Revocation::parse(r).ok_or_else(|| corrupt("revocation", r)))
            .transpose()?;
        Ok(SecurityEvent {
            id: self.id,
            time: self.time,
            kind: SecurityEventKind::parse(&self.kind)
                .ok_or_else(|| corrupt("security event kind", &self.kind))?,
            actor: self.actor,
            subject: SecurityEventSubject {
                user_guid: self.user_guid,
                group_guid: self.group_guid,
                api_key_id: guid(self.api_key_id)?,
                api_key_prefix: self.api_key_prefix,
                revocation,
                environment_guid: guid(self.environment_guid)?,
                permission_guid: guid(self.permission_guid)?,
                client_address: self.client_address,
                failures: u32::try_from(self.failures).ok().filter(|n| *n > 0),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_binds_every_kind_and_bound() {
        let (sql, values) = query(&SecurityEventFilter {
            kinds: vec![
                SecurityEventKind::ApiKeyCreated,
                SecurityEventKind::SignInFailures,
            ],
            since: Some(DateTime::UNIX_EPOCH),
            until: None,
            after_id: 7,
            limit: 10,
        });
        assert_eq!(
            sql,
            format!(
                "SELECT {COLUMNS} FROM security_events WHERE id > $1 AND kind IN ($2, $3) \
                 AND time >= $4 ORDER BY id LIMIT $5"
            )
        );
        assert_eq!(values.len(), 5);
    }
}
