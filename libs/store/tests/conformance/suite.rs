//! The conformance tests, each a function of a fresh, empty store.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use execenv_core::accounts::NewUser;
use execenv_core::query::{ChangeFilter, ListQuery, SortField, Visibility};
use execenv_core::sync::{
    PlannedAdopt, PlannedCreate, PlannedDelete, PlannedUpdate, SyncFence, SyncPlan,
};
use execenv_core::{
    Actor, ChangeAction, ChangeSource, Environment, EnvironmentSpec, ErrorKind, Installation,
    ManagedBy, Matching, Principal, Role, VolumeMount, VolumeSource,
};
use execenv_store::Store;
use uuid::Uuid;

type S = Arc<dyn Store>;

/// The guid of the user or group a test calls `name` (up to 16 bytes): fixed, so that tests
/// can name them before they exist.
pub fn guid_of(name: &str) -> String {
    let mut bytes = [0_u8; 16];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    Uuid::from_bytes(bytes).to_string()
}

/// The permission principal for the user a test calls `name`.
pub fn user_named(name: &str) -> Principal {
    Principal::User(guid_of(name))
}

/// The permission principal for the group a test calls `name`.
pub fn group_named(name: &str) -> Principal {
    Principal::Group(guid_of(name))
}

/// Creates the users `u`, `u1`, `u9` and the groups `g`, `g1` and `u1` (a group may share a
/// user's guid) that permission tests name: a permission must name an existing principal.
pub async fn principals(store: &dyn Store) {
    for name in ["u", "u1", "u9"] {
        store
            .create_user(&NewUser {
                guid: Uuid::parse_str(&guid_of(name)).expect("a guid"),
                username: name.to_owned(),
                email: None,
                first_name: None,
                last_name: None,
                role: Role::Publisher,
            })
            .await
            .expect("the user is created");
    }
    for name in ["g", "g1", "u1"] {
        store
            .create_group(Uuid::parse_str(&guid_of(name)).expect("a guid"), name)
            .await
            .expect("the group is created");
    }
}

pub fn alice() -> Actor {
    Actor {
        name: "alice".to_owned(),
        source: ChangeSource::Api,
    }
}

fn sync() -> Actor {
    Actor {
        name: "config-sync".to_owned(),
        source: ChangeSource::ConfigFile,
    }
}

fn inst(version: &str, path: &str) -> Installation {
    Installation {
        version: version.to_owned(),
        path: path.to_owned(),
    }
}

/// A minimal spec for image `name`.
pub fn spec(name: &str) -> EnvironmentSpec {
    EnvironmentSpec {
        name: name.to_owned(),
        title: None,
        description: None,
        cluster_name: "Kubernetes".to_owned(),
        matching: Matching::Any,
        supervisor: None,
        python: Vec::new(),
        r: Vec::new(),
        quarto: Vec::new(),
        tensorflow: Vec::new(),
        volume_mounts: Vec::new(),
    }
}

/// A spec with every field set; installations deliberately not in version order.
fn full_spec() -> EnvironmentSpec {
    EnvironmentSpec {
        name: "ghcr.io/acme/python-r:2024.05".to_owned(),
        title: Some("Python and R".to_owned()),
        description: Some("Data science stack".to_owned()),
        cluster_name: "Kubernetes".to_owned(),
        matching: Matching::Exact,
        supervisor: Some("/opt/supervisor.sh".to_owned()),
        python: vec![
            inst("3.12.1", "/opt/python/3.12.1/bin/python"),
            inst("3.9.18", "/opt/python/3.9.18/bin/python"),
        ],
        r: vec![inst("4.3.2", "/opt/R/4.3.2/bin/R")],
        quarto: vec![inst("1.4.550", "/opt/quarto/bin/quarto")],
        tensorflow: vec![inst("2.15.0", "/usr/bin/tensorflow_model_server")],
        volume_mounts: vec![
            VolumeMount {
                source: VolumeSource::Nfs {
                    host: "nfs.example.com".to_owned(),
                    export_path: "/exports/data".to_owned(),
                },
                target_path: "/mnt/data".to_owned(),
                read_only: true,
            },
            VolumeMount {
                source: VolumeSource::Pvc {
                    claim_name: "scratch".to_owned(),
                },
                target_path: "/mnt/scratch".to_owned(),
                read_only: false,
            },
        ],
    }
}

/// Creates an environment for image `name` with a new guid.
pub async fn create(store: &dyn Store, name: &str) -> Environment {
    create_spec(store, spec(name)).await
}

async fn create_spec(store: &dyn Store, spec: EnvironmentSpec) -> Environment {
    store
        .create_environment(Uuid::new_v4(), &spec, None, &alice())
        .await
        .expect("create succeeds")
}

fn query() -> ListQuery {
    ListQuery {
        limit: 100,
        ..ListQuery::default()
    }
}

async fn list(store: &dyn Store, q: ListQuery) -> Vec<String> {
    store
        .list_environments(&q)
        .await
        .expect("list succeeds")
        .environments
        .into_iter()
        .map(|e| e.spec.name)
        .collect()
}

async fn search(store: &dyn Store, text: &str) -> Vec<String> {
    let mut names = list(
        store,
        ListQuery {
            search: Some(text.to_owned()),
            ..query()
        },
    )
    .await;
    names.sort();
    names
}

async fn all_changes(store: &dyn Store) -> Vec<execenv_core::Change> {
    store
        .list_changes(&ChangeFilter {
            limit: 1000,
            ..ChangeFilter::default()
        })
        .await
        .expect("list_changes succeeds")
}

pub async fn create_then_get_round_trips(store: S) {
    let guid = Uuid::new_v4();
    let spec = full_spec();
    let created = store
        .create_environment(guid, &spec, Some(ManagedBy::ConfigFile), &sync())
        .await
        .expect("create succeeds");
    assert_eq!(created.guid, guid);
    assert_eq!(created.spec, spec);
    assert_eq!(created.managed_by, Some(ManagedBy::ConfigFile));
    assert_eq!(created.environment_type, "Kubernetes");
    assert!(created.permissions.is_empty());
    assert_eq!(created.revision, 1);
    assert!(created.id > 0);
    assert_eq!(created.created_time, created.updated_time);
    assert!((Utc::now() - created.created_time).num_seconds().abs() < 60);
    let got = store.get_environment(guid).await.expect("get succeeds");
    // Equal in every field, timestamps to the microsecond and installation order included.
    assert_eq!(got, created);
    assert_eq!(got.spec.python[0].version, "3.12.1");
}

pub async fn create_with_an_existing_guid_is_already_exists(store: S) {
    let env = create(&*store, "img/a").await;
    let err = store
        .create_environment(env.guid, &spec("img/b"), None, &alice())
        .await
        .expect_err("duplicate guid fails");
    assert_eq!(err.kind, ErrorKind::AlreadyExists);
    assert!(
        err.message.contains(&env.guid.to_string()),
        "{}",
        err.message
    );
    assert_eq!(
        store
            .get_environment(env.guid)
            .await
            .expect("still there")
            .spec
            .name,
        "img/a"
    );
    assert_eq!(all_changes(&*store).await.len(), 1);
}

pub async fn get_of_an_unknown_guid_is_not_found(store: S) {
    let guid = Uuid::new_v4();
    let err = store.get_environment(guid).await.expect_err("unknown");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains(&guid.to_string()), "{}", err.message);
}

