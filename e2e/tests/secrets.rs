//! Secrets stay secret: the six services at debug level, the registry on PostgreSQL with a
//! password in its database URL, every service requiring the service token, and a scenario that
//! handles every kind of secret — API keys made and used (and refused, and a disabled one), a
//! console session signed in, used and signed out, a sync of the declarative file, selections,
//! a build and a run — and provokes the errors that could echo one. Then no log line of any
//! service, no `/metrics` output and no error message returned holds an API key (past the prefix
//! execenv shows on purpose), the service token, the database password, the session's cookie
//! and CSRF token, or a secret given to a launch in its environment.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::bundles::RawTar;
use execenv_e2e::launcher::python_manifest;
use execenv_e2e::secured::{SecuredStack, StackOptions};
use execenv_e2e::{HttpResponse, eventually, http_get, http_request, http_send, log_line};
use execenv_proto::identity::v1 as id;
use execenv_proto::registry::v1 as reg;
use execenv_proto::selector::v1 as sel;
use execenv_proto::selector::v1::selector_client::SelectorClient;
use serde_json::{Value, json};

/// How many characters of an API key execenv shows (its prefix, logged on purpose).
const SHOWN: usize = 9;
/// Long enough for a build on a busy machine.
const FINISH: Duration = Duration::from_secs(180);

