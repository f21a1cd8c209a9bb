//! The `Store` conformance suite, run against every backend: each test in `suite` (the
//! catalogue), `identity` (users, groups, API keys) and `security` (audit events, principals
//! of permissions) is written once and instantiated per
//! backend by `conformance_suite!` (as quickwit's `metastore_test_suite!`), so test names read
//! `sqlite::…` and `postgres::…`.
//!
//! The launcher's launch history (`launch_history`) has a suite of its own, `history::sqlite::…`
//! and `history::postgres::…`.
//!
//! PostgreSQL tests need EXECENV_TEST_DATABASE_URL (set by `make test`); without it they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixture;
mod identity;
mod launch_history;
mod security;
mod suite;
mod upgrade;

use execenv_core::ErrorKind;

macro_rules! conformance_suite {
    ($backend:ident) => {
        conformance_suite!(
            $backend:
            create_then_get_round_trips,
            create_with_an_existing_guid_is_already_exists,
            get_of_an_unknown_guid_is_not_found,
            update_replaces_fields_and_bumps_revision_and_updated_time,
            update_with_a_stale_revision_conflicts_and_changes_nothing,
            update_and_delete_of_an_unknown_guid_are_not_found,
            delete_removes_the_environment_and_its_permissions,
            delete_with_a_stale_revision_conflicts,
            every_mutation_appends_exactly_one_change,
            revisions_strictly_increase_without_gaps,
            permissions_add_reject_duplicates_and_remove,
            permission_changes_bump_revision_but_not_updated_time,
            search_matches_each_searchable_field,
            search_treats_percent_and_underscore_literally,
            filters_by_name_matching_and_managed,
            filters_by_language_and_dotted_version_prefix,
            sorts_by_each_field_in_both_directions,
            pagination_applies_offset_and_limit_and_counts_all,
            publisher_sees_unrestricted_and_granted_environments,
            snapshot_and_its_pages_return_everything_at_the_latest_revision,
            snapshot_pages_are_of_one_revision_while_writes_land_between_them,
            changes_after_resumes_from_a_revision,
            compaction_keeps_the_newest_change_and_reports_out_of_range,
            list_changes_applies_each_filter,
            failed_writes_leave_the_change_log_unchanged,
            concurrent_writers_get_gap_free_increasing_revisions,
            apply_sync_creates_file_managed_environments,
            environment_ids_are_never_given_twice,
            apply_sync_under_a_newer_fence_refuses_the_deposed_leader,
            apply_sync_adoption_keeps_guid_permissions_and_creation_time,
            apply_sync_updates_and_deletes_file_managed_environments,
            apply_sync_with_a_stale_revision_conflicts_and_changes_nothing,
            apply_sync_rolls_back_every_operation_when_one_fails,
            apply_sync_appends_one_config_file_change_per_operation,
            apply_sync_of_a_noop_plan_writes_nothing_and_returns_the_base_revision,
            apply_sync_applies_a_large_plan_atomically,
            apply_sync_rolls_back_a_large_plan_that_fails_in_its_last_part,
            apply_sync_logs_the_before_and_after_of_every_update_of_a_large_plan,
            bootstrap_creates_unmanaged_environments_in_an_empty_catalogue,
            bootstrap_of_a_non_empty_catalogue_returns_none_and_changes_nothing;
            identity:
            users_are_found_by_guid_and_username_and_listed_by_username,
            a_taken_username_or_group_name_is_already_exists_naming_it,
            unknown_users_groups_and_keys_are_not_found,
            update_user_replaces_given_fields_and_the_update_time,
            group_members_are_added_once_and_removed,
            deleting_a_user_deletes_their_keys_and_memberships,
            deleting_a_group_keeps_its_members,
            api_keys_are_found_by_digest_with_their_user_and_groups,
            api_keys_are_listed_per_user_disabled_and_deleted,
            a_key_use_is_recorded_at_most_once_a_minute;
            security:
            a_permission_must_name_an_existing_user_or_group,
            permission_changes_record_security_events_with_the_change,
            key_changes_record_security_events_with_the_change,
            security_events_are_filtered_paged_and_compacted,
        );
    };
    ($backend:ident: $($test:ident),* ; identity: $($identity_test:ident),* ;
     security: $($security_test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let fixture = crate::fixture::$backend().await;
                    crate::suite::$test(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $identity_test() {
                    let fixture = crate::fixture::$backend().await;
                    crate::identity::$identity_test(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $security_test() {
                    let fixture = crate::fixture::$backend().await;
                    crate::security::$security_test(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}

conformance_suite!(sqlite);
conformance_suite!(postgres);

/// The launcher's launch history, per backend: each test gets a fresh database's URL.
macro_rules! history_suite {
    ($backend:ident, $database:expr) => {
        history_suite!($backend, $database;
            history_tables_live_beside_the_catalogue_and_open_again,
            insert_new_adds_once_and_answers_the_launch_held,
            record_writes_until_final_and_then_changes_nothing,
            of_concurrent_final_writes_exactly_one_makes_the_launch_final,
            each_event_of_a_launch_is_claimed_once,
            purge_removes_final_launches_finished_before_the_cutoff_only,
            forget_removes_an_unfinished_launch_and_keeps_a_final_one,
        );
    };
    ($backend:ident, $database:expr; $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let database = $database;
                    crate::launch_history::$test(database.url.clone()).await;
                    database.finish().await;
                }
            )*
        }
    };
}

mod history {
    history_suite!(sqlite, crate::fixture::sqlite_database());
    history_suite!(postgres, crate::fixture::postgres_database().await);

    #[tokio::test]
    async fn open_rejects_an_unknown_scheme_naming_the_accepted_ones() {
        crate::launch_history::open_rejects_an_unknown_scheme_naming_the_accepted_ones().await;
    }
}

/// Catalogues written by older versions, per backend.
mod upgrade_from_separate_installations {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        crate::upgrade::sqlite_installations_move_into_their_environments_rows().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        crate::upgrade::postgres_installations_move_into_their_environments_rows().await;
    }
}

#[tokio::test]
async fn open_rejects_an_unknown_scheme_naming_the_accepted_ones() {
    let err = execenv_store::open("mysql://localhost/db")
        .await
        .err()
        .expect("an error");
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("\"mysql\""), "{}", err.message);
    assert!(
        err.message.contains("sqlite://") && err.message.contains("postgres://"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn open_reports_an_unreachable_postgres_as_unavailable() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let err = execenv_store::open("postgres://execenv@127.0.0.1:1/postgres")
        .await
        .err()
        .expect("an error");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{}", err.message);
    assert!(err.message.contains("127.0.0.1"), "{}", err.message);
}

#[tokio::test]
async fn in_memory_sqlite_is_one_database_for_every_session() {
    let store = execenv_store::open("sqlite::memory:").await.expect("opens");
    let created = suite::create(&*store, "img/memory").await;
    assert_eq!(
        store.get_environment(created.guid).await.expect("found"),
        created
    );
    assert_eq!(
        store.snapshot().await.expect("snapshot").environments.len(),
        1
    );
}

/// Services open the store from spawned tasks, borrowing the URL from their config: the future
/// must be `Send` for every lifetime (`Migrator::run` over `impl Acquire` is not).
#[tokio::test]
async fn open_works_from_a_spawned_task() {
    let task = tokio::spawn(async move {
        let url = String::from("sqlite::memory:");
        execenv_store::open(&url).await.map(|s| s.backend())
    });
    assert_eq!(task.await.expect("the task runs").expect("opens"), "sqlite");
}

/// SQLite's automatic checkpoint is off (it would make the committing writer wait for it): a
/// task copies each write from the write-ahead log into the database file once it commits, a
/// second after the last copy at the latest.
#[tokio::test]
async fn sqlite_writes_reach_the_database_file_after_they_commit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("catalogue.db");
    let store = execenv_store::open(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("opens");
    // Two writes in a row: the second lands while the first one's copy is recent.
    for image in ["img/first", "img/second"] {
        let created = suite::create(&*store, image).await;
        in_the_file_alone(&path, dir.path(), created.guid).await;
    }
}

/// Waits (10 s at most) until the database file at `path`, copied without its write-ahead log,
/// holds environment `guid`.
async fn in_the_file_alone(path: &std::path::Path, scratch: &std::path::Path, guid: uuid::Uuid) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for attempt in 0.. {
        let copy = scratch.join(format!("copy-{attempt}.db"));
        std::fs::copy(path, &copy).expect("a copy of the database file");
        // A copy taken while a checkpoint writes may be torn: it then does not open, or not
        // hold the environment, and the next copy is taken.
        let alone = execenv_store::open(&format!("sqlite://{}", copy.display())).await;
        if let Ok(alone) = alone
            && alone.get_environment(guid).await.is_ok()
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "environment {guid} is not in the database file 10 s after it was committed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
