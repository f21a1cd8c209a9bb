#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

/// Watch options where only notify can explain a tick within the deadline.
fn notify_only() -> WatchOptions {
    WatchOptions {
        poll_interval: Duration::from_secs(3600),
        debounce: Duration::from_millis(20),
        notify: true,
    }
}

/// Waits for ticks until reading `file` gives `expected`, or fails at the deadline.
async fn sees(watch: &mut FileWatch, file: &Path, expected: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, watch.next()).await {
            Ok(Some(_)) => {
                if std::fs::read_to_string(file).ok().as_deref() == Some(expected) {
                    return;
                }
            }
            Ok(None) => panic!("the watch stopped"),
            Err(_) => panic!(
                "{expected:?} not seen in {} within {DEADLINE:?}",
                file.display()
            ),
        }
    }
}

#[tokio::test]
async fn watch_sees_a_file_edited_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    std::fs::write(&file, "[]\n").unwrap();
    let shutdown = Shutdown::new();
    let mut watch = watch(&file, notify_only(), shutdown.clone());

    std::fs::write(&file, "- name: a\n").unwrap();
    sees(&mut watch, &file, "- name: a\n").await;
    shutdown.trigger();
}

#[tokio::test]
async fn watch_sees_a_file_replaced_by_rename() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    std::fs::write(&file, "[]\n").unwrap();
    let shutdown = Shutdown::new();
    let mut watch = watch(&file, notify_only(), shutdown.clone());

    let tmp = dir.path().join(".environments.yaml.swp");
    std::fs::write(&tmp, "- name: b\n").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    sees(&mut watch, &file, "- name: b\n").await;
    shutdown.trigger();
}

#[tokio::test]
async fn watch_sees_a_configmap_data_symlink_swap() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // The layout the kubelet makes for a ConfigMap volume.
    let first = root.join("..2026_11_28_10_00_00.000000001");
    std::fs::create_dir(&first).unwrap();
    std::fs::write(first.join("environments.yaml"), "[]\n").unwrap();
    symlink("..2026_11_28_10_00_00.000000001", root.join("..data")).unwrap();
    symlink("..data/environments.yaml", root.join("environments.yaml")).unwrap();
    let file = root.join("environments.yaml");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "[]\n");

    let shutdown = Shutdown::new();
    let mut watch = watch(&file, notify_only(), shutdown.clone());

    // An update: a new timestamped folder, `..data_tmp` pointing at it, renamed over `..data`.
    let second = root.join("..2026_11_28_10_05_00.000000002");
    std::fs::create_dir(&second).unwrap();
    std::fs::write(second.join("environments.yaml"), "- name: c\n").unwrap();
    symlink("..2026_11_28_10_05_00.000000002", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();

    sees(&mut watch, &file, "- name: c\n").await;
    shutdown.trigger();
}

#[tokio::test]
async fn polling_alone_sees_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    std::fs::write(&file, "[]\n").unwrap();
    let shutdown = Shutdown::new();
    let options = WatchOptions {
        poll_interval: Duration::from_millis(20),
        debounce: Duration::from_millis(20),
        notify: false,
    };
    let mut watch = watch(&file, options, shutdown.clone());

    std::fs::write(&file, "- name: d\n").unwrap();
    sees(&mut watch, &file, "- name: d\n").await;
    shutdown.trigger();
}

#[tokio::test]
async fn watch_of_a_missing_folder_falls_back_to_polling() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-yet").join("environments.yaml");
    let shutdown = Shutdown::new();
    let options = WatchOptions {
        poll_interval: Duration::from_millis(20),
        ..notify_only()
    };
    let mut watch = watch(&file, options, shutdown.clone());
    std::fs::create_dir(dir.path().join("not-yet")).unwrap();
    std::fs::write(&file, "- name: e\n").unwrap();
    sees(&mut watch, &file, "- name: e\n").await;
    shutdown.trigger();
}

#[tokio::test]
async fn the_watch_ends_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    let shutdown = Shutdown::new();
    let mut watch = watch(&file, notify_only(), shutdown.clone());
    shutdown.trigger();
    let end = tokio::time::timeout(DEADLINE, watch.next()).await.unwrap();
    assert_eq!(end, None);
}

#[test]
fn reads_are_not_changes_but_finished_writes_are() {
    use notify::event::{CreateKind, ModifyKind};
    assert!(!is_change(&EventKind::Access(AccessKind::Open(
        AccessMode::Any
    ))));
    assert!(!is_change(&EventKind::Access(AccessKind::Close(
        AccessMode::Read
    ))));
    assert!(is_change(&EventKind::Access(AccessKind::Close(
        AccessMode::Write
    ))));
    assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
    assert!(is_change(&EventKind::Create(CreateKind::File)));
}

#[test]
fn only_events_naming_the_file_or_a_configmap_swap_concern_the_file() {
    let name = OsStr::new("environments.yaml");
    let at = |names: &[&str]| -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| Path::new("/etc/execenv").join(n))
            .collect()
    };
    assert!(concerns(name, &at(&["environments.yaml"])));
    // A rename names both ends; the editor's file alone is not a change of the file.
    assert!(concerns(
        name,
        &at(&[".environments.yaml.swp", "environments.yaml"])
    ));
    assert!(!concerns(name, &at(&[".environments.yaml.swp"])));
    assert!(concerns(name, &at(&["..data"])));
    assert!(concerns(name, &at(&["..2026_11_28_10_05_00.000000002"])));
    assert!(!concerns(name, &at(&["registry.db-wal"])));
    assert!(!concerns(name, &at(&["environments.yaml.bak"])));
    assert!(concerns(name, &[]));
}
