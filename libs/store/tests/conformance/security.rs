//! Conformance tests of the security audit events, and of the rule that a permission names an
//! existing user or group.

use std::sync::Arc;

use chrono::Duration;
use execenv_core::accounts::{Lookup, NewApiKey, NewUser, key};
use execenv_core::security::{
    NewSecurityEvent, Revocation, SecurityEvent, SecurityEventFilter, SecurityEventKind,
    SecurityEventSubject,
};
use execenv_core::{Actor, ChangeSource, ErrorKind, Principal, Role};
use execenv_store::Store;
use uuid::Uuid;

use crate::identity::admin;
use crate::suite::{create, group_named, guid_of, principals, user_named};

type S = Arc<dyn Store>;

async fn events(store: &S) -> Vec<SecurityEvent> {
    store
        .list_security_events(&SecurityEventFilter::default())
        .await
        .expect("the events are listed")
}

/// Kind, actor and subject of each event (without id and time).
fn summary(events: &[SecurityEvent]) -> Vec<(SecurityEventKind, String, SecurityEventSubject)> {
    events
        .iter()
        .map(|e| (e.kind, e.actor.clone(), e.subject.clone()))
        .collect()
}

async fn new_key(store: &S, user: &str, n: u8) -> (Uuid, String) {
    let mut bytes = [0_u8; key::KEY_BYTES];
    bytes[0] = n;
    bytes[1..17].copy_from_slice(Uuid::new_v4().as_bytes());
    let secret = key::format(&bytes);
    let id = Uuid::new_v4();
    let created = store
        .create_api_key(
            &NewApiKey {
                id,
                user: Lookup::Name(user.to_owned()),
                name: format!("key {n}"),
                prefix: key::prefix(&secret),
                digest: key::digest(&secret),
            },
            &admin(),
        )
        .await
        .expect("the key is created");
    (id, created.prefix)
}

fn key_subject(
    user: Uuid,
    key: Uuid,
    prefix: &str,
    revocation: Option<Revocation>,
) -> SecurityEventSubject {
    SecurityEventSubject {
        user_guid: Some(user.to_string()),
        api_key_id: Some(key),
        api_key_prefix: Some(prefix.to_owned()),
        revocation,
        ..SecurityEventSubject::default()
    }
}

pub async fn a_permission_must_name_an_existing_user_or_group(store: S) {
    principals(&*store).await;
    let env = create(&*store, "img/a").await;
    let unknown = Uuid::new_v4().to_string();
    let cases = [
        (
            Principal::User(unknown.clone()),
            "user_guid",
            "no user has guid",
        ),
        (
            Principal::Group(unknown.clone()),
            "group_guid",
            "no group has guid",
        ),
        (
            Principal::User("nobody-at-all".to_owned()),
            "user_guid",
            "is not the guid of a user",
        ),
        (
            Principal::User("u1".to_owned()),
            "user_guid",
            "is the name of user \"u1\", not a guid; give its guid",
        ),
        (
            Principal::Group("g1".to_owned()),
            "group_guid",
            "is the name of group \"g1\", not a guid; give its guid",
        ),
    ];
    for (principal, field, says) in cases {
        let e = store
            .add_permission(env.guid, &principal, &admin())
            .await
            .expect_err("refused");
        if says.starts_with("no ") {
            // A well-formed guid that names nobody: not found, the field in the message.
            assert_eq!(e.kind, ErrorKind::NotFound, "{principal:?}");
            assert!(e.message.starts_with(field), "{principal:?}: {}", e.message);
        } else {
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{principal:?}");
            assert_eq!(e.violations[0].field, field, "{principal:?}");
        }
        assert!(e.message.contains(says), "{principal:?}: {}", e.message);
    }
    let named = store.get_environment(env.guid).await.expect("get");
    assert_eq!(named.permissions, vec![]);
    assert_eq!(named.revision, env.revision);
    assert_eq!(events(&store).await, vec![]);

    // A guid in capitals names the same user: the entry holds the canonical guid, which is what
    // callers carry.
    let upper = Principal::User(guid_of("u1").to_uppercase());
    let added = store
        .add_permission(env.guid, &upper, &admin())
        .await
        .expect("added")
        .0;
    assert_eq!(added.principal, user_named("u1"));
    let again = store
        .add_permission(env.guid, &user_named("u1"), &admin())
        .await
        .expect_err("the same user again");
    assert_eq!(again.kind, ErrorKind::AlreadyExists);
}

