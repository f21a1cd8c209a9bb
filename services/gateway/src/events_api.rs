//! `GET /__api__/execenv/v1/events`: the console's live updates as server-sent events, for any
//! signed-in caller: `ready` with the catalogue's revision first, then `catalogue` for every
//! change (`upsert`, `delete`, or `resync` to re-read everything) and `sync` when config-sync's
//! status changes (not for viewers, who may not read it), with a `: keep-alive` comment every
//! 15 s. The events come from [`crate::events`], shared by every subscriber. One person may hold
//! `limits.max_event_streams_per_user` streams open; one more is 429.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use execenv_core::Role;
use futures::{Stream, StreamExt, stream};
use serde_json::json;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::events::Event;
use crate::state::AppState;

/// How often an idle stream sends a comment, so proxies keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

async fn events(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
) -> Result<Response, ApiError> {
    let may_read_sync = who.caller.role != Role::Viewer;
    let person = format!("user {}", who.user.guid);
    let permit = state
        .limits()
        .event_streams()
        .open(person, "event streams")?;
    let subscription = state.events().subscribe().await;
    let mut first = vec![
        SseEvent::default()
            .event("ready")
            .data(json!({ "revision": subscription.revision }).to_string()),
    ];
    if may_read_sync && let Some(sync) = &subscription.sync {
        first.extend(to_sse(Event::Sync(sync.clone())));
    }
    // The permit is held, and the person's place taken, as long as the stream is open.
    let rest = stream::unfold(
        (subscription, permit),
        move |(mut sub, permit)| async move {
            loop {
                let event = sub.next().await?;
                if matches!(event, Event::Sync(_)) && !may_read_sync {
                    continue;
                }
                if let Some(sse) = to_sse(event) {
                    return Some((sse, (sub, permit)));
                }
            }
        },
    );
    let mut response = sse(stream::iter(first).chain(rest)).into_response();
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn sse(
    events: impl Stream<Item = SseEvent> + Send + 'static,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    Sse::new(events.map(Ok)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}

/// The server-sent event of `event`.
pub fn to_sse(event: Event) -> Option<SseEvent> {
    let (name, data) = sse_parts(&event)?;
    Some(SseEvent::default().event(name).data(data))
}

/// The event name and data line of `event`.
pub fn sse_parts(event: &Event) -> Option<(&'static str, String)> {
    match event {
        Event::Catalogue { kind, revision } => Some((
            "catalogue",
            json!({ "kind": kind, "revision": revision }).to_string(),
        )),
        Event::Sync(status) => serde_json::to_string(status).ok().map(|d| ("sync", d)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config_sync::SyncStatus;

    #[test]
    fn a_catalogue_event_carries_only_its_kind_and_revision() {
        let (name, data) = sse_parts(&Event::Catalogue {
            kind: "upsert",
            revision: 12,
        })
        .unwrap();
        assert_eq!(name, "catalogue");
        assert_eq!(data, r#"{"kind":"upsert","revision":12}"#);
    }

    #[test]
    fn a_sync_event_carries_the_sync_body() {
        let (name, data) = sse_parts(&Event::Sync(SyncStatus {
            configured: false,
            last: None,
        }))
        .unwrap();
        assert_eq!(name, "sync");
        assert_eq!(data, r#"{"configured":false}"#);
    }
}
