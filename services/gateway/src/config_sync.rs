//! config-sync, through its client: the outcome of its last sync (`Status`), called as the
//! gateway itself over a lazily connected channel. A gateway without `config_sync.url` reports
//! `{"configured": false}`.

use std::time::Duration;

use execenv_client::{ClientTls, Connection, Options, Service, Target};
use execenv_core::Error;
use execenv_proto::sync::v1 as sync;
use serde::Serialize;

use crate::environment::rfc3339;

/// How long a status call may take: the console polls it every 2 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// config-sync, if the gateway knows where it is.
#[derive(Clone)]
pub struct ConfigSync {
    connection: Option<Connection>,
}

/// What `/__api__/execenv/v1/sync` answers and the `sync` event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// Whether the gateway has `config_sync.url`; the other keys are absent when not.
    pub configured: bool,
    #[serde(flatten)]
    pub last: Option<LastSync>,
}

/// config-sync's last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastSync {
    /// The declarative file it watches.
    pub file: String,
    /// ok | failed | never.
    pub outcome: String,
    /// When it last synced (RFC 3339), successfully or not.
    pub last_sync_time: Option<String>,
    /// When it last synced successfully.
    pub last_success_time: Option<String>,
    /// Why the last sync failed; null after a success.
    pub error: Option<String>,
    /// Every problem of the last failed sync.
    pub problems: Vec<String>,
    /// File-managed environments after the last successful sync.
    pub managed_count: u64,
}

impl From<&sync::StatusResponse> for SyncStatus {
    fn from(s: &sync::StatusResponse) -> Self {
        let time = |t: &Option<prost_types::Timestamp>| t.as_ref().and_then(rfc3339);
        SyncStatus {
            configured: true,
            last: Some(LastSync {
                file: s.file.clone(),
                outcome: s.outcome.clone(),
                last_sync_time: time(&s.last_sync_time),
                last_success_time: time(&s.last_success_time),
                error: Some(s.error.clone()).filter(|e| !e.is_empty()),
                problems: s.problems.clone(),
                managed_count: s.managed_count,
            }),
        }
    }
}

impl ConfigSync {
    /// A client of config-sync at `url` (none: not configured) sending `token` when one is
    /// configured. Does not connect yet.
    pub fn new(url: Option<&str>, token: Option<String>) -> Result<Self, Error> {
        ConfigSync::with_tls(url, token, None)
    }

    /// [`ConfigSync::new`], over TLS when `tls` is given (`https://` URL).
    pub fn with_tls(
        url: Option<&str>,
        token: Option<String>,
        tls: Option<ClientTls>,
    ) -> Result<Self, Error> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        let connection = match url {
            Some(url) => Some(Connection::lazy(
                Target::new(Service::ConfigSync, url),
                token,
                &Options::default()
                    .with_request_timeout(REQUEST_TIMEOUT)
                    .with_tls(tls),
            )?),
            None => None,
        };
        Ok(ConfigSync { connection })
    }

    /// No config-sync: its status is `{"configured": false}`.
    pub fn unconfigured() -> Self {
        ConfigSync { connection: None }
    }

    /// Whether a URL was configured.
    pub fn configured(&self) -> bool {
        self.connection.is_some()
    }

    /// The last sync; Unavailable when config-sync cannot be reached.
    pub async fn status(&self) -> Result<SyncStatus, Error> {
        let Some(connection) = &self.connection else {
            return Ok(SyncStatus {
                configured: false,
                last: None,
            });
        };
        let answer = connection
            .config_sync(None)
            .call(|mut c| async move { c.status(sync::StatusRequest {}).await })
            .await?;
        Ok(SyncStatus::from(&answer))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unconfigured_is_one_key() {
        let json = serde_json::to_value(SyncStatus {
            configured: false,
            last: None,
        })
        .unwrap();
        assert_eq!(json, serde_json::json!({"configured": false}));
    }

    #[test]
    fn a_failed_sync_has_its_error_and_problems() {
        let s = sync::StatusResponse {
            file: "/etc/environments.yaml".to_owned(),
            outcome: "failed".to_owned(),
            last_sync_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            error: "2 problems".to_owned(),
            problems: vec!["a".to_owned(), "b".to_owned()],
            ..Default::default()
        };
        let json = serde_json::to_value(SyncStatus::from(&s)).unwrap();
        assert_eq!(json["configured"], true);
        assert_eq!(json["outcome"], "failed");
        assert_eq!(json["last_sync_time"], "2023-11-14T22:13:20Z");
        assert_eq!(json["last_success_time"], serde_json::Value::Null);
        assert_eq!(json["error"], "2 problems");
        assert_eq!(json["problems"], serde_json::json!(["a", "b"]));
        assert_eq!(json["managed_count"], 0);
    }

    #[tokio::test]
    async fn a_blank_url_is_not_configured() {
        assert!(!ConfigSync::new(Some(" "), None).unwrap().configured());
        assert!(!ConfigSync::new(None, None).unwrap().configured());
        assert!(
            ConfigSync::new(Some("http://127.0.0.1:1"), None)
                .unwrap()
                .configured()
        );
    }
}