pub async fn permission_changes_record_security_events_with_the_change(store: S) {
    principals(&*store).await;
    let env = create(&*store, "img/a").await;
    let user = store
        .add_permission(env.guid, &user_named("u1"), &admin())
        .await
        .expect("added")
        .0;
    let group = store
        .add_permission(env.guid, &group_named("g1"), &admin())
        .await
        .expect("added")
        .0;
    let sync = Actor {
        name: "service".to_owned(),
        source: ChangeSource::Api,
    };
    store
        .remove_permission(env.guid, user.guid, &sync)
        .await
        .expect("removed");
    // Refused changes record nothing.
    store
        .add_permission(env.guid, &group_named("g1"), &admin())
        .await
        .expect_err("a duplicate");
    store
        .remove_permission(env.guid, user.guid, &admin())
        .await
        .expect_err("removed already");
    let listed = events(&store).await;
    let permission = |p: Uuid, user: Option<&str>, group: Option<&str>| SecurityEventSubject {
        user_guid: user.map(guid_of),
        group_guid: group.map(guid_of),
        environment_guid: Some(env.guid),
        permission_guid: Some(p),
        ..SecurityEventSubject::default()
    };
    assert_eq!(
        summary(&listed),
        vec![
            (
                SecurityEventKind::PermissionAdded,
                admin().name,
                permission(user.guid, Some("u1"), None)
            ),
            (
                SecurityEventKind::PermissionAdded,
                admin().name,
                permission(group.guid, None, Some("g1"))
            ),
            (
                SecurityEventKind::PermissionRemoved,
                "service".to_owned(),
                permission(user.guid, Some("u1"), None)
            ),
        ]
    );
    let ids: Vec<i64> = listed.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(listed.windows(2).all(|w| w[0].time <= w[1].time));
}

pub async fn key_changes_record_security_events_with_the_change(store: S) {
    let alice = store
        .create_user(&NewUser {
            guid: Uuid::new_v4(),
            username: "alice".to_owned(),
            email: None,
            first_name: None,
            last_name: None,
            role: Role::Publisher,
        })
        .await
        .expect("created");
    let (first, first_prefix) = new_key(&store, "alice", 1).await;
    let (second, second_prefix) = new_key(&store, "alice", 2).await;
    let (third, third_prefix) = new_key(&store, "alice", 3).await;
    store
        .disable_api_key(first, &admin())
        .await
        .expect("disabled");
    // Disabling it again changes nothing and records nothing.
    store
        .disable_api_key(first, &admin())
        .await
        .expect("disabled again");
    store
        .delete_api_key(second, &admin())
        .await
        .expect("deleted");
    store
        .delete_user(&Lookup::Guid(alice.guid), &admin())
        .await
        .expect("deleted with the keys left");
    // A key for nobody records nothing.
    store
        .create_api_key(
            &NewApiKey {
                id: Uuid::new_v4(),
                user: Lookup::Name("nobody".to_owned()),
                name: "k".to_owned(),
                prefix: "ee_x".to_owned(),
                digest: key::digest("ee_x"),
            },
            &admin(),
        )
        .await
        .expect_err("no such user");
    let a = admin().name;
    assert_eq!(
        summary(&events(&store).await),
        vec![
            (
                SecurityEventKind::ApiKeyCreated,
                a.clone(),
                key_subject(alice.guid, first, &first_prefix, None)
            ),
            (
                SecurityEventKind::ApiKeyCreated,
                a.clone(),
                key_subject(alice.guid, second, &second_prefix, None)
            ),
            (
                SecurityEventKind::ApiKeyCreated,
                a.clone(),
                key_subject(alice.guid, third, &third_prefix, None)
            ),
            (
                SecurityEventKind::ApiKeyRevoked,
                a.clone(),
                key_subject(alice.guid, first, &first_prefix, Some(Revocation::Disabled))
            ),
            (
                SecurityEventKind::ApiKeyRevoked,
                a.clone(),
                key_subject(
                    alice.guid,
                    second,
                    &second_prefix,
                    Some(Revocation::Deleted)
                )
            ),
            (
                SecurityEventKind::ApiKeyRevoked,
                a.clone(),
                key_subject(
                    alice.guid,
                    first,
                    &first_prefix,
                    Some(Revocation::UserDeleted)
                )
            ),
            (
                SecurityEventKind::ApiKeyRevoked,
                a,
                key_subject(
                    alice.guid,
                    third,
                    &third_prefix,
                    Some(Revocation::UserDeleted)
                )
            ),
        ]
    );
}

