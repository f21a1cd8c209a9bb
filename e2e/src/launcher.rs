//! Following launches of the real launcher in tests.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use execenv_proto::launcher::v1 as pb;
use tonic::Streaming;

/// Reads a Watch stream of one launch until `want` holds, and returns that launch; fails if the
/// stream ends first (the launch finished in another state) or after `timeout`, naming `what` was
/// waited for and the last state seen.
pub async fn watch_until(
    mut events: Streaming<pb::LaunchEvent>,
    timeout: Duration,
    what: &str,
    want: impl Fn(&pb::Launch) -> bool,
) -> Result<pb::Launch> {
    let mut last = None;
    let found = tokio::time::timeout(timeout, async {
        while let Some(event) = events.message().await? {
            let launch = event.launch.context("an event without a launch")?;
            if want(&launch) {
                return Ok(launch);
            }
            last = Some(launch);
        }
        bail!("the Watch stream ended before {what}")
    })
    .await;
    match found {
        Ok(result) => result.with_context(|| format!("last seen: {last:?}")),
        Err(_) => bail!("no {what} within {timeout:?}; last seen: {last:?}"),
    }
}
