//! What the unit tests of the examiner's pure parts and its loop build on: images held in memory
//! (a file tree without symlinks, and a source resolving tags to them that counts its reads and
//! can hold them), and environments. The real reader and registries are exercised by
//! e2e/tests/image_examiner.rs.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use execenv_core::examine::{Content, FileKind, ImageFiles, UnreadableKind};
use execenv_core::{Environment, EnvironmentSpec, Installation, Matching};
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use crate::source::{ImageSource, Manifest, Unreadable};

/// How long a test waits for something that should happen at once.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A file tree: regular files by absolute path, folders implied by their files.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    files: BTreeMap<String, (bool, Vec<u8>)>,
}

impl MemoryTree {
    /// A tree with Python `version` installed Posit's way under /opt/python/VERSION.
    pub fn python(version: &str) -> MemoryTree {
        MemoryTree::default().with_python(version)
    }

    /// This tree with Python `version` added.
    pub fn with_python(mut self, version: &str) -> MemoryTree {
        let minor: Vec<&str> = version.split('.').take(2).collect();
        let prefix = format!("/opt/python/{version}");
        self.files
            .insert(format!("{prefix}/bin/python3"), (true, b"ELF".to_vec()));
        self.files.insert(
            format!("{prefix}/include/python{}/patchlevel.h", minor.join(".")),
            (
                false,
                format!("#define PY_VERSION \"{version}\"\n").into_bytes(),
            ),
        );
        self
    }
}

impl ImageFiles for MemoryTree {
    fn kind(&self, path: &str) -> Option<FileKind> {
        if let Some((executable, bytes)) = self.files.get(path) {
            return Some(FileKind::File {
                executable: *executable,
                size: bytes.len() as u64,
            });
        }
        self.list(path).map(|_| FileKind::Dir)
    }

    fn list(&self, path: &str) -> Option<Vec<String>> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        (!names.is_empty()).then_some(names)
    }

    fn resolve(&self, path: &str) -> Option<String> {
        self.kind(path).map(|_| path.to_owned())
    }

    fn content(&self, path: &str) -> Content<'_> {
        match self.files.get(path) {
            Some((_, bytes)) => Content::Bytes(bytes),
            None => Content::Missing,
        }
    }
}

/// What a tag points at.
type Tagged = (Manifest, Arc<MemoryTree>);

/// Images by reference, in memory. Reads can be held (closed gate) to see callers share them.
#[derive(Clone)]
pub struct MemorySource {
    tags: Arc<Mutex<HashMap<String, Tagged>>>,
    /// How many reads started.
    reads: watch::Sender<usize>,
    gate: Arc<Semaphore>,
}

impl Default for MemorySource {
    fn default() -> Self {
        MemorySource {
            tags: Arc::default(),
            reads: watch::Sender::new(0),
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
        }
    }
}

impl MemorySource {
    /// A source whose reads wait until [`MemorySource::open`].
    pub fn held() -> Self {
        MemorySource {
            gate: Arc::new(Semaphore::new(0)),
            ..MemorySource::default()
        }
    }

    /// Points `reference` at `tree` under `digest` (moving the tag if it existed).
    pub fn tag(&self, reference: &str, digest: &str, tree: MemoryTree) {
        let manifest = Manifest {
            digest: digest.to_owned(),
            platform: "linux/amd64".to_owned(),
            layers: 2,
            layer_bytes: 1000,
        };
        self.tags
            .lock()
            .unwrap()
            .insert(reference.to_owned(), (manifest, Arc::new(tree)));
    }

    /// How many reads started.
    pub fn reads(&self) -> usize {
        *self.reads.borrow()
    }

    /// Waits until `n` reads started.
    pub async fn wait_for_reads(&self, n: usize) {
        let mut rx = self.reads.subscribe();
        tokio::time::timeout(DEADLINE, rx.wait_for(|r| *r >= n))
            .await
            .unwrap_or_else(|_| panic!("{} reads started, not {n}", self.reads()))
            .unwrap();
    }

    /// Lets every held and future read through.
    pub fn open(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }
}

impl ImageSource for MemorySource {
    type Resolved = Arc<MemoryTree>;
    type Tree = MemoryTree;

    async fn resolve(
        &self,
        reference: &str,
        _platform: Option<&str>,
    ) -> Result<(Manifest, Arc<MemoryTree>), Unreadable> {
        self.tags
            .lock()
            .unwrap()
            .get(reference)
            .cloned()
            .ok_or_else(|| {
                Unreadable::new(
                    UnreadableKind::NotFound,
                    format!("{reference} was not found in memory: no such repository or tag"),
                )
            })
    }

    async fn read_tree(&self, resolved: &Arc<MemoryTree>) -> Result<MemoryTree, Unreadable> {
        self.reads.send_modify(|r| *r += 1);
        let _pass = self.gate.acquire().await.unwrap();
        Ok((**resolved).clone())
    }
}

/// The guid of test environment `n`.
pub fn guid(n: u128) -> Uuid {
    Uuid::from_u128(0x4000_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// A fixed instant.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
}

/// Environment `n` on `image` declaring Python `python` Posit's way, at revision `revision`.
pub fn environment(n: u128, image: &str, python: &str, revision: i64) -> Environment {
    Environment {
        id: i64::try_from(n).unwrap(),
        guid: guid(n),
        spec: EnvironmentSpec {
            name: image.to_owned(),
            title: Some(format!("Environment {n}")),
            description: None,
            cluster_name: "Kubernetes".to_owned(),
            matching: Matching::Any,
            supervisor: None,
            python: vec![Installation {
                version: python.to_owned(),
                path: format!("/opt/python/{python}/bin/python3"),
            }],
            r: vec![],
            quarto: vec![],
            tensorflow: vec![],
            volume_mounts: vec![],
        },
        environment_type: "Kubernetes".to_owned(),
        managed_by: None,
        permissions: vec![],
        created_time: at(0),
        updated_time: at(0),
        revision,
    }
}