pub async fn update_replaces_fields_and_bumps_revision_and_updated_time(store: S) {
    let before = create_spec(&*store, full_spec()).await;
    let mut new = spec(&before.spec.name);
    new.title = Some("Renamed".to_owned());
    new.matching = Matching::None;
    new.python = vec![inst("3.11.9", "/usr/bin/python3")];
    let after = store
        .update_environment(before.guid, &new, before.revision, &alice())
        .await
        .expect("update succeeds");
    assert_eq!(after.spec, new);
    assert_eq!(after.id, before.id);
    assert_eq!(after.created_time, before.created_time);
    assert!(after.updated_time >= before.updated_time);
    assert!(after.revision > before.revision);
    assert_eq!(
        store.get_environment(before.guid).await.expect("get"),
        after
    );
    let changes = all_changes(&*store).await;
    assert_eq!(changes.last().expect("a change").time, after.updated_time);

    // The image name is immutable: a different one is ignored.
    let mut renamed = new.clone();
    renamed.name = "img/other".to_owned();
    let again = store
        .update_environment(before.guid, &renamed, 0, &alice())
        .await
        .expect("update without a revision check succeeds");
    assert_eq!(again.spec.name, before.spec.name);
}

pub async fn update_with_a_stale_revision_conflicts_and_changes_nothing(store: S) {
    let env = create(&*store, "img/a").await;
    let current = store
        .update_environment(env.guid, &spec("img/a"), env.revision, &alice())
        .await
        .expect("first update");
    let mut stale = spec("img/a");
    stale.title = Some("Stale".to_owned());
    let err = store
        .update_environment(env.guid, &stale, env.revision, &alice())
        .await
        .expect_err("stale revision");
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(
        err.message.contains(&format!(
            "changed since revision {} (now {})",
            env.revision, current.revision
        )),
        "{}",
        err.message
    );
    assert_eq!(store.get_environment(env.guid).await.expect("get"), current);
    assert_eq!(all_changes(&*store).await.len(), 2);
}

pub async fn update_and_delete_of_an_unknown_guid_are_not_found(store: S) {
    let guid = Uuid::new_v4();
    let err = store
        .update_environment(guid, &spec("x"), 0, &alice())
        .await
        .expect_err("unknown");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains(&guid.to_string()));
    let err = store
        .delete_environment(guid, 0, &alice())
        .await
        .expect_err("unknown");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(all_changes(&*store).await.is_empty());
}

pub async fn delete_removes_the_environment_and_its_permissions(store: S) {
    principals(&*store).await;
    let env = create(&*store, "img/a").await;
    let other = create(&*store, "img/b").await;
    store
        .add_permission(env.guid, &user_named("u1"), &alice())
        .await
        .expect("add");
    store
        .add_permission(other.guid, &group_named("g1"), &alice())
        .await
        .expect("add");
    store
        .delete_environment(env.guid, 0, &alice())
        .await
        .expect("delete");
    assert_eq!(
        store
            .get_environment(env.guid)
            .await
            .expect_err("gone")
            .kind,
        ErrorKind::NotFound
    );
    let snapshot = store.snapshot().await.expect("snapshot");
    assert_eq!(snapshot.environments.len(), 1);
    assert_eq!(snapshot.environments[0].permissions.len(), 1);
    // The permissions went with it: the guid can be reused and starts with none.
    let again = store
        .create_environment(env.guid, &spec("img/a"), None, &alice())
        .await
        .expect("guid free again");
    assert!(
        store
            .get_environment(again.guid)
            .await
            .expect("get")
            .permissions
            .is_empty()
    );
    let delete = all_changes(&*store)
        .await
        .into_iter()
        .find(|c| c.action == ChangeAction::Delete)
        .expect("a delete change");
    assert_eq!(delete.before.expect("before").permissions.len(), 1);
    assert!(delete.after.is_none());
}

pub async fn delete_with_a_stale_revision_conflicts(store: S) {
    let env = create(&*store, "img/a").await;
    let updated = store
        .update_environment(env.guid, &spec("img/a"), 0, &alice())
        .await
        .expect("update");
    let err = store
        .delete_environment(env.guid, env.revision, &alice())
        .await
        .expect_err("stale");
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(
        store.get_environment(env.guid).await.expect("still there"),
        updated
    );
    store
        .delete_environment(env.guid, updated.revision, &alice())
        .await
        .expect("current revision deletes");
}

pub async fn every_mutation_appends_exactly_one_change(store: S) {
    principals(&*store).await;
    let created = store
        .create_environment(Uuid::new_v4(), &full_spec(), None, &sync())
        .await
        .expect("create");
    let changes = all_changes(&*store).await;
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!(
        (c.action, c.actor.as_str(), c.source),
        (
            ChangeAction::Create,
            "config-sync",
            ChangeSource::ConfigFile
        )
    );
    assert_eq!(c.environment_guid, created.guid);
    assert_eq!(c.before, None);
    assert_eq!(c.after.as_ref(), Some(&created));
    assert_eq!(c.revision, created.revision);
    assert_eq!(c.time, created.created_time);

    let updated = store
        .update_environment(created.guid, &spec(&created.spec.name), 0, &alice())
        .await
        .expect("update");
    let changes = all_changes(&*store).await;
    assert_eq!(changes.len(), 2);
    let c = &changes[1];
    assert_eq!(
        (c.action, c.actor.as_str(), c.source),
        (ChangeAction::Update, "alice", ChangeSource::Api)
    );
    assert_eq!(c.before.as_ref(), Some(&created));
    assert_eq!(c.after.as_ref(), Some(&updated));
    assert_eq!(c.revision, updated.revision);

    let (permission, added_at) = store
        .add_permission(created.guid, &group_named("g"), &alice())
        .await
        .expect("add");
    assert_eq!(added_at, 3, "the revision of the addition");
    let with_permission = store.get_environment(created.guid).await.expect("get");
    let changes = all_changes(&*store).await;
    assert_eq!(changes.len(), 3);
    let c = &changes[2];
    assert_eq!(c.action, ChangeAction::PermissionAdd);
    assert_eq!(c.before.as_ref(), Some(&updated));
    assert_eq!(c.after.as_ref(), Some(&with_permission));
    assert_eq!(with_permission.permissions, vec![permission.clone()]);
    assert_eq!(c.revision, with_permission.revision);

    let removed_at = store
        .remove_permission(created.guid, permission.guid, &alice())
        .await
        .expect("remove");
    assert_eq!(removed_at, 4, "the revision of the removal");
    let without = store.get_environment(created.guid).await.expect("get");
    let changes = all_changes(&*store).await;
    assert_eq!(changes.len(), 4);
    let c = &changes[3];
    assert_eq!(c.action, ChangeAction::PermissionRemove);
    assert_eq!(c.before.as_ref(), Some(&with_permission));
    assert_eq!(c.after.as_ref(), Some(&without));
    assert_eq!(c.revision, without.revision);

    let deleted_at = store
        .delete_environment(created.guid, 0, &alice())
        .await
        .expect("delete");
    assert_eq!(deleted_at, 5, "the revision of the deletion");
    let changes = all_changes(&*store).await;
    assert_eq!(changes.len(), 5);
    let c = &changes[4];
    assert_eq!(c.action, ChangeAction::Delete);
    assert_eq!(c.before.as_ref(), Some(&without));
    assert_eq!(c.after, None);
    assert_eq!(c.environment_guid, created.guid);
}

pub async fn revisions_strictly_increase_without_gaps(store: S) {
    principals(&*store).await;
    let a = create(&*store, "img/a").await;
    let b = create(&*store, "img/b").await;
    store
        .update_environment(a.guid, &spec("img/a"), 0, &alice())
        .await
        .expect("update");
    store
        .add_permission(b.guid, &user_named("u"), &alice())
        .await
        .expect("add");
    store
        .delete_environment(a.guid, 0, &alice())
        .await
        .expect("delete");
    let revisions: Vec<i64> = all_changes(&*store)
        .await
        .iter()
        .map(|c| c.revision)
        .collect();
    assert_eq!(revisions, vec![1, 2, 3, 4, 5]);
    let bounds = store.log_bounds().await.expect("bounds");
    assert_eq!((bounds.compacted_through, bounds.latest), (0, 5));
}

