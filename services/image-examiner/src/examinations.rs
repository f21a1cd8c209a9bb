//! What images hold, read once per manifest: [`Examiner`] resolves a reference (cheap), answers
//! from its examinations by manifest digest when it can, and otherwise reads the image — one read
//! per digest however many callers want it at once, at most `max_concurrent_reads` reads at a
//! time. Examinations are kept without bound (they are small); the merged trees a comparison
//! needs are kept for the `cached_trees` most recently used digests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use execenv_core::EnvironmentSpec;
use execenv_core::examine::{self, Finding, Findings, UnreadableKind};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::Semaphore;

use crate::lru::Lru;
use crate::metrics::{ExaminerMetrics, Served};
use crate::source::{ImageSource, Manifest, Unreadable};

/// What one image manifest holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Examination {
    /// The manifest.
    pub manifest: Manifest,
    /// The installations found and the notes.
    pub findings: Findings,
    /// When its layers were read.
    pub examined_time: DateTime<Utc>,
}

/// An examination and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct Examined {
    /// The examination.
    pub examination: Arc<Examination>,
    /// Answered without reading the image now.
    pub cached: bool,
}

/// A definition compared with the image its name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    /// The manifest digest compared with.
    pub digest: String,
    /// Drift and notices, as `execenv_core::examine::compare` finds them.
    pub findings: Vec<Finding>,
}

/// How much the examiner reads at once and keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Images read at the same time.
    pub max_concurrent_reads: usize,
    /// Merged trees kept.
    pub cached_trees: usize,
}

/// Reads images through `S`, with the caches; cheap to clone.
pub struct Examiner<S: ImageSource> {
    inner: Arc<Inner<S>>,
}

impl<S: ImageSource> Clone for Examiner<S> {
    fn clone(&self) -> Self {
        Examiner {
            inner: self.inner.clone(),
        }
    }
}

type Read<T> = Result<(Arc<Examination>, Arc<T>), Unreadable>;

/// A read in progress, awaited by everyone who wants it.
type SharedRead<T> = Shared<BoxFuture<'static, Read<T>>>;

