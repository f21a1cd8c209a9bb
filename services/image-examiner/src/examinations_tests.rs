#![allow(clippy::unwrap_used)]

use execenv_core::examine::{FindingKind, UnreadableKind};
use execenv_kit::metrics::Metrics;

use super::*;
use crate::testing::{MemorySource, MemoryTree, environment};

const IMAGE: &str = "127.0.0.1:5000/python:3";

fn examiner(source: &MemorySource, cached_trees: usize) -> (Examiner<MemorySource>, Metrics) {
    let metrics = Metrics::new();
    let limits = Limits {
        max_concurrent_reads: 2,
        cached_trees,
    };
    let e = Examiner::new(source.clone(), limits, ExaminerMetrics::register(&metrics));
    (e, metrics)
}

fn counted(metrics: &Metrics, result: &str) -> String {
    let text = metrics.encode();
    let prefix = format!("execenv_examiner_examinations_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or("0")
        .to_owned()
}

#[tokio::test]
async fn an_examination_is_read_once_per_digest_unless_refreshed() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    source.tag(
        "127.0.0.1:5000/python:3.11",
        "sha256:a",
        MemoryTree::python("3.11.9"),
    );
    let (e, metrics) = examiner(&source, 8);

    let first = e.examine(IMAGE, None, false).await.unwrap();
    assert!(!first.cached);
    let found = &first.examination.findings.installations;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, "/opt/python/3.11.9/bin/python3");
    assert_eq!(found[0].version.as_deref(), Some("3.11.9"));
    assert_eq!(first.examination.manifest.digest, "sha256:a");

    let other_tag = e
        .examine("127.0.0.1:5000/python:3.11", None, false)
        .await
        .unwrap();
    assert!(other_tag.cached, "the same digest under another tag");
    assert_eq!(source.reads(), 1);

    let refreshed = e.examine(IMAGE, None, true).await.unwrap();
    assert!(!refreshed.cached);
    assert_eq!(source.reads(), 2);
    assert_eq!(
        (counted(&metrics, "read"), counted(&metrics, "cached")),
        ("2".into(), "1".into())
    );
    assert!(
        metrics
            .encode()
            .contains("execenv_examiner_layer_bytes_total 2000")
    );
}

#[tokio::test]
async fn an_image_that_cannot_be_resolved_is_unreadable_and_counted() {
    let source = MemorySource::default();
    let (e, metrics) = examiner(&source, 8);
    let why = e
        .examine("127.0.0.1:5000/nothing:1", None, false)
        .await
        .unwrap_err();
    assert_eq!(why.kind, UnreadableKind::NotFound);
    assert_eq!(counted(&metrics, "unreadable"), "1");
    assert_eq!(source.reads(), 0);
}

#[tokio::test]
async fn callers_of_one_digest_at_once_share_one_read() {
    let source = MemorySource::held();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let (e, metrics) = examiner(&source, 8);
    let declared = environment(1, IMAGE, "3.11.9", 1).spec;
    let compare = tokio::spawn({
        let e = e.clone();
        async move { e.compare(&declared).await }
    });
    let examine = tokio::spawn({
        let e = e.clone();
        async move { e.examine(IMAGE, None, false).await }
    });
    source.wait_for_reads(1).await;
    source.open();
    let compared = compare.await.unwrap().unwrap();
    let examined = examine.await.unwrap().unwrap();
    assert_eq!(compared.findings, vec![]);
    assert_eq!(examined.examination.manifest.digest, "sha256:a");
    assert_eq!(source.reads(), 1);
    assert_eq!(
        (counted(&metrics, "read"), counted(&metrics, "cached")),
        ("1".into(), "1".into())
    );
}

#[tokio::test]
async fn a_changed_definition_is_compared_with_the_kept_tree_without_reading_again() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let (e, _) = examiner(&source, 1);
    let drift = e
        .compare(&environment(1, IMAGE, "3.12.4", 1).spec)
        .await
        .unwrap();
    assert_eq!(drift.digest, "sha256:a");
    let kinds: Vec<FindingKind> = drift.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::Missing, FindingKind::Undeclared]);

    let fixed = e
        .compare(&environment(1, IMAGE, "3.11.9", 2).spec)
        .await
        .unwrap();
    assert_eq!(fixed.findings, vec![]);
    assert_eq!(source.reads(), 1);
    assert_eq!(e.kept(), (1, 1));
}

#[tokio::test]
async fn without_kept_trees_a_comparison_reads_the_image_again() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    source.tag(
        "127.0.0.1:5000/python:2",
        "sha256:b",
        MemoryTree::python("3.10.4"),
    );
    let (e, _) = examiner(&source, 0);
    let spec = environment(1, IMAGE, "3.11.9", 1).spec;
    e.compare(&spec).await.unwrap();
    e.compare(&spec).await.unwrap();
    assert_eq!(source.reads(), 2);
    assert_eq!(e.kept(), (1, 0), "the examination is kept, the tree is not");

    let (one, _) = examiner(&source, 1);
    one.compare(&spec).await.unwrap();
    one.compare(&environment(2, "127.0.0.1:5000/python:2", "3.10.4", 1).spec)
        .await
        .unwrap();
    one.compare(&spec).await.unwrap();
    assert_eq!(
        source.reads(),
        5,
        "the least recently used tree was dropped"
    );
}
