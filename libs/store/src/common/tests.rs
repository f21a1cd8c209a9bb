//! Assembling rows into environments, and decoding rows as they stream in.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use futures::StreamExt;

use super::*;

fn environment(id: i64) -> EnvironmentRow {
    with_installations(id, "[]")
}

/// A row whose `installations` column holds `installations` (JSON, as the store or a
/// migration wrote it).
fn with_installations(id: i64, installations: &str) -> EnvironmentRow {
    EnvironmentRow {
        id,
        guid: Uuid::new_v4().to_string(),
        name: format!("img/{id}"),
        title: None,
        description: None,
        cluster_name: "Kubernetes".to_owned(),
        environment_type: "Kubernetes".to_owned(),
        matching: "any".to_owned(),
        supervisor: None,
        managed_by: None,
        created_time: Utc::now(),
        updated_time: Utc::now(),
        revision: id,
        installations: installations.to_owned(),
    }
}

fn mount(environment_id: i64, target: &str) -> MountRow {
    MountRow {
        environment_id,
        source_type: "pvc".to_owned(),
        nfs_host: None,
        nfs_export_path: None,
        pvc_name: Some("shared".to_owned()),
        target_path: target.to_owned(),
        read_only: true,
    }
}

#[test]
fn assembled_children_keep_their_order_in_lists_of_exact_length() {
    // The first as the store writes the column, the second as PostgreSQL's migration does.
    let first = with_installations(
        1,
        r#"[{"language":"python","version":"3.11.9","path":"/opt/python/3.11.9"},{"language":"python","version":"3.12.1","path":"/opt/python/3.12.1"},{"language":"r","version":"4.4.1","path":"/opt/R/4.4.1"}]"#,
    );
    let second = with_installations(
        2,
        r#"[{"language" : "python", "version" : "3.10.4", "path" : "/opt/py\"thon"}, 
 {"language" : "quarto", "version" : "1.5.57", "path" : "/opt/quarto"}]"#,
    );
    let mounts = vec![mount(1, "/data"), mount(2, "/a"), mount(2, "/b")];
    let envs = assemble(vec![first, second], mounts, Vec::new()).unwrap();
    let versions = |list: &Vec<Installation>| -> Vec<String> {
        assert_eq!(
            list.capacity(),
            list.len(),
            "no room reserved beyond the installations"
        );
        list.iter().map(|i| i.version.clone()).collect()
    };
    assert_eq!(versions(&envs[0].spec.python), ["3.11.9", "3.12.1"]);
    assert_eq!(versions(&envs[0].spec.r), ["4.4.1"]);
    assert_eq!(versions(&envs[1].spec.python), ["3.10.4"]);
    assert_eq!(versions(&envs[1].spec.quarto), ["1.5.57"]);
    assert!(envs[1].spec.r.is_empty());
    assert_eq!(envs[0].spec.python[1].path, "/opt/python/3.12.1");
    assert_eq!(envs[1].spec.python[0].path, "/opt/py\"thon");
    let targets: Vec<&str> = envs[1]
        .spec
        .volume_mounts
        .iter()
        .map(|m| m.target_path.as_str())
        .collect();
    assert_eq!(targets, ["/a", "/b"]);
    assert_eq!(envs[1].spec.volume_mounts.capacity(), 2);
    assert_eq!(
        envs[1].spec.volume_mounts[0].source,
        VolumeSource::Pvc {
            claim_name: "shared".to_owned()
        }
    );
}

#[test]
fn the_installations_column_reads_back_as_written() {
    let installation = |version: &str, path: &str| Installation {
        version: version.to_owned(),
        path: path.to_owned(),
    };
    let mut spec = assemble(vec![environment(1)], Vec::new(), Vec::new()).unwrap()[0]
        .spec
        .clone();
    spec.python = vec![
        installation("3.12.1", "/opt/python/3.12/bin/python"),
        installation("3.11.9", "/opt/python \"old\"/bin/python"),
    ];
    spec.tensorflow = vec![installation("2.15.0", "/opt/tf")];
    let mut row = environment(1);
    row.installations = installations_json(&spec);
    let env = assemble(vec![row], Vec::new(), Vec::new()).unwrap();
    assert_eq!(env[0].spec.python, spec.python);
    assert_eq!(env[0].spec.tensorflow, spec.tensorflow);
    assert!(env[0].spec.r.is_empty() && env[0].spec.quarto.is_empty());
    assert_eq!(
        installed_key(&spec),
        " python=3.12.1 python=3.11.9 tensorflow=2.15.0 "
    );
}

#[test]
fn an_unknown_language_is_reported_as_corrupt() {
    let row = with_installations(
        1,
        r#"[{"language":"cobol","version":"1.0.0","path":"/opt/cobol"}]"#,
    );
    let err = assemble(vec![row], Vec::new(), Vec::new()).unwrap_err();
    assert!(
        err.message.contains("language \"cobol\""),
        "{}",
        err.message
    );
}

#[test]
fn an_unreadable_installations_column_is_reported_as_corrupt() {
    let err = assemble(vec![with_installations(1, "[{")], Vec::new(), Vec::new()).unwrap_err();
    assert!(
        err.message.contains("list of installations"),
        "{}",
        err.message
    );
}

/// A driver row that counts how many rows are alive.
struct CountedRow {
    alive: Arc<AtomicUsize>,
}

impl CountedRow {
    fn new(alive: &Arc<AtomicUsize>) -> Self {
        alive.fetch_add(1, Ordering::SeqCst);
        CountedRow {
            alive: alive.clone(),
        }
    }
}

impl Drop for CountedRow {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

fn rows_alive(row: &CountedRow) -> Result<usize, sqlx::Error> {
    Ok(row.alive.load(Ordering::SeqCst))
}

#[tokio::test]
async fn rows_are_decoded_one_at_a_time_as_they_stream_in() {
    let alive = Arc::new(AtomicUsize::new(0));
    let made = alive.clone();
    let rows = futures::stream::iter(0..1_000).map(move |_| Ok(CountedRow::new(&made)));
    let seen = decode_each(rows, rows_alive).await.unwrap();
    assert_eq!(seen.len(), 1_000);
    assert!(
        seen.iter().all(|&n| n == 1),
        "each row is dropped before the next is read"
    );
    assert_eq!(alive.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_row_that_cannot_be_decoded_fails_the_query() {
    fn refuse(_: &u32) -> Result<u32, sqlx::Error> {
        Err(sqlx::Error::ColumnNotFound("guid".to_owned()))
    }
    let rows = futures::stream::iter([Ok(1_u32), Ok(2)]);
    let err = decode_each(rows, refuse).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(err.message.contains("guid"), "{}", err.message);
}