fn failures(client: &str, n: u32) -> NewSecurityEvent {
    NewSecurityEvent {
        kind: SecurityEventKind::SignInFailures,
        actor: String::new(),
        subject: SecurityEventSubject {
            client_address: Some(client.to_owned()),
            failures: Some(n),
            ..SecurityEventSubject::default()
        },
    }
}

pub async fn security_events_are_filtered_paged_and_compacted(store: S) {
    principals(&*store).await;
    let env = create(&*store, "img/a").await;
    store
        .record_security_event(&failures("192.0.2.7", 10))
        .await
        .expect("recorded");
    store
        .add_permission(env.guid, &user_named("u"), &admin())
        .await
        .expect("added");
    store
        .record_security_event(&failures("2001:db8::1", 12))
        .await
        .expect("recorded");
    let all = events(&store).await;
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[0].subject,
        SecurityEventSubject {
            client_address: Some("192.0.2.7".to_owned()),
            failures: Some(10),
            ..SecurityEventSubject::default()
        }
    );
    assert_eq!(all[0].actor, "");
    let list = |filter: SecurityEventFilter| {
        let store = store.clone();
        async move {
            store
                .list_security_events(&filter)
                .await
                .expect("listed")
                .iter()
                .map(|e| e.id)
                .collect::<Vec<i64>>()
        }
    };
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    assert_eq!(
        list(SecurityEventFilter {
            kinds: vec![SecurityEventKind::SignInFailures],
            ..SecurityEventFilter::default()
        })
        .await,
        vec![ids[0], ids[2]]
    );
    assert_eq!(
        list(SecurityEventFilter {
            kinds: vec![
                SecurityEventKind::PermissionAdded,
                SecurityEventKind::ApiKeyCreated
            ],
            ..SecurityEventFilter::default()
        })
        .await,
        vec![ids[1]]
    );
    assert_eq!(
        list(SecurityEventFilter {
            after_id: ids[0],
            limit: 1,
            ..SecurityEventFilter::default()
        })
        .await,
        vec![ids[1]]
    );
    let later = all[2].time + Duration::seconds(1);
    assert_eq!(
        list(SecurityEventFilter {
            since: Some(all[0].time),
            until: Some(later),
            ..SecurityEventFilter::default()
        })
        .await,
        ids
    );
    assert_eq!(
        list(SecurityEventFilter {
            since: Some(later),
            ..SecurityEventFilter::default()
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        store
            .compact_security_events(all[0].time - Duration::seconds(1))
            .await
            .expect("compacted"),
        0
    );
    assert_eq!(
        store
            .compact_security_events(later)
            .await
            .expect("compacted"),
        3
    );
    assert_eq!(events(&store).await, vec![]);
}