struct Inner<S: ImageSource> {
    source: S,
    examinations: Mutex<HashMap<String, Arc<Examination>>>,
    trees: Mutex<Lru<S::Tree>>,
    /// Reads in progress by digest; each is a task of its own, so a caller that goes away does
    /// not cancel what others wait for.
    reads: Mutex<HashMap<String, SharedRead<S::Tree>>>,
    permits: Semaphore,
    metrics: ExaminerMetrics,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: ImageSource> Examiner<S> {
    /// An examiner reading through `source`.
    pub fn new(source: S, limits: Limits, metrics: ExaminerMetrics) -> Self {
        Examiner {
            inner: Arc::new(Inner {
                source,
                examinations: Mutex::new(HashMap::new()),
                trees: Mutex::new(Lru::new(limits.cached_trees)),
                reads: Mutex::new(HashMap::new()),
                permits: Semaphore::new(limits.max_concurrent_reads.max(1)),
                metrics,
            }),
        }
    }

    /// What `reference` holds for `platform` (None: the source's default): its manifest's
    /// examination from the cache unless `refresh`, else read now.
    pub async fn examine(
        &self,
        reference: &str,
        platform: Option<&str>,
        refresh: bool,
    ) -> Result<Examined, Unreadable> {
        let result = self.examine_counted(reference, platform, refresh).await;
        self.count(&result.as_ref().map(|e| e.cached));
        result
    }

    async fn examine_counted(
        &self,
        reference: &str,
        platform: Option<&str>,
        refresh: bool,
    ) -> Result<Examined, Unreadable> {
        let (manifest, resolved) = self.inner.source.resolve(reference, platform).await?;
        if !refresh && let Some(examination) = self.cached(&manifest.digest) {
            return Ok(Examined {
                examination,
                cached: true,
            });
        }
        let ((examination, _), cached) = self.read(manifest, resolved).await?;
        Ok(Examined {
            examination,
            cached,
        })
    }

    /// Compares `spec` with the image its name resolves to (for the default platform): with the
    /// tree kept from an earlier read, else after reading the image again.
    pub async fn compare(&self, spec: &EnvironmentSpec) -> Result<Compared, Unreadable> {
        let result = self.compare_counted(spec).await;
        self.count(&result.as_ref().map(|(_, cached)| *cached));
        result.map(|(compared, _)| compared)
    }

    async fn compare_counted(
        &self,
        spec: &EnvironmentSpec,
    ) -> Result<(Compared, bool), Unreadable> {
        let (manifest, resolved) = self.inner.source.resolve(&spec.name, None).await?;
        let digest = manifest.digest.clone();
        let kept = lock(&self.inner.trees).get(&digest);
        let ((examination, tree), cached) = match (kept, self.cached(&digest)) {
            (Some(tree), Some(examination)) => ((examination, tree), true),
            _ => self.read(manifest, resolved).await?,
        };
        let findings = examine::compare(spec, &*tree, &examination.findings);
        Ok((Compared { digest, findings }, cached))
    }

    /// How many examinations and trees are kept.
    pub fn kept(&self) -> (usize, usize) {
        (
            lock(&self.inner.examinations).len(),
            lock(&self.inner.trees).len(),
        )
    }

    fn count(&self, result: &Result<bool, &Unreadable>) {
        // A read counts once, where it is made (`read_now`); its waiters as cached.
        match result {
            Ok(true) => self.inner.metrics.examined(Served::Cached),
            Ok(false) => {}
            Err(_) => self.inner.metrics.examined(Served::Unreadable),
        }
    }

    fn cached(&self, digest: &str) -> Option<Arc<Examination>> {
        lock(&self.inner.examinations).get(digest).cloned()
    }

    /// Reads the manifest's image, or waits for the read of it already in progress (then the
    /// answer counts as cached: this caller did not cause a read).
    async fn read(
        &self,
        manifest: Manifest,
        resolved: S::Resolved,
    ) -> Result<((Arc<Examination>, Arc<S::Tree>), bool), Unreadable> {
        let (read, joined) = {
            let mut reads = lock(&self.inner.reads);
            match reads.get(&manifest.digest) {
                Some(read) => (read.clone(), true),
                None => {
                    let digest = manifest.digest.clone();
                    let inner = self.inner.clone();
                    let task =
                        tokio::spawn(async move { inner.read_now(manifest, resolved).await });
                    let read = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(Unreadable::new(
                                UnreadableKind::Invalid,
                                format!("reading the image stopped unexpectedly: {e}"),
                            ))
                        })
                    }
                    .boxed()
                    .shared();
                    reads.insert(digest, read.clone());
                    (read, false)
                }
            }
        };
        let pair = read.await?;
        Ok((pair, joined))
    }
}

impl<S: ImageSource> Inner<S> {
    /// Reads now, within the limit of concurrent reads; keeps the result and forgets the read.
    async fn read_now(&self, manifest: Manifest, resolved: S::Resolved) -> Read<S::Tree> {
        let digest = manifest.digest.clone();
        let result = self.read_within_limit(manifest, resolved).await;
        lock(&self.reads).remove(&digest);
        result
    }

    async fn read_within_limit(&self, manifest: Manifest, resolved: S::Resolved) -> Read<S::Tree> {
        // The semaphore is never closed.
        let _permit = self.permits.acquire().await.ok();
        let started = Instant::now();
        let tree = match self.source.read_tree(&resolved).await {
            Ok(tree) => tree,
            Err(e) => {
                tracing::warn!(digest = manifest.digest, kind = e.kind.as_str(), problem = %e,
                    "cannot read an image");
                return Err(e);
            }
        };
        let findings = examine::find_installations(&tree);
        let took = started.elapsed();
        self.metrics.read(took, manifest.layer_bytes);
        self.metrics.examined(Served::Read);
        tracing::info!(
            digest = manifest.digest,
            platform = manifest.platform,
            layers = manifest.layers,
            bytes = manifest.layer_bytes,
            installations = findings.installations.len(),
            ms = took.as_millis() as u64,
            "image examined"
        );
        let examination = Arc::new(Examination {
            manifest,
            findings,
            examined_time: Utc::now(),
        });
        let tree = Arc::new(tree);
        let digest = &examination.manifest.digest;
        lock(&self.examinations).insert(digest.clone(), examination.clone());
        lock(&self.trees).put(digest, tree.clone());
        Ok((examination, tree))
    }
}

#[cfg(test)]
#[path = "examinations_tests.rs"]
mod tests;
