//! Reaching the gateway over HTTP, for the commands that only it serves (`bundle …`): its URL
//! and API key from the global flags, one "cannot reach" error naming the flag, and the
//! gateway's own error message (Connect's `{"code", "error", "payload"}`) for a refusal.

use std::path::Path;
use std::time::Duration;

use execenv_client::ClientTls;
use execenv_client::error_chain as chain;
use execenv_core::bundle::{Bundle, bundle_number, content_guid};
use execenv_core::{Error, ErrorKind};
use reqwest::{Method, RequestBuilder, Response, StatusCode, header};
use serde::de::DeserializeOwned;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call other than an upload may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Where execenv's own routes are.
const API: &str = "/__api__/execenv/v1";

/// The gateway at one URL, called with one API key.
pub struct Gateway {
    client: reqwest::Client,
    url: String,
    key: String,
}

impl Gateway {
    /// A client of the gateway at `url` (`http://host:port`, or `https://…` verified with `tls`)
    /// sending `key`.
    pub fn new(url: &str, key: &str, tls: Option<ClientTls>) -> Result<Gateway, Error> {
        // TLS through ring, as everywhere else in the workspace; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        if let Some(tls) = tls {
            builder = builder.tls_backend_preconfigured(tls.http_config());
        }
        let client = builder
            .build()
            .map_err(|e| Error::internal(format!("cannot make an HTTP client: {}", chain(&e))))?;
        Ok(Gateway {
            client,
            url: url.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }

    /// Uploads the `.tar.gz` at `file` as content `guid`'s next bundle.
    pub async fn upload(&self, guid: &str, file: &Path) -> Result<Bundle, Error> {
        let body = tokio::fs::File::open(file).await.map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot read {}: {e}", file.display()),
            )
        })?;
        let length = body
            .metadata()
            .await
            .map_err(|e| Error::internal(format!("cannot read {}: {e}", file.display())))?
            .len();
        let request = self
            .request(Method::POST, &bundles(guid)?)
            .header(header::CONTENT_TYPE, "application/gzip")
            .header(header::CONTENT_LENGTH, length)
            .body(body);
        json(self.send(request).await?).await
    }

    /// Content `guid`'s bundles.
    pub async fn bundles(&self, guid: &str) -> Result<Vec<Bundle>, Error> {
        let request = self
            .request(Method::GET, &bundles(guid)?)
            .timeout(REQUEST_TIMEOUT);
        json(self.send(request).await?).await
    }

    /// Deletes content `guid`'s bundle `id`.
    pub async fn delete_bundle(&self, guid: &str, id: &str) -> Result<(), Error> {
        let number = bundle_number(id).ok_or_else(|| {
            Error::invalid_field(
                "ID",
                format!("{id:?} is not a bundle id; bundle ids are 1, 2, … (see `bundle list`)"),
            )
        })?;
        let path = format!("{}/{number}", bundles(guid)?);
        let request = self.request(Method::DELETE, &path).timeout(REQUEST_TIMEOUT);
        self.send(request).await.map(drop)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .header(header::AUTHORIZATION, format!("Key {}", self.key))
    }

    /// Sends `request`; the answer when it is a success, else the error it says.
    async fn send(&self, request: RequestBuilder) -> Result<Response, Error> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(refusal(response).await)
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        Error::unavailable(format!(
            "cannot reach the gateway at {}: {}; is execenv-gateway running? set --gateway (or EXECENV_GATEWAY)",
            self.url,
            chain(e)
        ))
    }
}

/// `/__api__/execenv/v1/content/GUID/bundles`, for a guid checked as the gateway checks it (so
/// a wrong one is refused before anything is sent, and is safe in a URL).
fn bundles(guid: &str) -> Result<String, Error> {
    Ok(format!("{API}/content/{}/bundles", content_guid(guid)?))
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    let text = response.text().await.map_err(|e| {
        Error::unavailable(format!("the gateway's answer broke off: {}", chain(&e)))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::internal(format!(
            "the gateway answered what execenvctl cannot read ({e}): {text}"
        ))
    })
}

/// The error a failed answer stands for: the gateway's own message, with the kind its status
/// means.
async fn refusal(response: Response) -> Error {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|body| body["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(500).collect());
    Error::new(
        kind(status),
        format!("the gateway answered {}: {message}", status.as_u16()),
    )
}

fn kind(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        400 | 422 => ErrorKind::InvalidArgument,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        413 => ErrorKind::TooLarge,
        429 => ErrorKind::ResourceExhausted,
        502..=504 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn content_guids_are_checked_before_they_go_in_a_url() {
        let guid = "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70";
        assert_eq!(
            bundles(guid).unwrap(),
            format!("{API}/content/{guid}/bundles")
        );
        let e = bundles("../x").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.violations[0].field, "guid");
    }

    #[test]
    fn statuses_become_the_kinds_execenvctl_exits_with() {
        assert_eq!(kind(StatusCode::BAD_REQUEST), ErrorKind::InvalidArgument);
        assert_eq!(kind(StatusCode::FORBIDDEN), ErrorKind::PermissionDenied);
        assert_eq!(kind(StatusCode::PAYLOAD_TOO_LARGE), ErrorKind::TooLarge);
        assert_eq!(
            kind(StatusCode::TOO_MANY_REQUESTS),
            ErrorKind::ResourceExhausted
        );
        assert_eq!(
            kind(StatusCode::SERVICE_UNAVAILABLE),
            ErrorKind::Unavailable
        );
        assert_eq!(kind(StatusCode::INTERNAL_SERVER_ERROR), ErrorKind::Internal);
    }
}
