//! Conformance tests of the accounts: users, groups and API keys.

use std::sync::Arc;

use chrono::{Duration, Utc};
use execenv_core::accounts::{Lookup, NewApiKey, NewUser, User, UserUpdate, key};
use execenv_core::{Actor, ChangeSource, ErrorKind, Role};
use execenv_store::Store;
use uuid::Uuid;

type S = Arc<dyn Store>;

/// The administrator the account changes are made by.
pub fn admin() -> Actor {
    Actor {
        name: "4a1d0000-0000-4000-8000-000000000001".to_owned(),
        source: ChangeSource::Api,
    }
}

fn name(s: &str) -> Lookup {
    Lookup::Name(s.to_owned())
}

async fn user(store: &S, username: &str, role: Role) -> User {
    store
        .create_user(&NewUser {
            guid: Uuid::new_v4(),
            username: username.to_owned(),
            email: Some(format!("{username}@example.com")),
            first_name: Some("First".to_owned()),
            last_name: None,
            role,
        })
        .await
        .expect("the user is created")
}

/// Stores a key for `user`; returns the secret and the key's id.
async fn api_key(store: &S, user: &str) -> (String, Uuid) {
    let secret = key::format(&rand_bytes());
    let id = Uuid::new_v4();
    store
        .create_api_key(
            &NewApiKey {
                id,
                user: name(user),
                name: "laptop".to_owned(),
                prefix: key::prefix(&secret),
                digest: key::digest(&secret),
            },
            &admin(),
        )
        .await
        .expect("the key is created");
    (secret, id)
}

/// Distinct bytes per call (the tests need different keys, not unpredictable ones).
fn rand_bytes() -> [u8; key::KEY_BYTES] {
    let mut bytes = [0; key::KEY_BYTES];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes
}

pub async fn users_are_found_by_guid_and_username_and_listed_by_username(store: S) {
    let bob = user(&store, "bob", Role::Viewer).await;
    let alice = user(&store, "alice", Role::Publisher).await;
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(alice.first_name.as_deref(), Some("First"));
    assert_eq!(alice.last_name, None);
    assert!(!alice.disabled && alice.group_guids.is_empty());
    assert_eq!(alice.created_time, alice.updated_time);
    assert_eq!(
        store.get_user(&Lookup::Guid(alice.guid)).await.unwrap(),
        alice
    );
    assert_eq!(store.get_user(&name("alice")).await.unwrap(), alice);
    assert_eq!(store.list_users().await.unwrap(), vec![alice, bob]);
}