pub async fn permissions_add_reject_duplicates_and_remove(store: S) {
    principals(&*store).await;
    let env = create(&*store, "img/a").await;
    let other = create(&*store, "img/b").await;
    let user = store
        .add_permission(env.guid, &user_named("u1"), &alice())
        .await
        .expect("user")
        .0;
    let group = store
        .add_permission(env.guid, &group_named("g1"), &alice())
        .await
        .expect("group")
        .0;
    // A user and a group may share an id: they are different principals.
    let same_id_group = store
        .add_permission(env.guid, &group_named("u1"), &alice())
        .await
        .expect("group named like the user")
        .0;
    assert_eq!(user.environment_guid, env.guid);
    assert_eq!(user.principal, user_named("u1"));

    for duplicate in [user_named("u1"), group_named("g1")] {
        let err = store
            .add_permission(env.guid, &duplicate, &alice())
            .await
            .expect_err("duplicate");
        assert_eq!(err.kind, ErrorKind::AlreadyExists, "{duplicate:?}");
        assert!(
            err.message.contains(&env.guid.to_string()),
            "{}",
            err.message
        );
    }
    // The same user on another environment is fine.
    store
        .add_permission(other.guid, &user_named("u1"), &alice())
        .await
        .expect("other env");

    let unknown_env = Uuid::new_v4();
    let err = store
        .add_permission(unknown_env, &user_named("u"), &alice())
        .await
        .expect_err("unknown env");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains(&unknown_env.to_string()));
    let unknown_permission = Uuid::new_v4();
    let err = store
        .remove_permission(env.guid, unknown_permission, &alice())
        .await
        .expect_err("unknown permission");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message.contains(&unknown_permission.to_string()),
        "{}",
        err.message
    );
    store
        .remove_permission(env.guid, user.guid, &alice())
        .await
        .expect("removing an existing entry");
    let err = store
        .remove_permission(unknown_env, group.guid, &alice())
        .await
        .expect_err("unknown env");
    assert_eq!(err.kind, ErrorKind::NotFound);

    // Insertion order is kept.
    let stored = store.get_environment(env.guid).await.expect("get");
    assert_eq!(stored.permissions, vec![group, same_id_group]);
}

pub async fn permission_changes_bump_revision_but_not_updated_time(store: S) {
    principals(&*store).await;
    let env = create(&*store, "img/a").await;
    let permission = store
        .add_permission(env.guid, &user_named("u"), &alice())
        .await
        .expect("add")
        .0;
    let added = store.get_environment(env.guid).await.expect("get");
    assert!(added.revision > env.revision);
    assert_eq!(added.updated_time, env.updated_time);
    store
        .remove_permission(env.guid, permission.guid, &alice())
        .await
        .expect("remove");
    let removed = store.get_environment(env.guid).await.expect("get");
    assert!(removed.revision > added.revision);
    assert_eq!(removed.updated_time, env.updated_time);
}

pub async fn search_matches_each_searchable_field(store: S) {
    let mut a = spec("registry.example.com/alpha");
    a.title = Some("Deep Learning".to_owned());
    a.description = Some("GPU accelerated".to_owned());
    a.supervisor = Some("/opt/wrapper/run.sh".to_owned());
    a.python = vec![inst("3.10.14", "/usr/bin/python3")];
    a.r = vec![inst("4.2.7", "/usr/bin/R")];
    a.quarto = vec![inst("1.3.450", "/usr/bin/quarto")];
    let a = create_spec(&*store, a).await;
    let mut b = spec("docker.io/beta");
    b.title = Some("Plain".to_owned());
    create_spec(&*store, b).await;

    let alpha = vec!["registry.example.com/alpha".to_owned()];
    for text in [
        "deep learn",
        "LEARNING",
        "gpu ACCEL",
        "example.com/al",
        "wrapper/run",
        "3.10.14",
        "4.2.7",
        "1.3.450",
    ] {
        assert_eq!(search(&*store, text).await, alpha, "search {text:?}");
    }
    let guid = a.guid.to_string();
    assert_eq!(search(&*store, &guid[..13].to_uppercase()).await, alpha);
    assert_eq!(search(&*store, "/").await.len(), 2);
    assert!(search(&*store, "nothing like this").await.is_empty());
}

pub async fn search_treats_percent_and_underscore_literally(store: S) {
    let mut a = spec("img/percent");
    a.title = Some("100% pure_python \\ slash".to_owned());
    create_spec(&*store, a).await;
    let mut b = spec("img/plain");
    b.title = Some("1000 pure-python slash".to_owned());
    create_spec(&*store, b).await;
    assert_eq!(search(&*store, "0%").await, vec!["img/percent"]);
    assert_eq!(search(&*store, "e_p").await, vec!["img/percent"]);
    assert_eq!(search(&*store, "\\ s").await, vec!["img/percent"]);
    assert_eq!(search(&*store, "%").await, vec!["img/percent"]);
    assert_eq!(search(&*store, "pure").await.len(), 2);
}

pub async fn filters_by_name_matching_and_managed(store: S) {
    let mut exact = spec("img/shared");
    exact.matching = Matching::Exact;
    create_spec(&*store, exact).await;
    create(&*store, "img/shared").await;
    let mut none = spec("img/none");
    none.matching = Matching::None;
    store
        .create_environment(Uuid::new_v4(), &none, Some(ManagedBy::ConfigFile), &sync())
        .await
        .expect("create");

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        list(
            &*store,
            ListQuery {
                name: Some("img/shared".to_owned()),
                ..query()
            }
        )
        .await,
        vec!["img/shared"; 2]
    );
    assert!(
        list(
            &*store,
            ListQuery {
                name: Some("img/shar".to_owned()),
                ..query()
            }
        )
        .await
        .is_empty()
    );
    assert_eq!(
        list(
            &*store,
            ListQuery {
                matching: Some(Matching::Exact),
                ..query()
            }
        )
        .await,
        vec!["img/shared"]
    );
    assert_eq!(
        list(
            &*store,
            ListQuery {
                matching: Some(Matching::None),
                ..query()
            }
        )
        .await,
        vec!["img/none"]
    );
    assert_eq!(
        list(
            &*store,
            ListQuery {
                managed: Some(true),
                ..query()
            }
        )
        .await,
        vec!["img/none"]
    );
    assert_eq!(
        sorted(
            list(
                &*store,
                ListQuery {
                    managed: Some(false),
                    ..query()
                }
            )
            .await
        ),
        vec!["img/shared", "img/shared"]
    );
    assert_eq!(
        list(
            &*store,
            ListQuery {
                name: Some("img/shared".to_owned()),
                matching: Some(Matching::Any),
                ..query()
            }
        )
        .await,
        vec!["img/shared"]
    );
}

pub async fn filters_by_language_and_dotted_version_prefix(store: S) {
    let mut a = spec("img/py311");
    a.python = vec![inst("3.9.1", "/p39"), inst("3.11.9", "/p311")];
    create_spec(&*store, a).await;
    let mut b = spec("img/py3110");
    b.python = vec![inst("3.110.0", "/p3110")];
    b.r = vec![inst("3.11.0", "/r")];
    create_spec(&*store, b).await;
    let mut c = spec("img/r");
    c.r = vec![inst("4.3.2", "/r")];
    create_spec(&*store, c).await;
    create(&*store, "img/empty").await;

    let by = |language, version: Option<&str>| ListQuery {
        language: Some(language),
        language_version: version.map(str::to_owned),
        sort: SortField::Name,
        ..query()
    };
    use execenv_core::Language::{Python, Quarto, R};
    assert_eq!(
        list(&*store, by(Python, None)).await,
        vec!["img/py311", "img/py3110"]
    );
    assert_eq!(
        list(&*store, by(R, None)).await,
        vec!["img/py3110", "img/r"]
    );
    assert!(list(&*store, by(Quarto, None)).await.is_empty());
    assert_eq!(
        list(&*store, by(Python, Some("3.11"))).await,
        vec!["img/py311"]
    );
    assert_eq!(
        list(&*store, by(Python, Some("3.11.9"))).await,
        vec!["img/py311"]
    );
    assert_eq!(
        list(&*store, by(Python, Some("3"))).await,
        vec!["img/py311", "img/py3110"]
    );
    assert_eq!(
        list(&*store, by(Python, Some("3.110"))).await,
        vec!["img/py3110"]
    );
    assert!(list(&*store, by(Python, Some("3.1"))).await.is_empty());
    assert_eq!(list(&*store, by(R, Some("3.11"))).await, vec!["img/py3110"]);
}

