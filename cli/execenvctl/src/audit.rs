//! `execenvctl audit security`: the registry's security audit events — API keys created and
//! revoked, environment permissions added and removed, clients that failed to sign in too often
//! — oldest first, one page or all of them.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use execenv_core::Error;
use execenv_proto::convert::timestamp;
use execenv_proto::identity::v1 as id;
pub use execenv_proto::views::SecurityEventView;

use crate::env_args::PageArgs;
use crate::environments::next_page;
use crate::render::{self, NONE};
use crate::report::Report;
use crate::session::Session;
use crate::values::parse_time;

/// `execenvctl audit …`
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Show the security events, oldest first: API keys created and revoked, environment
    /// permissions added and removed, clients that failed to sign in too often.
    Security(SecurityArgs),
}

/// The kinds of security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was disabled or deleted (or deleted with its user).
    ApiKeyRevoked,
    /// A user or group was allowed to use an environment.
    PermissionAdded,
    /// A permission entry was removed.
    PermissionRemoved,
    /// A client failed to sign in too often.
    SignInFailures,
}

impl KindArg {
    fn wire(self) -> &'static str {
        match self {
            KindArg::ApiKeyCreated => "api_key_created",
            KindArg::ApiKeyRevoked => "api_key_revoked",
            KindArg::PermissionAdded => "permission_added",
            KindArg::PermissionRemoved => "permission_removed",
            KindArg::SignInFailures => "sign_in_failures",
        }
    }
}

/// `execenvctl audit security …`
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// Only events of this kind (repeat for several).
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Vec<KindArg>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-01-31T12:00:00Z).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Which page, or all of them.
    #[command(flatten)]
    pub page: PageArgs,
}

/// Runs `audit …`.
pub async fn audit(session: &Session, command: AuditCommand) -> Result<Report, Error> {
    match command {
        AuditCommand::Security(a) => security(session, &a).await,
    }
}

async fn security(session: &Session, args: &SecurityArgs) -> Result<Report, Error> {
    let format = session.output();
    let identity = session.identity().await?;
    let mut request = security_request(args);
    let mut events = Vec::new();
    loop {
        let page_request = request.clone();
        let page = identity
            .call(|mut c| async move { c.list_security_events(page_request).await })
            .await?;
        events.extend(page.events.into_iter().map(SecurityEventView::from));
        if !next_page(&request.page_token, &page.next_page_token, args.page.all)? {
            return Report::list(&events, format, security_table, || {
                render::list_footer(events.len(), None, "security events", &page.next_page_token)
            });
        }
        request.page_token = page.next_page_token;
    }
}

/// The first `ListSecurityEvents` request for `audit security`.
pub fn security_request(a: &SecurityArgs) -> id::ListSecurityEventsRequest {
    id::ListSecurityEventsRequest {
        kinds: a.kind.iter().map(|k| k.wire().to_owned()).collect(),
        since: a.since.map(timestamp),
        until: a.until.map(timestamp),
        after_id: 0,
        page_size: a.page.page_size.unwrap_or(0),
        page_token: a.page.page_token.clone().unwrap_or_default(),
    }
}

/// The table of events: what each is about in one column.
pub fn security_table(events: &[SecurityEventView]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.time
                    .as_ref()
                    .map_or_else(|| NONE.to_owned(), render::time),
                e.kind.clone(),
                if e.actor.is_empty() {
                    NONE.to_owned()
                } else {
                    e.actor.clone()
                },
                subject(e),
            ]
        })
        .collect();
    render::table(&["ID", "TIME", "KIND", "ACTOR", "SUBJECT"], &rows)
}

/// What an event is about, in words.
fn subject(e: &SecurityEventView) -> String {
    let mut parts = Vec::new();
    if let Some(key) = &e.api_key_id {
        let prefix = e.api_key_prefix.as_deref().unwrap_or(NONE);
        parts.push(format!("key {key} ({prefix}…)"));
    }
    if let Some(how) = &e.revocation {
        parts.push(how.replace('_', " "));
    }
    if let Some(env) = &e.environment_guid {
        parts.push(format!("environment {env}"));
    }
    if let Some(user) = &e.user_guid {
        parts.push(format!("user {user}"));
    }
    if let Some(group) = &e.group_guid {
        parts.push(format!("group {group}"));
    }
    if let Some(permission) = &e.permission_guid {
        parts.push(format!("entry {permission}"));
    }
    if let Some(client) = &e.client_address {
        let failures = e.failures.unwrap_or(0);
        parts.push(format!("{failures} failed sign-ins from {client}"));
    }
    parts.join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn audit_security_takes_kinds_times_and_pages() {
        let cli = Cli::try_parse_from([
            "execenvctl",
            "audit",
            "security",
            "--kind",
            "api-key-revoked",
            "--kind",
            "sign-in-failures",
            "--since",
            "2026-01-31T12:00:00Z",
            "--all",
        ])
        .unwrap();
        let Command::Audit(AuditCommand::Security(a)) = cli.command else {
            panic!("not audit security");
        };
        let request = security_request(&a);
        assert_eq!(request.kinds, ["api_key_revoked", "sign_in_failures"]);
        assert_eq!(request.since.map(|t| t.seconds), Some(1_769_860_800));
        assert!(a.page.all);
    }

    #[test]
    fn the_table_says_what_each_event_is_about() {
        let key = SecurityEventView {
            id: 1,
            time: None,
            kind: "api_key_revoked".into(),
            actor: "service".into(),
            user_guid: Some("u1".into()),
            group_guid: None,
            api_key_id: Some("k1".into()),
            api_key_prefix: Some("ee_ab12".into()),
            revocation: Some("user_deleted".into()),
            environment_guid: None,
            permission_guid: None,
            client_address: None,
            failures: None,
        };
        let failures = SecurityEventView {
            id: 2,
            kind: "sign_in_failures".into(),
            actor: String::new(),
            user_guid: None,
            api_key_id: None,
            api_key_prefix: None,
            revocation: None,
            client_address: Some("192.0.2.7".into()),
            failures: Some(10),
            ..key.clone()
        };
        assert_eq!(subject(&key), "key k1 (ee_ab12…), user deleted, user u1");
        assert_eq!(subject(&failures), "10 failed sign-ins from 192.0.2.7");
        let table = security_table(&[key, failures]);
        assert!(table.starts_with("ID"), "{table}");
        assert!(table.contains("sign_in_failures  -"), "{table}");
    }
}