#[test]
fn no_key_token_password_or_cookie_reaches_a_log_a_metric_or_an_error() -> Result<()> {
    let started = std::time::Instant::now();
    let password = format!("pw{}", uuid::Uuid::new_v4().simple());
    let database_url = database_with_password(&password)?;
    let stack = SecuredStack::start(&StackOptions {
        database_url: Some(database_url),
        env: vec![
            ("EXECENV_TELEMETRY__LOG_LEVEL", "debug".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
        ],
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut seen = Seen::default();
    let scenario = runtime.block_on(scenario(&stack, &mut seen));
    let secrets = Secrets {
        keys: seen.keys.clone(),
        whole: [
            vec![
                ("the service token", stack.token.clone()),
                ("the database password", password.clone()),
            ],
            seen.whole.clone(),
        ]
        .concat(),
    };
    scenario?;

    let mut leaks = Vec::new();
    let mut lines = 0;
    let mut all_logs = String::new();
    for (service, process) in stack.services() {
        let path = &process.process.log;
        let text = std::fs::read_to_string(path)?;
        // The scan is worth something only if every service logged at debug level.
        ensure!(
            text.contains(" DEBUG "),
            "{service} logged nothing at debug level: {}",
            path.display()
        );
        all_logs.push_str(&text);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        for (number, line) in text.lines().enumerate() {
            lines += 1;
            leaks.extend(
                secrets
                    .found_in(line)
                    .map(|what| format!("{what} in {name} line {}: {line}", number + 1)),
            );
        }
    }
    // And the keys' prefixes, which execenv logs on purpose, are there to be found.
    for key in &secrets.keys {
        ensure!(
            all_logs.contains(&key[..SHOWN]),
            "no log line names the key prefix {}: the logs read are not the services'",
            &key[..SHOWN]
        );
    }
    for (service, process) in stack.services() {
        let (status, metrics) = http_get(&process.admin, "/metrics")?;
        ensure!(status == 200, "{service} /metrics answered {status}");
        leaks.extend(
            secrets
                .found_in(&metrics)
                .map(|what| format!("{what} in {service}'s /metrics")),
        );
    }
    for error in &seen.errors {
        leaks.extend(
            secrets
                .found_in(error)
                .map(|what| format!("{what} in an error returned: {error}")),
        );
    }
    log_line!(
        "secrets: {} secrets looked for in {lines} log lines of {} services, their /metrics and {} error messages, after {:?}",
        secrets.keys.len() + secrets.whole.len(),
        stack.services().len(),
        seen.errors.len(),
        started.elapsed()
    );
    ensure!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    Ok(())
}

/// The secrets handled, and every error message returned.
#[derive(Debug, Default)]
struct Seen {
    /// API keys (their prefix may show).
    keys: Vec<String>,
    /// Other secrets, named: none of their characters may show.
    whole: Vec<(&'static str, String)>,
    /// Every error message or error body returned.
    errors: Vec<String>,
}

struct Secrets {
    keys: Vec<String>,
    whole: Vec<(&'static str, String)>,
}

impl Secrets {
    /// What secrets `text` holds.
    fn found_in<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'static str> + 'a {
        let keys = self
            .keys
            .iter()
            .filter(|k| text.contains(&k[SHOWN..]))
            .map(|_| "an API key");
        let whole = self
            .whole
            .iter()
            .filter(|(_, s)| text.contains(s.as_str()))
            .map(|(what, _)| *what);
        keys.chain(whole)
    }
}

/// A fresh database on the test server owned by a new role with `password`; its URL with the
/// role and password in it.
fn database_with_password(password: &str) -> Result<String> {
    let server = execenv_e2e::postgres_server_url()?;
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let doing = format!("create the role and database {name}");
    let role = format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'");
    execenv_e2e::psql(&server, &role, &doing)?;
    let database = format!("CREATE DATABASE {name} OWNER {name}");
    execenv_e2e::psql(&server, &database, &doing)?;
    let url = execenv_e2e::with_database(&server, &name);
    let (scheme, rest) = url.split_once("://").context("a URL without a scheme")?;
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    Ok(format!("{scheme}://{name}:{password}@{host}"))
}

async fn scenario(stack: &SecuredStack, seen: &mut Seen) -> Result<()> {
    let api = stack.gateway.address();
    let (_, admin) = stack.user_with_key("ada", "administrator").await?;
    let (_, publisher) = stack.user_with_key("pat", "publisher").await?;
    let (viewer_user, viewer) = stack.user_with_key("vic", "viewer").await?;
    seen.keys
        .extend([admin.clone(), publisher.clone(), viewer.clone()]);
    stack
        .environment(&stack.image, "Host Python", true, None)
        .await?;

    // A key disabled, then used.
    let mut identity = stack.identity().await?;
    let disabled = identity
        .create_api_key(stack.as_service(id::CreateApiKeyRequest {
            user: viewer_user.guid.clone(),
            name: "soon disabled".to_owned(),
        })?)
        .await?
        .into_inner();
    seen.keys.push(disabled.key.clone());
    identity
        .disable_api_key(stack.as_service(id::DisableApiKeyRequest {
            id: disabled.api_key.context("a key without its record")?.id,
        })?)
        .await?;
    rest(
        seen,
        api,
        Some(&disabled.key),
        "GET",
        "/__api__/v1/user",
        None,
        401,
    )?;
    // The keys in use, in both headers a client may send; a viewer refused.
    rest(
        seen,
        api,
        Some(&publisher),
        "GET",
        "/__api__/v1/user",
        None,
        200,
    )?;
    let rsc = format!("Key {admin}");
    expect(
        seen,
        http_request(
            api,
            "GET",
            "/__api__/v1/users",
            &[("X-RSC-Authorization", &rsc)],
            None,
        )?,
        200,
    )?;
    rest(
        seen,
        api,
        Some(&viewer),
        "GET",
        "/__api__/v1/environments",
        None,
        403,
    )?;
    // A key that does not exist, the service token as a key, malformed keys.
    let unknown = format!("ee_{}", "B".repeat(43));
    rest(
        seen,
        api,
        Some(&unknown),
        "GET",
        "/__api__/v1/user",
        None,
        401,
    )?;
    rest(
        seen,
        api,
        Some(&stack.token),
        "GET",
        "/__api__/v1/user",
        None,
        401,
    )?;
    let bearer = format!("Bearer {admin}");
    expect(
        seen,
        http_request(
            api,
            "GET",
            "/__api__/v1/user",
            &[("Authorization", &bearer)],
            None,
        )?,
        401,
    )?;
    rest(
        seen,
        api,
        Some(&format!("{admin}x")),
        "GET",
        "/__api__/v1/user",
        None,
        401,
    )?;

    // The console: signed in, used with its CSRF token, signed out, its cookie used again.
    let signed_in = http_request(
        api,
        "POST",
        "/__api__/execenv/v1/session",
        &[],
        Some(&json!({"api_key": publisher})),
    )?;
    let cookie = signed_in
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .context("signing in set no cookie")?
        .to_owned();
    let csrf = expect(seen, signed_in, 200)?["csrf_token"]
        .as_str()
        .context("no CSRF token")?
        .to_owned();
    let value = cookie
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .context("a cookie without a value")?;
    seen.whole.push(("the session cookie", value));
    seen.whole.push(("the session's CSRF token", csrf.clone()));
    let with_cookie = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let only_cookie = [("Cookie", cookie.as_str())];
    let select = json!({"requirements": {"python_version": stack.python.1}});
    for (headers, status) in [(&with_cookie[..], 200), (&only_cookie[..], 403)] {
        expect(
            seen,
            http_request(
                api,
                "POST",
                "/__api__/execenv/v1/select",
                headers,
                Some(&select),
            )?,
            status,
        )?;
    }
    expect(
        seen,
        http_request(
            api,
            "GET",
            "/__api__/execenv/v1/session",
            &only_cookie,
            None,
        )?,
        200,
    )?;
    expect(
        seen,
        http_request(
            api,
            "DELETE",
            "/__api__/execenv/v1/session",
            &with_cookie,
            None,
        )?,
        204,
    )?;
    expect(
        seen,
        http_request(api, "GET", "/__api__/v1/environments", &only_cookie, None)?,
        401,
    )?;
    expect(
        seen,
        http_request(
            api,
            "POST",
            "/__api__/execenv/v1/session",
            &[],
            Some(&json!({"api_key": unknown})),
        )?,
        401,
    )?;

    // gRPC: without the token, with a wrong one, with the right one.
    let wrong = format!("{}-wrong", stack.token);
    let mut catalogue = stack.catalogue().await?;
    for token in [None, Some(wrong.as_str())] {
        let mut request = tonic::Request::new(reg::ListEnvironmentsRequest::default());
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        let refused = catalogue
            .list_environments(request)
            .await
            .err()
            .context("a call without the right service token was answered")?;
        seen.errors.push(refused.message().to_owned());
    }
    let mut selector = SelectorClient::connect(stack.selector.url.clone()).await?;
    let mut request = stack.as_service(sel::SelectRequest::default())?;
    request
        .metadata_mut()
        .insert("x-execenv-role", "nobody".parse()?);
    let refused = selector
        .select(request)
        .await
        .err()
        .context("an unknown role was answered")?;
    seen.errors.push(refused.message().to_owned());

    // A sync: the file gains an environment, which the registry then lists.
    let added = stack.oci.reference("added:1");
    std::fs::write(
        &stack.file,
        format!(
            "- name: {}\n  title: From the file\n- name: {added}\n  title: Added\n",
            stack.managed_image
        ),
    )?;
    eventually(FINISH, "the sync of the new environment", || {
        listed_names(stack, &admin).is_ok_and(|names| names.contains(&added))
    })?;

    // Selections: the host's Python chosen, and nothing for R.
    let host = json!({"requirements": {"python_version": stack.python.1}});
    rest(
        seen,
        api,
        Some(&publisher),
        "POST",
        "/__api__/execenv/v1/select",
        Some(&host),
        200,
    )?;
    let r = json!({"requirements": {"r_version": "4.4.1"}});
    rest(
        seen,
        api,
        Some(&publisher),
        "POST",
        "/__api__/execenv/v1/select",
        Some(&r),
        409,
    )?;

    // Launches: a bundle uploaded, built and run by the publisher; someone else's refused.
    let content = uuid::Uuid::new_v4().to_string();
    let bundle = RawTar::default()
        .manifest(&python_manifest(&stack.python.1).to_string())
        .file(
            "app.py",
            "print('hello from the secrets test', flush=True)\n",
        )
        .file("requirements.txt", "")
        .gz();
    let auth = format!("Key {publisher}");
    let uploaded = expect(
        seen,
        http_send(
            api,
            "POST",
            &format!("/__api__/execenv/v1/content/{content}/bundles"),
            &[("Authorization", &auth)],
            Some(("application/gzip", &bundle)),
        )?,
        201,
    )?;
    let bundle_id = uploaded["bundle_id"]
        .as_str()
        .context("no bundle id")?
        .to_owned();
    let admin_auth = format!("Key {admin}");
    expect(
        seen,
        http_send(
            api,
            "POST",
            &format!("/__api__/execenv/v1/content/{content}/bundles"),
            &[("Authorization", &format!("Key {}", viewer))],
            Some(("application/gzip", &bundle)),
        )?,
        403,
    )?;
    // The run is given a secret of its own, as content is given a database password.
    let launch_secret = format!("ls{}", uuid::Uuid::new_v4().simple());
    seen.whole
        .push(("a secret given to a launch", launch_secret.clone()));
    let env = json!({"DATABASE_PASSWORD": launch_secret});
    for (kind, command) in [("build", json!([])), ("run", json!(["python", "app.py"]))] {
        let launch = rest(
            seen,
            api,
            Some(&publisher),
            "POST",
            "/__api__/execenv/v1/launches",
            Some(
                &json!({"kind": kind, "content": {"guid": content, "bundle": bundle_id}, "command": command, "env": env}),
            ),
            200,
        )?;
        let id = launch["id"].as_str().context("a launch id")?.to_owned();
        let path = format!("/__api__/execenv/v1/launches/{id}");
        let mut last = Value::Null;
        eventually(FINISH, &format!("the {kind} finishing"), || {
            last = http_request(api, "GET", &path, &[("Authorization", &admin_auth)], None)
                .and_then(|r| r.json())
                .unwrap_or(Value::Null);
            matches!(
                last["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })?;
        ensure!(last["state"] == "succeeded", "the {kind}: {last}");
        rest(
            seen,
            api,
            Some(&publisher),
            "GET",
            &format!("{path}/logs"),
            None,
            200,
        )?;
    }
    rest(
        seen,
        api,
        Some(&publisher),
        "GET",
        "/__api__/execenv/v1/launches/no-such-launch",
        None,
        404,
    )?;
    Ok(())
}

/// The names of the environments the registry lists, asked through the gateway as `key`.
fn listed_names(stack: &SecuredStack, key: &str) -> Result<Vec<String>> {
    let auth = format!("Key {key}");
    let listed = http_request(
        stack.gateway.address(),
        "GET",
        "/__api__/v1/environments",
        &[("Authorization", &auth)],
        None,
    )?
    .json()?;
    Ok(listed
        .as_array()
        .or_else(|| listed["results"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect())
}

/// A REST call with `key` (as `Authorization: Key …`) that must answer `status`.
fn rest(
    seen: &mut Seen,
    api: &str,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
    status: u16,
) -> Result<Value> {
    let auth = key.map(|k| format!("Key {k}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let response = http_request(api, method, path, &headers, body)
        .with_context(|| format!("{method} {path}"))?;
    expect(seen, response, status).with_context(|| format!("{method} {path}"))
}

/// The answer's JSON (null when empty or not JSON) if it has `status`; an error body is kept.
fn expect(seen: &mut Seen, response: HttpResponse, status: u16) -> Result<Value> {
    if response.status >= 400 {
        seen.errors.push(response.body.clone());
    }
    ensure!(
        response.status == status,
        "answered {} instead of {status}: {}",
        response.status,
        response.body
    );
    Ok(serde_json::from_str(&response.body).unwrap_or(Value::Null))
}