pub async fn sorts_by_each_field_in_both_directions(store: S) {
    let mut a = spec("img/c");
    a.title = Some("Beta".to_owned());
    a.matching = Matching::Exact;
    a.python = vec![inst("3.11.2", "/p")];
    a.r = vec![inst("4.3.0", "/r")];
    a.quarto = vec![inst("1.4.5", "/q")];
    let a = create_spec(&*store, a).await;
    let mut b = spec("img/a");
    b.matching = Matching::None;
    b.python = vec![inst("3.9.18", "/p")];
    b.r = vec![inst("4.10.0", "/r")];
    b.quarto = vec![inst("1.10.1", "/q")];
    create_spec(&*store, b).await;
    let mut c = spec("img/b");
    c.title = Some("alpha".to_owned());
    create_spec(&*store, c).await;
    // Updated last: first by update time, still first by creation time.
    let mut a_spec = a.spec.clone();
    a_spec.description = Some("touched".to_owned());
    store
        .update_environment(a.guid, &a_spec, 0, &alice())
        .await
        .expect("update");

    let cases = [
        (SortField::Title, ["img/b", "img/c", "img/a"]),
        (SortField::Name, ["img/a", "img/b", "img/c"]),
        (SortField::Created, ["img/c", "img/a", "img/b"]),
        (SortField::Updated, ["img/a", "img/b", "img/c"]),
        (SortField::Matching, ["img/b", "img/c", "img/a"]),
        (SortField::PythonVersion, ["img/b", "img/a", "img/c"]),
        (SortField::RVersion, ["img/b", "img/c", "img/a"]),
        (SortField::QuartoVersion, ["img/b", "img/c", "img/a"]),
    ];
    for (sort, ascending) in cases {
        let names = list(&*store, ListQuery { sort, ..query() }).await;
        assert_eq!(names, ascending, "{sort:?} ascending");
        let names = list(
            &*store,
            ListQuery {
                sort,
                descending: true,
                ..query()
            },
        )
        .await;
        let mut descending = ascending.to_vec();
        descending.reverse();
        assert_eq!(names, descending, "{sort:?} descending");
    }
}

pub async fn pagination_applies_offset_and_limit_and_counts_all(store: S) {
    for i in 0..7 {
        create(&*store, &format!("img/{i}")).await;
    }
    create(&*store, "other/x").await;
    let page = |offset, limit| ListQuery {
        search: Some("img/".to_owned()),
        sort: SortField::Name,
        offset,
        limit,
        ..ListQuery::default()
    };
    let first = store.list_environments(&page(0, 3)).await.expect("page");
    assert_eq!(first.total, 7);
    let names = |p: &execenv_store::EnvironmentPage| {
        p.environments
            .iter()
            .map(|e| e.spec.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), vec!["img/0", "img/1", "img/2"]);
    let third = store.list_environments(&page(6, 3)).await.expect("page");
    assert_eq!((names(&third), third.total), (vec!["img/6".to_owned()], 7));
    let beyond = store.list_environments(&page(10, 3)).await.expect("page");
    assert_eq!((beyond.environments.len(), beyond.total), (0, 7));
    let everything = store
        .list_environments(&ListQuery {
            limit: 1000,
            ..ListQuery::default()
        })
        .await
        .expect("all");
    assert_eq!((everything.environments.len(), everything.total), (8, 8));
}

pub async fn publisher_sees_unrestricted_and_granted_environments(store: S) {
    principals(&*store).await;
    create(&*store, "img/open").await;
    let for_user = create(&*store, "img/user").await;
    store
        .add_permission(for_user.guid, &user_named("u1"), &alice())
        .await
        .expect("add");
    let for_group = create(&*store, "img/group").await;
    store
        .add_permission(for_group.guid, &group_named("g1"), &alice())
        .await
        .expect("add");
    store
        .add_permission(for_group.guid, &user_named("u9"), &alice())
        .await
        .expect("add");

    let visible = |user: Option<&str>, groups: &[&str]| ListQuery {
        visible_to: Some(Visibility {
            user: user.map(guid_of),
            groups: groups.iter().map(|g| guid_of(g)).collect(),
        }),
        sort: SortField::Name,
        ..query()
    };
    assert_eq!(
        list(&*store, visible(Some("u1"), &[])).await,
        vec!["img/open", "img/user"]
    );
    assert_eq!(
        list(&*store, visible(Some("u2"), &["g1", "g2"])).await,
        vec!["img/group", "img/open"]
    );
    assert_eq!(
        list(&*store, visible(Some("u9"), &[])).await,
        vec!["img/group", "img/open"]
    );
    assert_eq!(list(&*store, visible(None, &[])).await, vec!["img/open"]);
    assert_eq!(
        list(&*store, visible(Some("u1"), &["g1"])).await,
        vec!["img/group", "img/open", "img/user"]
    );
    let page = store
        .list_environments(&visible(Some("u1"), &[]))
        .await
        .expect("list");
    assert_eq!(page.total, 2);
    assert_eq!(page.environments[1].permissions.len(), 1);
}

/// Every page `snapshot_pages` hands over: the size and revision of each and their
/// environments, in order; `between` runs once the first page is taken, while the reader waits
/// for room to hand over the next.
async fn paged<F: Future<Output = ()>>(
    store: &S,
    page: usize,
    between: F,
) -> (Vec<usize>, Vec<i64>, Vec<Environment>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let reading = tokio::spawn({
        let store = store.clone();
        async move { store.snapshot_pages(page, tx).await }
    });
    let (mut sizes, mut revisions, mut environments) = (Vec::new(), Vec::new(), Vec::new());
    let mut between = Some(between);
    while let Some(part) = rx.recv().await {
        sizes.push(part.environments.len());
        revisions.push(part.revision);
        environments.extend(part.environments);
        if let Some(between) = between.take() {
            between.await;
        }
    }
    reading.await.expect("joins").expect("snapshot pages");
    (sizes, revisions, environments)
}

pub async fn snapshot_and_its_pages_return_everything_at_the_latest_revision(store: S) {
    principals(&*store).await;
    let empty = store.snapshot().await.expect("snapshot");
    assert_eq!((empty.revision, empty.environments.len()), (0, 0));
    assert_eq!(
        paged(&store, 2, async {}).await,
        (vec![0], vec![0], Vec::new())
    );
    let a = create_spec(&*store, full_spec()).await;
    let b = create(&*store, "img/b").await;
    store
        .add_permission(b.guid, &user_named("u"), &alice())
        .await
        .expect("add");
    let c = create(&*store, "img/c").await;
    let d = create(&*store, "img/d").await;
    store
        .delete_environment(c.guid, 0, &alice())
        .await
        .expect("delete");
    let e = create(&*store, "img/e").await;
    let snapshot = store.snapshot().await.expect("snapshot");
    assert_eq!(snapshot.revision, 7);
    let b = store.get_environment(b.guid).await.expect("get");
    assert_eq!(snapshot.environments, vec![a, b, d, e]);
    // The same, a page at a time.
    let (sizes, revisions, environments) = paged(&store, 2, async {}).await;
    assert_eq!(sizes, vec![2, 2]);
    assert_eq!(revisions, vec![7, 7]);
    assert_eq!(environments, snapshot.environments);
    assert_eq!(paged(&store, 3, async {}).await.0, vec![3, 1]);
}

