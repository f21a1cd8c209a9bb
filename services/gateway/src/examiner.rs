//! The image examiner, through its client, if the gateway knows where it is (`examiner.url`):
//! each call acts as the person who sent the request, so the examiner applies their role too.
//! Reading an image can take minutes (its layers are streamed from its registry), so
//! `Examine` and `CheckNow` get a longer request timeout than the reads of checks.

use std::time::Duration;

use execenv_client::{ClientTls, Connection, Intercepted, Options, Service, Target};
use execenv_core::{Caller, Error, ErrorKind};
use execenv_proto::examiner::v1::image_examiner_client::ImageExaminerClient;

use crate::error::ApiError;

/// How long reading a check may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an examination or a round of checks may take: a large image read from a slow
/// registry.
const EXAMINE_TIMEOUT: Duration = Duration::from_secs(600);

/// The examiner's client for one kind of call.
pub type ExaminerClient = ImageExaminerClient<Intercepted>;

/// The image examiner, or none when `examiner.url` is empty.
#[derive(Clone)]
pub struct Examiner {
    connections: Option<(Connection, Connection)>,
}

impl Examiner {
    /// The examiner at `url`, sending `token` when one is configured; a blank URL is none.
    /// Does not connect yet.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, Error> {
        Examiner::with_tls(url, token, None)
    }

    /// [`Examiner::new`], over TLS when `tls` is given (`https://` URL).
    pub fn with_tls(
        url: &str,
        token: Option<String>,
        tls: Option<ClientTls>,
    ) -> Result<Self, Error> {
        if url.trim().is_empty() {
            return Ok(Examiner::unconfigured());
        }
        let target = Target::new(Service::Examiner, url);
        let reads = Options::default()
            .with_request_timeout(READ_TIMEOUT)
            .with_tls(tls.clone());
        let examinations = Options::default()
            .with_request_timeout(EXAMINE_TIMEOUT)
            .with_tls(tls);
        Ok(Examiner {
            connections: Some((
                Connection::lazy(target.clone(), token.clone(), &reads)?,
                Connection::lazy(target, token, &examinations)?,
            )),
        })
    }

    /// No examiner: its routes answer 503.
    pub fn unconfigured() -> Self {
        Examiner { connections: None }
    }

    /// Whether a URL was configured.
    pub fn configured(&self) -> bool {
        self.connections.is_some()
    }

    /// The examiner for reading checks, acting as `caller`.
    pub fn reader(&self, caller: &Caller) -> Result<ExaminerClient, ApiError> {
        Ok(self.connections()?.0.examiner(Some(caller)).raw())
    }

    /// The examiner for examining images and checking now, acting as `caller`.
    pub fn examining(&self, caller: &Caller) -> Result<ExaminerClient, ApiError> {
        Ok(self.connections()?.1.examiner(Some(caller)).raw())
    }

    /// The answer for a failed call: the examiner's own error, or the client's one error for an
    /// examiner that could not be reached.
    pub fn failed(&self, status: tonic::Status) -> ApiError {
        match &self.connections {
            Some((c, _)) => ApiError::from(c.target().error(&status)),
            None => not_configured(),
        }
    }

    fn connections(&self) -> Result<&(Connection, Connection), ApiError> {
        self.connections.as_ref().ok_or_else(not_configured)
    }
}

fn not_configured() -> ApiError {
    ApiError(Error::new(
        ErrorKind::Unavailable,
        "this gateway has no image examiner: set examiner.url (EXECENV_EXAMINER__URL) to the \
         gRPC URL of execenv-image-examiner to examine images and see environments' checks",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_blank_url_turns_the_examiner_off_with_a_message_naming_the_setting() {
        let none = Examiner::new(" ", None).unwrap();
        assert!(!none.configured());
        let caller = Caller::service();
        let e = none.reader(&caller).err().unwrap();
        assert_eq!(e.0.kind, ErrorKind::Unavailable);
        assert!(e.0.message.contains("examiner.url"), "{}", e.0.message);
        assert!(
            Examiner::new("http://127.0.0.1:1", None)
                .unwrap()
                .configured()
        );
    }
}