pub async fn a_taken_username_or_group_name_is_already_exists_naming_it(store: S) {
    user(&store, "alice", Role::Viewer).await;
    let e = store
        .create_user(&NewUser {
            guid: Uuid::new_v4(),
            username: "alice".to_owned(),
            email: None,
            first_name: None,
            last_name: None,
            role: Role::Administrator,
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    assert!(e.message.contains("\"alice\""), "{}", e.message);
    store.create_group(Uuid::new_v4(), "staff").await.unwrap();
    let e = store
        .create_group(Uuid::new_v4(), "staff")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    assert!(e.message.contains("\"staff\""), "{}", e.message);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    assert_eq!(store.list_groups().await.unwrap().len(), 1);
}

pub async fn unknown_users_groups_and_keys_are_not_found(store: S) {
    let e = store.get_user(&name("nobody")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("nobody"), "{}", e.message);
    let guid = Lookup::Guid(Uuid::new_v4());
    assert_eq!(
        store.delete_user(&guid, &admin()).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store.get_group(&guid).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store.delete_group(&name("x")).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    let id = Uuid::new_v4();
    assert_eq!(
        store.disable_api_key(id, &admin()).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store.delete_api_key(id, &admin()).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    let e = store
        .list_api_keys(Some(&name("nobody")))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(
        store.find_api_key(&key::digest("ee_x")).await.unwrap(),
        None
    );
}

pub async fn update_user_replaces_given_fields_and_the_update_time(store: S) {
    let before = user(&store, "alice", Role::Viewer).await;
    let update = UserUpdate {
        role: Some(Role::Administrator),
        disabled: Some(true),
        email: Some(None),
        last_name: Some(Some("Smith".to_owned())),
        ..UserUpdate::default()
    };
    let after = store.update_user(&name("alice"), &update).await.unwrap();
    assert_eq!(after.role, Role::Administrator);
    assert!(after.disabled);
    assert_eq!(after.email, None);
    assert_eq!(after.first_name, before.first_name);
    assert_eq!(after.last_name.as_deref(), Some("Smith"));
    assert!(after.updated_time >= before.updated_time);
    assert_eq!(after.created_time, before.created_time);
    assert_eq!(
        store.get_user(&Lookup::Guid(before.guid)).await.unwrap(),
        after
    );
    // The same update again changes nothing, not even the update time.
    assert_eq!(
        store.update_user(&name("alice"), &update).await.unwrap(),
        after
    );
}

pub async fn group_members_are_added_once_and_removed(store: S) {
    let alice = user(&store, "alice", Role::Publisher).await;
    let bob = user(&store, "bob", Role::Publisher).await;
    let staff = store.create_group(Uuid::new_v4(), "staff").await.unwrap();
    assert!(staff.member_guids.is_empty());
    store
        .add_group_member(&name("staff"), &name("alice"))
        .await
        .unwrap();
    let group = store
        .add_group_member(&Lookup::Guid(staff.guid), &Lookup::Guid(bob.guid))
        .await
        .unwrap();
    let mut members = vec![alice.guid, bob.guid];
    members.sort();
    assert_eq!(group.member_guids, members);
    let e = store
        .add_group_member(&name("staff"), &name("alice"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists);
    assert!(
        e.message.contains("alice") && e.message.contains("staff"),
        "{}",
        e.message
    );
    assert_eq!(
        store.get_user(&name("alice")).await.unwrap().group_guids,
        vec![staff.guid]
    );
    let group = store
        .remove_group_member(&name("staff"), &name("alice"))
        .await
        .unwrap();
    assert_eq!(group.member_guids, vec![bob.guid]);
    let e = store
        .remove_group_member(&name("staff"), &name("alice"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    let e = store
        .add_group_member(&name("staff"), &name("carol"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(store.list_groups().await.unwrap(), vec![group]);
}

pub async fn deleting_a_user_deletes_their_keys_and_memberships(store: S) {
    user(&store, "alice", Role::Publisher).await;
    let bob = user(&store, "bob", Role::Publisher).await;
    store.create_group(Uuid::new_v4(), "staff").await.unwrap();
    store
        .add_group_member(&name("staff"), &name("alice"))
        .await
        .unwrap();
    store
        .add_group_member(&name("staff"), &name("bob"))
        .await
        .unwrap();
    let (secret, _) = api_key(&store, "alice").await;
    let (_, bobs_key) = api_key(&store, "bob").await;
    store.delete_user(&name("alice"), &admin()).await.unwrap();
    assert_eq!(
        store.get_user(&name("alice")).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        store.find_api_key(&key::digest(&secret)).await.unwrap(),
        None
    );
    let keys = store.list_api_keys(None).await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![bobs_key]
    );
    let staff = store.get_group(&name("staff")).await.unwrap();
    assert_eq!(staff.member_guids, vec![bob.guid]);
}

pub async fn deleting_a_group_keeps_its_members(store: S) {
    user(&store, "alice", Role::Publisher).await;
    store.create_group(Uuid::new_v4(), "staff").await.unwrap();
    store
        .add_group_member(&name("staff"), &name("alice"))
        .await
        .unwrap();
    store.delete_group(&name("staff")).await.unwrap();
    assert!(store.list_groups().await.unwrap().is_empty());
    assert!(
        store
            .get_user(&name("alice"))
            .await
            .unwrap()
            .group_guids
            .is_empty()
    );
}

pub async fn api_keys_are_found_by_digest_with_their_user_and_groups(store: S) {
    let alice = user(&store, "alice", Role::Publisher).await;
    let staff = store.create_group(Uuid::new_v4(), "staff").await.unwrap();
    store
        .add_group_member(&name("staff"), &name("alice"))
        .await
        .unwrap();
    let (secret, id) = api_key(&store, "alice").await;
    let found = store
        .find_api_key(&key::digest(&secret))
        .await
        .unwrap()
        .expect("the key is found");
    assert_eq!(found.key.id, id);
    assert_eq!(found.key.name, "laptop");
    assert_eq!(found.key.prefix, key::prefix(&secret));
    assert_eq!(found.key.user_guid, alice.guid);
    assert_eq!(found.key.last_used_time, None);
    assert!(!found.key.disabled);
    assert_eq!(found.digest, key::digest(&secret));
    assert_eq!(found.user.guid, alice.guid);
    assert_eq!(found.user.group_guids, vec![staff.guid]);
}

pub async fn api_keys_are_listed_per_user_disabled_and_deleted(store: S) {
    user(&store, "alice", Role::Publisher).await;
    user(&store, "bob", Role::Viewer).await;
    let (_, first) = api_key(&store, "alice").await;
    let (_, second) = api_key(&store, "alice").await;
    let (secret, bobs) = api_key(&store, "bob").await;
    let ids =
        |keys: Vec<execenv_core::accounts::ApiKey>| keys.iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_api_keys(Some(&name("alice"))).await.unwrap()),
        vec![first, second]
    );
    assert_eq!(
        ids(store.list_api_keys(None).await.unwrap()),
        vec![first, second, bobs]
    );
    let disabled = store.disable_api_key(bobs, &admin()).await.unwrap();
    assert!(disabled.disabled);
    let found = store
        .find_api_key(&key::digest(&secret))
        .await
        .unwrap()
        .unwrap();
    assert!(found.key.disabled);
    store.delete_api_key(first, &admin()).await.unwrap();
    assert_eq!(
        ids(store.list_api_keys(None).await.unwrap()),
        vec![second, bobs]
    );
}

pub async fn a_key_use_is_recorded_at_most_once_a_minute(store: S) {
    user(&store, "alice", Role::Publisher).await;
    let (secret, id) = api_key(&store, "alice").await;
    let t0 = now_in_micros();
    assert!(store.record_api_key_use(id, t0).await.unwrap());
    assert!(
        !store
            .record_api_key_use(id, t0 + Duration::seconds(30))
            .await
            .unwrap()
    );
    let found = store
        .find_api_key(&key::digest(&secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.key.last_used_time, Some(t0));
    let t1 = t0 + Duration::seconds(61);
    assert!(store.record_api_key_use(id, t1).await.unwrap());
    let found = store
        .find_api_key(&key::digest(&secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.key.last_used_time, Some(t1));
}

/// Now, to the microsecond both databases keep.
fn now_in_micros() -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}