pub async fn snapshot_pages_are_of_one_revision_while_writes_land_between_them(store: S) {
    for i in 0..5 {
        create(&*store, &format!("img/{i}")).await;
    }
    let before = store.snapshot().await.expect("snapshot");
    let writes = async {
        create(&*store, "img/late").await;
        store
            .delete_environment(before.environments[4].guid, 0, &alice())
            .await
            .expect("delete");
    };
    let (sizes, revisions, environments) = paged(&store, 2, writes).await;
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(revisions, vec![5, 5, 5]);
    assert_eq!(environments, before.environments);
    assert_eq!(store.snapshot().await.expect("snapshot").revision, 7);
}

pub async fn changes_after_resumes_from_a_revision(store: S) {
    for i in 0..5 {
        create(&*store, &format!("img/{i}")).await;
    }
    let revisions =
        |changes: Vec<execenv_core::Change>| changes.iter().map(|c| c.revision).collect::<Vec<_>>();
    assert_eq!(
        revisions(store.changes_after(0, 100).await.expect("changes")),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        revisions(store.changes_after(2, 2).await.expect("changes")),
        vec![3, 4]
    );
    assert_eq!(
        revisions(store.changes_after(5, 100).await.expect("changes")),
        Vec::<i64>::new()
    );
    assert_eq!(
        revisions(store.changes_after(9, 100).await.expect("changes")),
        Vec::<i64>::new()
    );
}

pub async fn compaction_keeps_the_newest_change_and_reports_out_of_range(store: S) {
    assert_eq!(
        store
            .compact_changes(Utc::now())
            .await
            .expect("compact an empty log"),
        0
    );
    for i in 0..3 {
        create(&*store, &format!("img/{i}")).await;
    }
    // Nothing is older than an hour ago.
    assert_eq!(
        store
            .compact_changes(Utc::now() - Duration::hours(1))
            .await
            .expect("compact"),
        0
    );
    // Everything is older than an hour from now, but the newest change stays.
    assert_eq!(
        store
            .compact_changes(Utc::now() + Duration::hours(1))
            .await
            .expect("compact"),
        2
    );
    let bounds = store.log_bounds().await.expect("bounds");
    assert_eq!((bounds.compacted_through, bounds.latest), (2, 3));
    let err = store.changes_after(1, 100).await.expect_err("compacted");
    assert_eq!(err.kind, ErrorKind::OutOfRange);
    assert_eq!(
        err.message,
        "revision 1 was compacted (history starts after 2); re-list the catalogue"
    );
    assert_eq!(
        store
            .changes_after(0, 100)
            .await
            .expect_err("compacted")
            .kind,
        ErrorKind::OutOfRange
    );
    let rest = store
        .changes_after(2, 100)
        .await
        .expect("from the compaction point");
    assert_eq!(rest.iter().map(|c| c.revision).collect::<Vec<_>>(), vec![3]);
    assert_eq!(store.snapshot().await.expect("snapshot").revision, 3);
    // New changes continue the sequence.
    let next = create(&*store, "img/next").await;
    assert_eq!(next.revision, 4);
    assert_eq!(
        store
            .compact_changes(Utc::now() + Duration::hours(1))
            .await
            .expect("compact"),
        1
    );
    let bounds = store.log_bounds().await.expect("bounds");
    assert_eq!((bounds.compacted_through, bounds.latest), (3, 4));
}

