//! End to end: users, groups and API keys through the real `execenvctl` and the real
//! `execenv-environment-registry` binary on SQLite; a key authenticated over gRPC as the
//! gateway will, and the secret looked for in every file of the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Result, ensure};
use execenv_client::IdentityInterceptor;
use execenv_core::Role;
use execenv_e2e::{RegistryProcess, field};
use execenv_proto::identity::v1 as id;
use execenv_proto::identity::v1::identity_client::IdentityClient;
use tonic::Code;
use tonic::transport::Channel;

#[tokio::test]
async fn users_groups_and_keys_through_execenvctl_and_authenticate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let ctl = |args: &[&str]| registry.ctl(args);
    let json = |args: &[&str]| registry.ctl_json(args);

    // A user, a group with the user in it, and a key for the user.
    let alice = json(&[
        "users",
        "create",
        "alice",
        "--role",
        "publisher",
        "--email",
        "alice@example.com",
        "--first-name",
        "Alice",
    ])?;
    let alice_guid = field(&alice, "guid")?;
    ensure!(alice["role"] == "publisher", "{alice}");
    let staff = json(&["groups", "create", "staff"])?;
    let staff_guid = field(&staff, "guid")?;
    let group = json(&["groups", "add-member", "staff", "alice"])?;
    ensure!(
        group["member_guids"] == serde_json::json!([alice_guid]),
        "{group}"
    );
    let got = json(&["users", "get", &alice_guid])?;
    ensure!(
        got["group_guids"] == serde_json::json!([staff_guid]),
        "{got}"
    );

    let created = ctl(&["keys", "create", "alice", "--name", "laptop", "-o", "json"])?.ok()?;
    ensure!(
        created.stderr.contains("cannot be shown again"),
        "the note: {}",
        created.stderr
    );
    let created = created.json()?;
    let secret = field(&created, "key")?;
    let key_id = field(&created["api_key"], "id")?;
    ensure!(secret.starts_with("ee_") && secret.len() == 46, "{secret}");

    // The list shows the prefix, never the secret.
    let listed = ctl(&["keys", "list", "--user", "alice"])?.ok()?;
    ensure!(listed.stdout.contains(&key_id), "{}", listed.stdout);
    ensure!(
        !listed.stdout.contains(&secret),
        "the secret is listed: {}",
        listed.stdout
    );

    // The gateway's call: Authenticate, as the service, answers the user with their groups.
    let channel = Channel::from_shared(registry.url.clone())?
        .connect()
        .await?;
    let mut gateway = IdentityClient::new(channel.clone());
    let user = gateway
        .authenticate(id::AuthenticateRequest {
            key: secret.clone(),
            client_address: "127.0.0.1".into(),
        })
        .await?
        .into_inner();
    ensure!(
        user.guid == alice_guid && user.username == "alice",
        "{user:?}"
    );
    ensure!(user.group_guids == vec![staff_guid.clone()], "{user:?}");
    let keys = json(&["keys", "list"])?;
    ensure!(
        keys[0]["last_used_time"].is_string(),
        "the use is recorded: {keys}"
    );

    // A disabled key no longer authenticates.
    let disabled = json(&["keys", "disable", &key_id])?;
    ensure!(disabled["disabled"] == true, "{disabled}");
    let refused = gateway
        .authenticate(id::AuthenticateRequest {
            key: secret.clone(),
            client_address: "127.0.0.1".into(),
        })
        .await
        .expect_err("a disabled key is refused");
    ensure!(refused.code() == Code::Unauthenticated, "{refused:?}");

    // A publisher cannot manage users: through execenvctl and through gRPC.
    let denied = ctl(&[
        "--as-user",
        "alice",
        "--as-role",
        "publisher",
        "users",
        "create",
        "mallory",
        "--role",
        "administrator",
    ])?;
    ensure!(denied.code == 1, "exit {}: {}", denied.code, denied.stderr);
    ensure!(
        denied.stderr.contains("requires the administrator role"),
        "{}",
        denied.stderr
    );
    let mut publisher = IdentityClient::with_interceptor(
        channel,
        IdentityInterceptor {
            user: Some(alice_guid.clone()),
            groups: vec![staff_guid],
            role: Some(Role::Publisher),
            token: None,
        },
    );
    let status = publisher
        .list_users(id::ListUsersRequest {})
        .await
        .expect_err("a publisher may not list users");
    ensure!(status.code() == Code::PermissionDenied, "{status:?}");
    let users = json(&["users", "list"])?;
    ensure!(
        users.as_array().map(Vec::len) == Some(1),
        "no user was created: {users}"
    );

    // The secret is nowhere in the database: not in the file, its WAL or its shared memory;
    // its digest is (so the search looks where the key is).
    let digest = execenv_core::accounts::key::digest(&secret);
    let mut digest_found = false;
    let mut searched = 0;
    for entry in std::fs::read_dir(dir.path())? {
        let path = entry?.path();
        let is_database = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("registry.db"));
        if is_database {
            let bytes = std::fs::read(&path)?;
            let random_part = &secret.as_bytes()[3..];
            ensure!(
                !bytes.windows(random_part.len()).any(|w| w == random_part),
                "the secret is stored in {}",
                path.display()
            );
            digest_found |= bytes.windows(digest.len()).any(|w| w == digest.as_bytes());
            searched += 1;
        }
    }
    ensure!(
        searched >= 1,
        "no database file found in {}",
        dir.path().display()
    );
    ensure!(
        digest_found,
        "the key's digest is not in the database files either"
    );

    // Deleting the user deletes the key.
    ctl(&["users", "delete", "alice"])?.ok()?;
    let keys = json(&["keys", "list"])?;
    ensure!(keys == serde_json::json!([]), "{keys}");
    Ok(())
}
