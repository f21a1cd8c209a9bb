//! A test double of the image examiner for the `image examine` and `env drift` tests: an
//! in-process `ImageExaminer` answering fixed examinations and checks (or one failure) and keeping
//! what it was sent. The real examiner needs an OCI registry and a catalogue to answer anything;
//! these tests are about what execenvctl sends and prints, like the selector's and launcher's
//! fakes beside it (the real examiner is driven end to end in e2e/tests).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use execenv_proto::examiner::v1 as wire;
use execenv_proto::examiner::v1::image_examiner_server::{
    ImageExaminer as ExaminerService, ImageExaminerServer,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{Calls, GUID, OTHER, serve, wire_noon};

/// The image of the sample environment in drift.
pub const DRIFTING_IMAGE: &str = "127.0.0.1:5000/python:3.12";
/// The image of the sample environment that is ok.
pub const OK_IMAGE: &str = "127.0.0.1:5000/r:4.2";

/// What `Examine` answers for `image`: Python 3.11.2, an R without its version file, read from 3
/// layers.
pub fn examination(image: &str) -> wire::Examination {
    wire::Examination {
        image: image.into(),
        digest: "sha256:4f2a9c0e11d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2".into(),
        platform: "linux/amd64".into(),
        installations: vec![
            wire::FoundInstallation {
                language: "python".into(),
                path: "/opt/python/3.11.2/bin/python3".into(),
                version: "3.11.2".into(),
                version_file: "/usr/include/python3.11/patchlevel.h".into(),
                problem: String::new(),
            },
            wire::FoundInstallation {
                language: "r".into(),
                path: "/opt/R/4.2.2/bin/R".into(),
                version: String::new(),
                version_file: String::new(),
                problem: "/opt/R/4.2.2/lib/R/include/Rversion.h is not in the image".into(),
            },
        ],
        notes: vec![
            "R /opt/R/4.2.2/bin/R: /opt/R/4.2.2/lib/R/include/Rversion.h is not in the image"
                .into(),
        ],
        examined_time: Some(wire_noon()),
        cached: false,
        layers: 3,
        layer_bytes: 52_428_800,
    }
}

/// The sample checks: [`GUID`] in drift (Python declared 3.12.4, the image has 3.11.2), checked
/// at noon; [`OTHER`] ok.
pub fn checks() -> Vec<wire::EnvironmentCheck> {
    vec![
        wire::EnvironmentCheck {
            guid: GUID.into(),
            image: DRIFTING_IMAGE.into(),
            title: "Python 3.12".into(),
            state: wire::CheckState::Drift as i32,
            digest: "sha256:4f2a9c0e11d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2".into(),
            previous_digest: String::new(),
            findings: vec![wire::Finding {
                kind: wire::FindingKind::VersionMismatch as i32,
                language: "python".into(),
                path: "/opt/python/3.12.4/bin/python3".into(),
                declared_version: "3.12.4".into(),
                found_version: "3.11.2".into(),
                message: "Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.2".into(),
                drift: true,
            }],
            unreadable_kind: 0,
            unreadable_message: String::new(),
            checked_time: Some(wire_noon()),
            state_changed_time: Some(wire_noon()),
            revision: 4,
        },
        wire::EnvironmentCheck {
            guid: OTHER.into(),
            image: OK_IMAGE.into(),
            title: "R 4.2".into(),
            state: wire::CheckState::Ok as i32,
            digest: "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9".into(),
            previous_digest: String::new(),
            findings: vec![],
            unreadable_kind: 0,
            unreadable_message: String::new(),
            checked_time: Some(wire_noon()),
            state_changed_time: Some(wire_noon()),
            revision: 2,
        },
    ]
}

/// The double: fixed answers, or the failure of its `calls`, and every request kept.
#[derive(Clone, Default)]
pub struct FakeExaminer {
    /// The calls made (their metadata) and the failure to answer with.
    pub calls: Calls,
    /// Every `Examine` request.
    pub examined: Arc<Mutex<Vec<wire::ExamineRequest>>>,
    /// Every `GetCheck` request's guid.
    pub got: Arc<Mutex<Vec<String>>>,
    /// The checks it answers (default: [`checks`]).
    pub checks: Option<Vec<wire::EnvironmentCheck>>,
}

impl FakeExaminer {
    /// A double whose every call fails with `status`.
    pub fn failing(status: Status) -> Self {
        FakeExaminer {
            calls: Calls::failing(status),
            ..FakeExaminer::default()
        }
    }

    /// A double answering `checks` instead of the samples.
    pub fn with_checks(checks: Vec<wire::EnvironmentCheck>) -> Self {
        FakeExaminer {
            checks: Some(checks),
            ..FakeExaminer::default()
        }
    }

    fn checks(&self) -> Vec<wire::EnvironmentCheck> {
        self.checks.clone().unwrap_or_else(checks)
    }

    /// Serves the double on a free local port; returns its address.
    pub async fn serve(self) -> SocketAddr {
        serve(tonic::transport::Server::builder().add_service(ImageExaminerServer::new(self))).await
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<wire::CheckEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ExaminerService for FakeExaminer {
    async fn examine(
        &self,
        r: Request<wire::ExamineRequest>,
    ) -> Result<Response<wire::ExamineResponse>, Status> {
        self.calls.record(&r)?;
        let request = r.into_inner();
        let examination = examination(&request.image);
        self.examined.lock().unwrap().push(request);
        Ok(Response::new(wire::ExamineResponse {
            examination: Some(examination),
        }))
    }

    async fn list_checks(
        &self,
        r: Request<wire::ListChecksRequest>,
    ) -> Result<Response<wire::ListChecksResponse>, Status> {
        self.calls.answer(
            &r,
            wire::ListChecksResponse {
                checks: self.checks(),
                interval_seconds: 300,
            },
        )
    }

    async fn get_check(
        &self,
        r: Request<wire::GetCheckRequest>,
    ) -> Result<Response<wire::EnvironmentCheck>, Status> {
        self.calls.record(&r)?;
        let guid = r.into_inner().guid;
        self.got.lock().unwrap().push(guid.clone());
        self.checks()
            .into_iter()
            .find(|c| c.guid == guid)
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("environment {guid} does not exist")))
    }

    type WatchChecksStream = Events;

    async fn watch_checks(
        &self,
        _: Request<wire::WatchChecksRequest>,
    ) -> Result<Response<Events>, Status> {
        Err(Status::unimplemented("execenvctl does not watch checks"))
    }

    async fn check_now(
        &self,
        r: Request<wire::CheckNowRequest>,
    ) -> Result<Response<wire::CheckNowResponse>, Status> {
        self.calls.answer(
            &r,
            wire::CheckNowResponse {
                checks: self.checks(),
            },
        )
    }
}