pub async fn list_changes_applies_each_filter(store: S) {
    let a = create(&*store, "img/a").await;
    let b = create(&*store, "img/b").await;
    store
        .update_environment(a.guid, &spec("img/a"), 0, &alice())
        .await
        .expect("update");
    store
        .delete_environment(b.guid, 0, &alice())
        .await
        .expect("delete");
    let all = all_changes(&*store).await;
    assert_eq!(all.len(), 4);
    let filtered = |filter: ChangeFilter| {
        let store = store.clone();
        async move {
            store
                .list_changes(&ChangeFilter {
                    limit: 100,
                    ..filter
                })
                .await
                .expect("list_changes")
                .iter()
                .map(|c| c.revision)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        filtered(ChangeFilter {
            environment_guid: Some(a.guid),
            ..ChangeFilter::default()
        })
        .await,
        vec![1, 3]
    );
    assert_eq!(
        filtered(ChangeFilter {
            environment_guid: Some(b.guid),
            ..ChangeFilter::default()
        })
        .await,
        vec![2, 4]
    );
    assert_eq!(
        filtered(ChangeFilter {
            after_revision: 2,
            ..ChangeFilter::default()
        })
        .await,
        vec![3, 4]
    );
    let limited = store
        .list_changes(&ChangeFilter {
            limit: 2,
            ..ChangeFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(
        limited.iter().map(|c| c.revision).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // since is inclusive, until exclusive.
    let t3 = all[2].time;
    let since: Vec<i64> = all
        .iter()
        .filter(|c| c.time >= t3)
        .map(|c| c.revision)
        .collect();
    assert_eq!(
        filtered(ChangeFilter {
            since: Some(t3),
            ..ChangeFilter::default()
        })
        .await,
        since
    );
    let until: Vec<i64> = all
        .iter()
        .filter(|c| c.time < t3)
        .map(|c| c.revision)
        .collect();
    assert_eq!(
        filtered(ChangeFilter {
            until: Some(t3),
            ..ChangeFilter::default()
        })
        .await,
        until
    );
    assert!(
        filtered(ChangeFilter {
            since: Some(Utc::now() + Duration::hours(1)),
            ..ChangeFilter::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        filtered(ChangeFilter {
            environment_guid: Some(a.guid),
            after_revision: 1,
            until: Some(Utc::now() + Duration::hours(1)),
            ..ChangeFilter::default()
        })
        .await,
        vec![3]
    );
}

pub async fn failed_writes_leave_the_change_log_unchanged(store: S) {
    principals(&*store).await;
    let env = create(&*store, "img/a").await;
    store
        .add_permission(env.guid, &user_named("u"), &alice())
        .await
        .expect("add");
    let before = all_changes(&*store).await;
    let bounds = store.log_bounds().await.expect("bounds");
    let snapshot = store.snapshot().await.expect("snapshot");

    let unknown = Uuid::new_v4();
    let failures = [
        store
            .create_environment(env.guid, &spec("img/x"), None, &alice())
            .await
            .map(|_| ()),
        store
            .update_environment(env.guid, &spec("img/a"), env.revision, &alice())
            .await
            .map(|_| ()),
        store
            .update_environment(unknown, &spec("img/a"), 0, &alice())
            .await
            .map(|_| ()),
        store
            .delete_environment(env.guid, env.revision, &alice())
            .await
            .map(|_| ()),
        store
            .delete_environment(unknown, 0, &alice())
            .await
            .map(|_| ()),
        store
            .add_permission(env.guid, &user_named("u"), &alice())
            .await
            .map(|_| ()),
        store
            .add_permission(unknown, &user_named("u"), &alice())
            .await
            .map(|_| ()),
        store
            .remove_permission(env.guid, unknown, &alice())
            .await
            .map(|_| ()),
    ];
    for (i, failure) in failures.into_iter().enumerate() {
        assert!(failure.is_err(), "write {i} should fail");
    }
    assert_eq!(all_changes(&*store).await, before);
    assert_eq!(store.log_bounds().await.expect("bounds"), bounds);
    assert_eq!(store.snapshot().await.expect("snapshot"), snapshot);
}

pub async fn concurrent_writers_get_gap_free_increasing_revisions(store: S) {
    const WRITERS: usize = 8;
    const EACH: usize = 5;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..EACH {
                let env = create(&*store, &format!("img/{w}-{i}")).await;
                revisions.push(env.revision);
            }
            revisions
        });
    }
    let mut returned = BTreeSet::new();
    while let Some(result) = tasks.join_next().await {
        let revisions = result.expect("writer task");
        // Each writer's own writes are in order.
        assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
        returned.extend(revisions);
    }
    let n = i64::try_from(WRITERS * EACH).expect("small");
    assert_eq!(returned, (1..=n).collect::<BTreeSet<_>>());
    let logged: Vec<i64> = all_changes(&*store)
        .await
        .iter()
        .map(|c| c.revision)
        .collect();
    assert_eq!(logged, (1..=n).collect::<Vec<_>>());
    assert_eq!(
        store.snapshot().await.expect("snapshot").environments.len(),
        WRITERS * EACH
    );
}

fn planned_create(name: &str) -> PlannedCreate {
    PlannedCreate {
        guid: Uuid::new_v4(),
        spec: spec(name).into(),
    }
}

fn planned_update(env: &Environment, spec: EnvironmentSpec) -> PlannedUpdate {
    PlannedUpdate {
        guid: env.guid,
        spec: spec.into(),
        changed_fields: vec!["title".to_owned()],
        expected_revision: env.revision,
    }
}

fn planned_adopt(env: &Environment, spec: EnvironmentSpec) -> PlannedAdopt {
    PlannedAdopt {
        guid: env.guid,
        spec: spec.into(),
        changed_fields: vec!["managed_by".to_owned()],
        expected_revision: env.revision,
    }
}

fn planned_delete(env: &Environment) -> PlannedDelete {
    PlannedDelete {
        guid: env.guid,
        name: env.spec.name.clone(),
        expected_revision: env.revision,
    }
}

/// Everything a write could change: the catalogue, the change log and its bounds.
type Everything = (
    execenv_store::Snapshot,
    Vec<execenv_core::Change>,
    execenv_store::LogBounds,
);

/// See [`Everything`].
async fn everything(store: &dyn Store) -> Everything {
    (
        store.snapshot().await.expect("snapshot"),
        store
            .list_changes(&ChangeFilter {
                limit: 100_000,
                ..ChangeFilter::default()
            })
            .await
            .expect("list_changes"),
        store.log_bounds().await.expect("bounds"),
    )
}

/// Applies `plan` from `base`, which must fail with `kind` and a message holding `named`, and
/// checks that nothing changed since `before` (what [`everything`] returned).
async fn refused_sync(
    store: &dyn Store,
    (plan, base): (&SyncPlan, i64),
    kind: ErrorKind,
    named: &str,
    before: &Everything,
) {
    let err = store
        .apply_sync(plan, base, &sync(), None)
        .await
        .expect_err("the sync is refused");
    assert_eq!(err.kind, kind, "{}", err.message);
    assert!(err.message.contains(named), "{}", err.message);
    assert_eq!(&everything(store).await, before);
}

async fn revision(store: &dyn Store) -> i64 {
    store.snapshot().await.expect("snapshot").revision
}

async fn file_managed(store: &dyn Store, name: &str) -> Environment {
    store
        .create_environment(
            Uuid::new_v4(),
            &spec(name),
            Some(ManagedBy::ConfigFile),
            &sync(),
        )
        .await
        .expect("create")
}

fn fence(holder: &str, term: i64) -> SyncFence {
    SyncFence {
        lease: "execenv/execenv-config-sync".to_owned(),
        holder: holder.to_owned(),
        term,
    }
}

pub async fn apply_sync_under_a_newer_fence_refuses_the_deposed_leader(store: S) {
    // The first leader (term 1) applies; its successor (term 2) has nothing to change, yet its
    // term is recorded; the first leader, waking up, is refused and nothing changes.
    let base = revision(&*store).await;
    let first = SyncPlan {
        creates: vec![planned_create("img/by-the-first-leader")],
        ..SyncPlan::default()
    };
    let applied = store
        .apply_sync(&first, base, &sync(), Some(&fence("pod-a", 1)))
        .await
        .expect("the first leader applies");
    assert_eq!(applied, base + 1);
    let noop = SyncPlan::default();
    assert_eq!(
        store
            .apply_sync(&noop, applied, &sync(), Some(&fence("pod-b", 2)))
            .await
            .expect("the successor's no-op"),
        applied
    );
    let late = SyncPlan {
        creates: vec![planned_create("img/by-the-deposed-leader")],
        ..SyncPlan::default()
    };
    let refused = store
        .apply_sync(&late, applied, &sync(), Some(&fence("pod-a", 1)))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::FailedPrecondition, "{refused}");
    assert!(refused.message.contains("term 2 by pod-b"), "{refused}");
    let refused_noop = store
        .apply_sync(&noop, applied, &sync(), Some(&fence("pod-a", 1)))
        .await
        .unwrap_err();
    assert_eq!(refused_noop.kind, ErrorKind::FailedPrecondition);
    assert_eq!(revision(&*store).await, applied);
    assert!(
        store.get_environment(late.creates[0].guid).await.is_err(),
        "the deposed leader's environment was created"
    );
    // The successor keeps applying; a sync without a fence (make run, one instance) is not
    // fenced.
    let next = SyncPlan {
        creates: vec![planned_create("img/by-the-successor")],
        ..SyncPlan::default()
    };
    assert_eq!(
        store
            .apply_sync(&next, applied, &sync(), Some(&fence("pod-b", 2)))
            .await
            .expect("the successor applies"),
        applied + 1
    );
}

pub async fn apply_sync_creates_file_managed_environments(store: S) {
    create(&*store, "img/by-hand").await;
    let base = revision(&*store).await;
    let mut full = planned_create("unused");
    full.spec = full_spec().into();
    let plan = SyncPlan {
        creates: vec![planned_create("img/a"), full.clone()],
        ..SyncPlan::default()
    };
    let newest = store
        .apply_sync(&plan, base, &sync(), None)
        .await
        .expect("apply");
    assert_eq!(newest, base + 2);
    for (planned, expected_revision) in plan.creates.iter().zip([base + 1, base + 2]) {
        let env = store.get_environment(planned.guid).await.expect("created");
        assert_eq!(env.spec, *planned.spec);
        assert_eq!(env.managed_by, Some(ManagedBy::ConfigFile));
        assert!(env.permissions.is_empty());
        assert_eq!(env.revision, expected_revision);
        assert_eq!(env.created_time, env.updated_time);
    }
    assert_eq!(revision(&*store).await, newest);
    let managed = store
        .list_environments(&ListQuery {
            managed: Some(true),
            ..query()
        })
        .await
        .expect("list");
    assert_eq!(managed.total, 2);
}

pub async fn environment_ids_are_never_given_twice(store: S) {
    let first = create(&*store, "img/first").await;
    let deleted = create(&*store, "img/deleted").await;
    store
        .delete_environment(deleted.guid, 0, &alice())
        .await
        .expect("delete");
    // A sync that fails on its last create writes nothing, whatever ids it took.
    let mut duplicate = planned_create("img/duplicate");
    duplicate.guid = first.guid;
    let failing = SyncPlan {
        creates: vec![planned_create("img/rolled-back"), duplicate],
        ..SyncPlan::default()
    };
    let base = revision(&*store).await;
    let refused = store.apply_sync(&failing, base, &sync(), None).await;
    assert_eq!(
        refused.expect_err("a taken guid").kind,
        ErrorKind::AlreadyExists
    );
    let plan = SyncPlan {
        creates: vec![
            planned_create("img/synced-1"),
            planned_create("img/synced-2"),
        ],
        ..SyncPlan::default()
    };
    store
        .apply_sync(&plan, base, &sync(), None)
        .await
        .expect("apply");
    let last = create(&*store, "img/last").await;
    let mut ids = vec![first.id, deleted.id];
    for planned in &plan.creates {
        ids.push(
            store
                .get_environment(planned.guid)
                .await
                .expect("synced")
                .id,
        );
    }
    ids.push(last.id);
    // In the order they were created, the deleted one's id not given again.
    let mut ascending = ids.clone();
    ascending.sort_unstable();
    ascending.dedup();
    assert_eq!(ids, ascending);
    // Each create's change holds the environment as stored, id included.
    for change in all_changes(&*store).await {
        if change.action == ChangeAction::Create {
            let after = change.after.expect("a create's environment");
            if after.guid != deleted.guid {
                assert_eq!(
                    store.get_environment(after.guid).await.expect("stored"),
                    after
                );
            }
        }
    }
}

pub async fn apply_sync_adoption_keeps_guid_permissions_and_creation_time(store: S) {
    principals(&*store).await;
    let env = create_spec(&*store, full_spec()).await;
    let permission = store
        .add_permission(env.guid, &group_named("g1"), &alice())
        .await
        .expect("add")
        .0;
    let before = store.get_environment(env.guid).await.expect("get");
    let mut new = spec(&env.spec.name);
    new.title = Some("Adopted".to_owned());
    let plan = SyncPlan {
        adopts: vec![planned_adopt(&before, new.clone())],
        ..SyncPlan::default()
    };
    let base = revision(&*store).await;
    let newest = store
        .apply_sync(&plan, base, &sync(), None)
        .await
        .expect("apply");
    let after = store.get_environment(env.guid).await.expect("still there");
    assert_eq!(after.guid, before.guid);
    assert_eq!(after.id, before.id);
    assert_eq!(after.spec, new);
    assert_eq!(after.managed_by, Some(ManagedBy::ConfigFile));
    assert_eq!(after.permissions, vec![permission]);
    assert_eq!(after.created_time, before.created_time);
    assert!(after.updated_time >= before.updated_time);
    assert_eq!((after.revision, newest), (base + 1, base + 1));
    let changes = all_changes(&*store).await;
    let c = changes.last().expect("a change");
    assert_eq!(c.action, ChangeAction::Update);
    assert_eq!(c.before.as_ref(), Some(&before));
    assert_eq!(c.after.as_ref(), Some(&after));
}

pub async fn apply_sync_updates_and_deletes_file_managed_environments(store: S) {
    principals(&*store).await;
    let kept = file_managed(&*store, "img/kept").await;
    let gone = file_managed(&*store, "img/gone").await;
    store
        .add_permission(gone.guid, &user_named("u1"), &alice())
        .await
        .expect("add");
    let gone = store.get_environment(gone.guid).await.expect("get");
    let mut new = full_spec();
    new.name = "img/other-name-is-ignored".to_owned();
    let plan = SyncPlan {
        updates: vec![planned_update(&kept, new.clone())],
        deletes: vec![planned_delete(&gone)],
        ..SyncPlan::default()
    };
    let base = revision(&*store).await;
    assert_eq!(
        store
            .apply_sync(&plan, base, &sync(), None)
            .await
            .expect("apply"),
        base + 2
    );
    let updated = store.get_environment(kept.guid).await.expect("get");
    assert_eq!(
        updated.spec,
        EnvironmentSpec {
            name: "img/kept".to_owned(),
            ..new
        }
    );
    assert_eq!(updated.managed_by, Some(ManagedBy::ConfigFile));
    assert_eq!(updated.created_time, kept.created_time);
    assert_eq!(
        store
            .get_environment(gone.guid)
            .await
            .expect_err("deleted")
            .kind,
        ErrorKind::NotFound
    );
    let snapshot = store.snapshot().await.expect("snapshot");
    assert_eq!(snapshot.environments, vec![updated]);
    // The permissions went with it: the guid starts with none when reused.
    let again = store
        .create_environment(gone.guid, &spec("img/gone"), None, &alice())
        .await
        .expect("guid free again");
    assert!(again.permissions.is_empty());
}

pub async fn apply_sync_with_a_stale_revision_conflicts_and_changes_nothing(store: S) {
    let env = file_managed(&*store, "img/a").await;
    let planned_at = revision(&*store).await;
    let plan = SyncPlan {
        creates: vec![planned_create("img/new")],
        updates: vec![planned_update(&env, spec("img/a"))],
        ..SyncPlan::default()
    };
    // Someone writes after the plan was made.
    create(&*store, "img/by-hand").await;
    let before = everything(&*store).await;
    let err = store
        .apply_sync(&plan, planned_at, &sync(), None)
        .await
        .expect_err("stale base revision");
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(
        err.message,
        format!(
            "the catalogue changed since revision {planned_at} (now {}) while the sync was \
             planned; plan again",
            planned_at + 1
        )
    );
    assert_eq!(everything(&*store).await, before);

    // A current base revision with an operation planned against an older environment revision
    // conflicts too.
    let current = revision(&*store).await;
    let mut stale = plan.clone();
    stale.updates[0].expected_revision = env.revision + 100;
    let named = env.guid.to_string();
    refused_sync(
        &*store,
        (&stale, current),
        ErrorKind::Conflict,
        &named,
        &before,
    )
    .await;
}

pub async fn apply_sync_rolls_back_every_operation_when_one_fails(store: S) {
    let updated = file_managed(&*store, "img/updated").await;
    let deleted = file_managed(&*store, "img/deleted").await;
    let adopted = create(&*store, "img/adopted").await;
    let taken = create(&*store, "img/taken").await;
    let before = everything(&*store).await;
    // Deletes, updates and adoptions are applied before creates; the last create fails.
    let mut duplicate = planned_create("img/duplicate");
    duplicate.guid = taken.guid;
    let plan = SyncPlan {
        creates: vec![planned_create("img/fresh"), duplicate],
        adopts: vec![planned_adopt(&adopted, spec("img/adopted"))],
        updates: vec![planned_update(&updated, full_spec())],
        deletes: vec![planned_delete(&deleted)],
        ..SyncPlan::default()
    };
    let (base, taken) = (before.0.revision, taken.guid.to_string());
    let exists = ErrorKind::AlreadyExists;
    refused_sync(&*store, (&plan, base), exists, &taken, &before).await;

    // An update of an environment that is gone fails the same way.
    let mut missing = plan.clone();
    missing.creates.truncate(1);
    missing.updates[0].guid = Uuid::new_v4();
    let gone = missing.updates[0].guid.to_string();
    refused_sync(
        &*store,
        (&missing, base),
        ErrorKind::NotFound,
        &gone,
        &before,
    )
    .await;
}

pub async fn apply_sync_appends_one_config_file_change_per_operation(store: S) {
    let updated = file_managed(&*store, "img/updated").await;
    let deleted = file_managed(&*store, "img/deleted").await;
    let adopted = create(&*store, "img/adopted").await;
    let base = revision(&*store).await;
    let plan = SyncPlan {
        creates: vec![planned_create("img/c1"), planned_create("img/c2")],
        adopts: vec![planned_adopt(&adopted, spec("img/adopted"))],
        updates: vec![planned_update(&updated, full_spec())],
        deletes: vec![planned_delete(&deleted)],
        unchanged: vec![Uuid::new_v4()],
    };
    let newest = store
        .apply_sync(&plan, base, &sync(), None)
        .await
        .expect("apply");
    assert_eq!(newest, base + 5);
    let changes = store.changes_after(base, 100).await.expect("changes");
    assert_eq!(
        changes.iter().map(|c| c.revision).collect::<Vec<_>>(),
        ((base + 1)..=newest).collect::<Vec<_>>()
    );
    for c in &changes {
        assert_eq!(
            (c.actor.as_str(), c.source),
            ("config-sync", ChangeSource::ConfigFile)
        );
        assert_eq!(c.time, changes[0].time, "one transaction, one time");
    }
    let by_guid = |guid: Uuid| {
        let matching: Vec<&execenv_core::Change> = changes
            .iter()
            .filter(|c| c.environment_guid == guid)
            .collect();
        assert_eq!(matching.len(), 1, "one change for {guid}");
        matching[0].clone()
    };

    let c = by_guid(deleted.guid);
    assert_eq!(c.action, ChangeAction::Delete);
    assert_eq!(
        (c.before.as_ref(), c.after.as_ref()),
        (Some(&deleted), None)
    );

    for (env, spec) in [(&updated, full_spec()), (&adopted, spec("img/adopted"))] {
        let c = by_guid(env.guid);
        let now = store.get_environment(env.guid).await.expect("get");
        assert_eq!(c.action, ChangeAction::Update);
        assert_eq!(c.before.as_ref(), Some(env));
        assert_eq!(c.after.as_ref(), Some(&now));
        assert_eq!(
            now.spec,
            EnvironmentSpec {
                name: env.spec.name.clone(),
                ..spec
            }
        );
        assert_eq!(now.revision, c.revision);
        assert_eq!(now.updated_time, c.time);
    }

    for planned in &plan.creates {
        let c = by_guid(planned.guid);
        let now = store.get_environment(planned.guid).await.expect("get");
        assert_eq!(c.action, ChangeAction::Create);
        assert_eq!((c.before.as_ref(), c.after.as_ref()), (None, Some(&now)));
        assert_eq!(now.revision, c.revision);
        assert_eq!(now.created_time, c.time);
    }
}

pub async fn apply_sync_of_a_noop_plan_writes_nothing_and_returns_the_base_revision(store: S) {
    let env = file_managed(&*store, "img/a").await;
    let before = everything(&*store).await;
    let plan = SyncPlan {
        unchanged: vec![env.guid],
        ..SyncPlan::default()
    };
    assert_eq!(
        store
            .apply_sync(&plan, before.0.revision, &sync(), None)
            .await
            .expect("no-op"),
        before.0.revision
    );
    assert_eq!(everything(&*store).await, before);
    // Planned against an older catalogue, even a no-op plan must be made again.
    let stale = (&plan, before.0.revision - 1);
    refused_sync(&*store, stale, ErrorKind::Conflict, "plan again", &before).await;
}

fn bootstrapper() -> Actor {
    Actor {
        name: "config-sync".to_owned(),
        source: ChangeSource::Bootstrap,
    }
}

pub async fn bootstrap_creates_unmanaged_environments_in_an_empty_catalogue(store: S) {
    let wanted = vec![
        (Uuid::new_v4(), full_spec()),
        (Uuid::new_v4(), spec("img/second")),
    ];
    let created = store
        .bootstrap(&wanted, &bootstrapper())
        .await
        .expect("bootstrap")
        .expect("the catalogue was empty");
    assert_eq!(created.len(), 2);
    for ((guid, spec), env) in wanted.iter().zip(&created) {
        assert_eq!((&env.guid, &env.spec), (guid, spec));
        assert_eq!(env.managed_by, None);
        assert_eq!(&store.get_environment(*guid).await.expect("get"), env);
    }
    let changes = all_changes(&*store).await;
    assert_eq!(changes.len(), 2);
    for (c, env) in changes.iter().zip(&created) {
        assert_eq!(
            (c.action, c.source, c.revision),
            (ChangeAction::Create, ChangeSource::Bootstrap, env.revision)
        );
        assert_eq!((c.before.as_ref(), c.after.as_ref()), (None, Some(env)));
    }
    assert_eq!(revision(&*store).await, 2);
}

pub async fn bootstrap_of_a_non_empty_catalogue_returns_none_and_changes_nothing(store: S) {
    let env = create(&*store, "img/existing").await;
    let before = everything(&*store).await;
    let result = store
        .bootstrap(&[(Uuid::new_v4(), spec("img/new"))], &bootstrapper())
        .await
        .expect("bootstrap");
    assert_eq!(result, None);
    assert_eq!(everything(&*store).await, before);
    // Deleted down to nothing is empty again, whatever the log holds.
    store
        .delete_environment(env.guid, 0, &alice())
        .await
        .expect("delete");
    let created = store
        .bootstrap(&[(Uuid::new_v4(), spec("img/new"))], &bootstrapper())
        .await
        .expect("bootstrap")
        .expect("empty again");
    assert_eq!(created[0].revision, 3);
}

pub async fn apply_sync_applies_a_large_plan_atomically(store: S) {
    const N: usize = 2_000;
    let base = revision(&*store).await;
    let mut plan = SyncPlan::default();
    for i in 0..N {
        let mut create = planned_create(&format!("img/{i:04}"));
        if i % 2 == 0 {
            std::sync::Arc::make_mut(&mut create.spec).python =
                vec![inst("3.12.1", "/opt/python/bin/python")];
            std::sync::Arc::make_mut(&mut create.spec).volume_mounts = full_spec().volume_mounts;
        }
        plan.creates.push(create);
    }
    let n = i64::try_from(N).expect("small");
    assert_eq!(
        store
            .apply_sync(&plan, base, &sync(), None)
            .await
            .expect("apply"),
        base + n
    );
    let snapshot = store.snapshot().await.expect("snapshot");
    assert_eq!(
        (snapshot.environments.len(), snapshot.revision),
        (N, base + n)
    );
    for (env, planned) in snapshot.environments.iter().zip(&plan.creates) {
        assert_eq!((env.guid, &env.spec), (planned.guid, &*planned.spec));
    }
    let revisions: Vec<i64> = store
        .changes_after(base, 10_000)
        .await
        .expect("changes")
        .iter()
        .map(|c| c.revision)
        .collect();
    assert_eq!(revisions, ((base + 1)..=(base + n)).collect::<Vec<_>>());
}

/// A plan of `n` creates of file-managed environments named `img/0000`, `img/0001`, ….
fn many_creates(n: usize) -> SyncPlan {
    SyncPlan {
        creates: (0..n)
            .map(|i| planned_create(&format!("img/{i:04}")))
            .collect(),
        ..SyncPlan::default()
    }
}

/// Large plans are written part by part, their change log as it grows, all in one transaction:
/// a failure in the last part also undoes the parts already written.
pub async fn apply_sync_rolls_back_a_large_plan_that_fails_in_its_last_part(store: S) {
    let taken = create(&*store, "img/taken").await;
    let before = everything(&*store).await;
    let mut plan = many_creates(1_200);
    plan.creates[1_199].guid = taken.guid;
    let (last, guid) = ((&plan, before.0.revision), taken.guid.to_string());
    refused_sync(&*store, last, ErrorKind::AlreadyExists, &guid, &before).await;
}

pub async fn apply_sync_logs_the_before_and_after_of_every_update_of_a_large_plan(store: S) {
    const N: usize = 1_100;
    let base = revision(&*store).await;
    store
        .apply_sync(&many_creates(N), base, &sync(), None)
        .await
        .expect("create");
    let created = store.snapshot().await.expect("snapshot");
    let updates = created
        .environments
        .iter()
        .map(|env| {
            let mut spec = env.spec.clone();
            spec.title = Some(format!("{} v2", env.spec.name));
            planned_update(env, spec)
        })
        .collect();
    let plan = SyncPlan {
        updates,
        ..SyncPlan::default()
    };
    let n = i64::try_from(N).expect("small");
    assert_eq!(
        store
            .apply_sync(&plan, created.revision, &sync(), None)
            .await
            .expect("update"),
        created.revision + n
    );
    let changes = store
        .changes_after(created.revision, 10_000)
        .await
        .expect("changes");
    assert_eq!(changes.len(), N);
    let updated = store.snapshot().await.expect("snapshot");
    let logged = changes
        .iter()
        .zip(&created.environments)
        .zip(&updated.environments);
    for (revision, ((change, before), after)) in (created.revision + 1..).zip(logged) {
        assert_eq!(change.revision, revision);
        assert_eq!(change.action, ChangeAction::Update);
        assert_eq!(change.before.as_ref(), Some(before));
        assert_eq!(change.after.as_ref(), Some(after));
        assert_eq!(after.spec.title, Some(format!("{} v2", before.spec.name)));
        assert_eq!(after.revision, revision);
    }
}
