//! The chaos scenario of the HA profile on the testbed's node: the chart installed with
//! `values-ha.yaml` on PostgreSQL, continuous load through the gateway (catalogue edits, each
//! followed by a read-your-writes selection of what it created; launches), pods of every service
//! deleted in turn with grace period 0, then every Deployment rolled by `helm upgrade` with a
//! changed declarative file. Afterwards it checks that no launch was lost or duplicated, that no
//! selection was answered from a catalogue older than the client asked for, and that the
//! catalogue is the file plus the API edits; it reports the failed client requests (after one
//! retry) and the failover times.
//!
//! `e2e/tests/kubernetes_chaos.rs` runs it short in `make test`; `make bench` runs it long and
//! prints the figures.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

use crate::database::fresh_postgres_database;
use crate::forward::TcpForward;
use crate::release::{Gateway, NodeRelease, RELEASE, python_environment};
use crate::testbed::{host_address, images};
use crate::{http_request, log_line};

/// How long the scenario lasts.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Delete every pod of a service (true), or one (registry and launcher: both, to be sure a
    /// watcher and a launch's creator were among them).
    pub every_pod: bool,
    /// Rounds of deletions and rolls.
    pub rounds: usize,
    /// Time between two launches of the load.
    pub launch_every: Duration,
}

impl Plan {
    /// For `make test`: one round.
    pub fn short() -> Plan {
        Plan {
            every_pod: false,
            rounds: 1,
            launch_every: Duration::from_secs(4),
        }
    }

    /// For `make bench`: three rounds, every pod, twice the launches.
    pub fn long() -> Plan {
        Plan {
            every_pod: true,
            rounds: 3,
            launch_every: Duration::from_secs(2),
        }
    }
}

/// The Deployments (`execenv-NAME`), in the order their pods are deleted.
const SERVICES: [&str; 6] = [
    "environment-registry",
    "config-sync",
    "selector",
    "launcher",
    "gateway",
    "image-examiner",
];

/// The chart's values key of service `name`.
fn values_key(name: &str) -> &str {
    if name == "image-examiner" {
        "imageExaminer"
    } else {
        name
    }
}

/// One kind of client request: how many succeeded at once, after the one retry, or not at all.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Answered at the first attempt.
    pub first: u64,
    /// Answered at the retry.
    pub retried: u64,
    /// Not answered after the retry.
    pub failed: u64,
    /// What the failed ones got, up to ten.
    pub failures: Vec<String>,
}

impl Counts {
    fn record(&mut self, outcome: &Attempt) {
        match outcome {
            Attempt::First(_) => self.first += 1,
            Attempt::Retried(_) => self.retried += 1,
            Attempt::Failed(why) => {
                self.failed += 1;
                if self.failures.len() < 10 {
                    self.failures.push(why.clone());
                }
            }
        }
    }
}

/// What the scenario found.
#[derive(Debug, Default)]
pub struct Report {
    /// Catalogue edits (environment creations) through the gateway.
    pub edits: Counts,
    /// Read-your-writes selections.
    pub selections: Counts,
    /// Launch requests.
    pub launches: Counts,
    /// Selections answered from a catalogue older than the revision asked for, or without the
    /// environment just created.
    pub stale_selections: Vec<String>,
    /// Accepted launches, by final state.
    pub outcomes: BTreeMap<String, usize>,
    /// Failover times: (what, how long).
    pub failovers: Vec<(String, Duration)>,
    /// Pods deleted.
    pub deleted: usize,
    /// The whole scenario.
    pub took: Duration,
}

impl Report {
    /// The figures, one per line.
    pub fn lines(&self) -> Vec<String> {
        let counts = |what: &str, c: &Counts| {
            format!(
                "{what}: {} answered, {} of them at the retry, {} failed after the retry{}",
                c.first + c.retried,
                c.retried,
                c.failed,
                if c.failures.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.failures.join("; "))
                }
            )
        };
        let mut lines = vec![
            format!(
                "{} pods deleted (grace period 0) and every Deployment rolled, in {:.0} s",
                self.deleted,
                self.took.as_secs_f64()
            ),
            counts("catalogue edits", &self.edits),
            counts("read-your-writes selections", &self.selections),
            counts("launch requests", &self.launches),
            format!(
                "selections older than asked: {}",
                self.stale_selections.len()
            ),
            format!("accepted launches by final state: {:?}", self.outcomes),
        ];
        for (what, took) in &self.failovers {
            lines.push(format!("failover: {what}: {:.2} s", took.as_secs_f64()));
        }
        lines
    }
}

/// How long a client waits before its one retry: about the time kube-proxy takes to stop
/// sending new connections to a deleted pod's address.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The outcome of a request retried once.
enum Attempt {
    First(Value),
    Retried(Value),
    Failed(String),
}

impl Attempt {
    fn value(&self) -> Option<&Value> {
        match self {
            Attempt::First(v) | Attempt::Retried(v) => Some(v),
            Attempt::Failed(_) => None,
        }
    }
}

/// `call` once, and once more when it fails (no answer, or a status `accept` refuses).
fn retried(
    mut call: impl FnMut() -> Result<(u16, Value)>,
    accept: impl Fn(u16) -> bool,
) -> Attempt {
    let mut last = String::new();
    for attempt in 0..2 {
        match call() {
            Ok((status, body)) if accept(status) => {
                return if attempt == 0 {
                    Attempt::First(body)
                } else {
                    Attempt::Retried(body)
                };
            }
            Ok((status, body)) => last = format!("{status} {body}"),
            Err(e) => last = format!("{e:#}"),
        }
        if attempt == 0 {
            // A client's pause before its retry (a new connection, which kube-proxy sends to a
            // live pod once it has caught up); not a synchronisation with the server.
            std::thread::park_timeout(RETRY_AFTER);
        }
    }
    Attempt::Failed(last)
}

/// The load clients' shared record.
#[derive(Default)]
struct Shared {
    report: Report,
    /// Environments created through the API (accepted), by name.
    created: BTreeSet<String>,
    /// Environments whose creation got no answer: they may or may not exist.
    uncertain: BTreeSet<String>,
    /// Launch ids accepted.
    accepted: Vec<String>,
}

/// A request with the administrator's key; the status, the JSON answered (null when empty) and
/// the `X-Execenv-Revision` header's value (0 when absent).
fn request(gateway: &Gateway, method: &str, path: &str, body: &Value) -> Result<(u16, Value, i64)> {
    let auth = format!("Key {}", gateway.key);
    let answer = http_request(
        &gateway.address,
        method,
        path,
        &[("Authorization", &auth)],
        Some(body),
    )?;
    let revision = answer
        .header("x-execenv-revision")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    Ok((answer.status, answer.json_or_null()?, revision))
}

/// An environment named `name` declaring the Python image's installation, chosen only when
/// content names it (`matching: exact`): its image is not on the node, so the bundle's own
/// launches must never land there.
fn environment(name: &str, title: &str) -> Value {
    json!({
        "name": name, "title": title, "cluster_name": "Kubernetes", "matching": "exact",
        "supervisor": images::SUPERVISOR,
        "python": {"installations": [{"version": images::PYTHON_VERSION, "path": images::PYTHON}]},
    })
}

/// One catalogue client's step: creates environment `name` (a retry that finds it created is an
/// answer), then selects it by image with read-your-writes on the revision the creation got.
fn edit_and_select(gateway: &Gateway, name: &str, shared: &Mutex<Shared>) {
    let mut revision = 0;
    let created = retried(
        || {
            let (status, body, rev) = request(
                gateway,
                "POST",
                "/__api__/v1/environments",
                &environment(name, "chaos edit"),
            )?;
            revision = rev.max(body["revision"].as_i64().unwrap_or(0));
            Ok((status, body))
        },
        // 409 at the retry: the first attempt committed but its answer was lost.
        |s| s == 200 || s == 409,
    );
    let mut record = shared.lock().expect("the load's record");
    record.report.edits.record(&created);
    if created.value().is_none() {
        record.uncertain.insert(name.to_owned());
        return;
    }
    record.created.insert(name.to_owned());
    drop(record);
    if revision == 0 {
        // Found created at the retry: no revision to ask for.
        return;
    }
    let selected = retried(
        || {
            let (status, body, _) = request(
                gateway,
                "POST",
                &format!("/__api__/execenv/v1/select?min_revision={revision}"),
                &json!({"requirements": {"target_image": name}}),
            )?;
            Ok((status, body))
        },
        |s| s == 200,
    );
    let mut record = shared.lock().expect("the load's record");
    record.report.selections.record(&selected);
    if let Some(answer) = selected.value() {
        let seen = answer["revision"].as_i64().unwrap_or(0);
        if seen < revision || answer["environment"]["name"] != name {
            record
                .report
                .stale_selections
                .push(format!("asked for revision {revision} of {name}: {answer}"));
        }
    }
}

/// One launch of the load: a short run of the built bundle with request id `id`.
fn launch(gateway: &Gateway, id: &str, content: &str, bundle: &str, shared: &Mutex<Shared>) {
    let body = json!({
        "request_id": id, "kind": "run",
        "content": {"guid": content, "bundle": bundle},
        "command": [images::PYTHON, "-c", format!("print('chaos {id}')")],
    });
    let answer = retried(
        || {
            let (status, body, _) =
                request(gateway, "POST", "/__api__/execenv/v1/launches", &body)?;
            Ok((status, body))
        },
        |s| s == 200,
    );
    let mut record = shared.lock().expect("the load's record");
    record.report.launches.record(&answer);
    if answer.value().is_some() {
        record.accepted.push(id.to_owned());
    }
}

/// The load: a catalogue client and a launch client, each in its own thread until `stop`.
struct Load {
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(gateway: &Gateway, content: &str, bundle: &str, plan: Plan) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut threads = Vec::new();
        {
            let (gateway, stop, shared) =
                (gateway.with_key(&gateway.key), stop.clone(), shared.clone());
            threads.push(std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    edit_and_select(
                        &gateway,
                        &format!("ghcr.io/acme/chaos-edit-{i:04}:1"),
                        &shared,
                    );
                }
            }));
        }
        {
            let (gateway, stop, shared) =
                (gateway.with_key(&gateway.key), stop.clone(), shared.clone());
            let (content, bundle) = (content.to_owned(), bundle.to_owned());
            threads.push(std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let started = Instant::now();
                    launch(
                        &gateway,
                        &format!("chaos-{n:04}"),
                        &content,
                        &bundle,
                        &shared,
                    );
                    // The pace of the launches, not a synchronisation.
                    std::thread::park_timeout(plan.launch_every.saturating_sub(started.elapsed()));
                }
            }));
        }
        Load {
            stop,
            shared,
            threads,
        }
    }

    fn stop(self) -> Shared {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        Arc::try_unwrap(self.shared)
            .ok()
            .expect("the load's threads are done")
            .into_inner()
            .expect("the load's record")
    }
}

/// The declarative file of round `round`: the Python environment and three of its own.
fn file(round: usize) -> Value {
    let mut environments = vec![python_environment()];
    for i in 0..3 {
        environments.push(environment(
            &format!("ghcr.io/acme/chaos-file-{round}-{i}:1"),
            "from the file",
        ));
    }
    Value::Array(environments)
}

/// The names the file of `round` declares.
fn file_names(round: usize) -> BTreeSet<String> {
    file(round)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect()
}

/// The values of round `round`: its file, and a pod annotation on every service that changes with
/// it (so that `helm upgrade` rolls every Deployment).
fn values(round: usize) -> Value {
    let mut values = json!({"executionEnvironments": file(round)});
    for service in SERVICES {
        values[values_key(service)] =
            json!({"podAnnotations": {"execenv.test/chaos-round": round.to_string()}});
    }
    values
}

/// The highest fence term the registry recorded for config-sync's leaders (psql on the test
/// database).
fn fence_term(database_url: &str) -> Result<i64> {
    let out = std::process::Command::new("psql")
        .args([
            database_url,
            "-Atc",
            "SELECT coalesce(max(term), -1) FROM sync_fences",
        ])
        .output()
        .context("cannot run psql")?;
    ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

/// The scenario's cluster side.
struct Chaos<'a> {
    release: &'a NodeRelease,
    gateway: Gateway,
    database_url: String,
    content: String,
    bundle: String,
    report: Report,
}

impl Chaos<'_> {
    /// The running pods of Deployment `execenv-SERVICE`.
    async fn pods_of(&self, service: &str) -> Result<Vec<String>> {
        let prefix = format!("{RELEASE}-{service}-");
        Ok(self
            .release
            .pods()
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .filter(|n| n.starts_with(&prefix) && n[prefix.len()..].matches('-').count() == 1)
            .collect())
    }

    async fn delete_pod(&mut self, name: &str) -> Result<Instant> {
        let pods: Api<Pod> = Api::namespaced(self.release.client.clone(), &self.release.namespace);
        let at = Instant::now();
        pods.delete(
            name,
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
        .with_context(|| format!("cannot delete the pod {name}"))?;
        self.report.deleted += 1;
        Ok(at)
    }

    /// Which pods of `service` to delete this round.
    async fn victims(&self, service: &str, every_pod: bool) -> Result<Vec<String>> {
        let pods = self.pods_of(service).await?;
        if service == "config-sync" {
            // The leader: the Lease's holder.
            let leases: Api<Lease> =
                Api::namespaced(self.release.client.clone(), &self.release.namespace);
            let holder = leases
                .get(&format!("{RELEASE}-config-sync"))
                .await?
                .spec
                .and_then(|s| s.holder_identity)
                .context("config-sync's Lease has no holder")?;
            return Ok(vec![holder]);
        }
        if every_pod || service == "environment-registry" || service == "launcher" {
            return Ok(pods);
        }
        Ok(pods.into_iter().take(1).collect())
    }

    /// Deletes the pods of `service` one after the other, measuring what each loss costs.
    async fn strike(&mut self, service: &str, every_pod: bool, round: usize) -> Result<()> {
        for (k, pod) in self
            .victims(service, every_pod)
            .await?
            .into_iter()
            .enumerate()
        {
            match service {
                "environment-registry" => {
                    let at = self.delete_pod(&pod).await?;
                    let name = format!("ghcr.io/acme/chaos-after-registry-{round}-{k}:1");
                    self.until_selected(&name)?;
                    self.report.failovers.push((
                        "registry pod lost -> a write after it selected with read-your-writes"
                            .into(),
                        at.elapsed(),
                    ));
                }
                "config-sync" => {
                    let before = fence_term(&self.database_url)?;
                    let at = self.delete_pod(&pod).await?;
                    let url = self.database_url.clone();
                    crate::eventually(
                        Duration::from_secs(120),
                        "a new leader's sync applied",
                        || fence_term(&url).is_ok_and(|t| t > before),
                    )?;
                    self.report.failovers.push((
                        "config-sync leader lost -> the next leader's sync applied".into(),
                        at.elapsed(),
                    ));
                }
                "launcher" => {
                    let id = format!("chaos-long-{round}-{k}");
                    self.start_long(&id)?;
                    let at = self.delete_pod(&pod).await?;
                    self.until_cancelled(&id)?;
                    self.report.failovers.push((
                        "launcher pod lost -> its launch followed and cancelled by another".into(),
                        at.elapsed(),
                    ));
                }
                _ => {
                    let at = self.delete_pod(&pod).await?;
                    self.release.wait_available().await?;
                    self.report.failovers.push((
                        format!("{service} pod lost -> replaced and Available"),
                        at.elapsed(),
                    ));
                }
            }
            self.release.wait_available().await?;
        }
        Ok(())
    }

    /// Creates `name` and selects it with read-your-writes until that works.
    fn until_selected(&self, name: &str) -> Result<()> {
        let body = environment(name, "after a lost registry pod");
        crate::eventually(
            Duration::from_secs(120),
            "a write selected after the loss",
            || {
                let Ok((status, created, rev)) =
                    request(&self.gateway, "POST", "/__api__/v1/environments", &body)
                else {
                    return false;
                };
                let revision = rev.max(created["revision"].as_i64().unwrap_or(0));
                if status != 200 && status != 409 {
                    return false;
                }
                let asked = json!({"requirements": {"target_image": name}});
                let path = format!("/__api__/execenv/v1/select?min_revision={revision}");
                request(&self.gateway, "POST", &path, &asked)
                    .is_ok_and(|(s, answer, _)| s == 200 && answer["environment"]["name"] == name)
            },
        )?;
        Ok(())
    }

    /// Starts a launch that runs until cancelled, and waits until it runs.
    fn start_long(&self, id: &str) -> Result<()> {
        let body = json!({
            "request_id": id, "kind": "run",
            "content": {"guid": self.content, "bundle": self.bundle},
            "command": [images::PYTHON, "-c", "import time; time.sleep(600)"],
        });
        self.gateway
            .ok("POST", "/__api__/execenv/v1/launches", Some(&body))?;
        let path = format!("/__api__/execenv/v1/launches/{id}");
        crate::eventually(Duration::from_secs(120), "the long launch running", || {
            self.gateway
                .ok("GET", &path, None)
                .is_ok_and(|l| l["state"] == "running")
        })
    }

    /// Cancels launch `id` until a replica does, then waits for it to be cancelled.
    fn until_cancelled(&self, id: &str) -> Result<()> {
        let path = format!("/__api__/execenv/v1/launches/{id}");
        crate::eventually(Duration::from_secs(120), "the launch cancelled", || {
            self.gateway
                .call("POST", &format!("{path}/cancel"), None)
                .is_ok_and(|(s, _)| s == 200)
                && self
                    .gateway
                    .ok("GET", &path, None)
                    .is_ok_and(|l| l["state"] == "cancelled")
        })
    }
}

/// Runs the scenario on a fresh HA release; fails on a lost or duplicated launch, a selection
/// older than asked, or a catalogue that is not the file plus the edits.
pub async fn run(plan: Plan) -> Result<Report> {
    let started = Instant::now();
    // PostgreSQL listens on loopback; pods reach it through a forwarder on the host's end of
    // the node's veth pair.
    let local = fresh_postgres_database()?;
    let (server, rest) = local
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .and_then(|(_, r)| r.split_once('/'))
        .map(|(hostport, db)| (hostport.to_owned(), db.to_owned()))
        .context("an unexpected PostgreSQL URL")?;
    let forward = TcpForward::start(&host_address().await?, &server)?;
    let user = local
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .map(|(u, _)| u.to_owned())
        .context("no user in the PostgreSQL URL")?;
    let in_cluster = format!("postgres://{user}@{}/{rest}", forward.addr);
    let release = NodeRelease::install_ha("chaos", &values(0), &in_cluster).await?;
    log_line!(
        "chaos: HA release installed in {:.1} s; pods: {}",
        release.install_to_ready.as_secs_f64(),
        release.pods().await?.len()
    );
    let key = release.user_key("chaos-admin", "administrator")?;
    let gateway = release.gateway_with(&key);

    // The content every launch runs: the example bundle, uploaded and built once.
    let content = uuid::Uuid::new_v4().to_string();
    let (content, bundle) = upload_and_build(&gateway, &content)?;

    let mut chaos = Chaos {
        release: &release,
        gateway: gateway.with_key(&key),
        database_url: local.clone(),
        content: content.clone(),
        bundle: bundle.clone(),
        report: Report::default(),
    };
    let load = Load::start(&gateway, &content, &bundle, plan);
    let mut failed = None;
    for round in 1..=plan.rounds {
        for service in SERVICES {
            if let Err(e) = chaos.strike(service, plan.every_pod, round).await {
                failed = Some(e.context(format!("round {round}, {service}")));
                break;
            }
        }
        if failed.is_some() {
            break;
        }
        // Roll every Deployment with a new file.
        let at = Instant::now();
        if let Err(e) = release.upgrade(&values(round)) {
            failed = Some(e);
            break;
        }
        let names = file_names(round);
        let result = async {
            release.wait_available().await?;
            crate::eventually(
                Duration::from_secs(120),
                "the new file in the catalogue",
                || {
                    gateway
                        .environment_names()
                        .is_ok_and(|listed| names.iter().all(|n| listed.contains(n)))
                },
            )
        }
        .await;
        if let Err(e) = result {
            failed = Some(e);
            break;
        }
        chaos.report.failovers.push((
            "helm upgrade (every Deployment rolled, new file) -> file applied, all Available"
                .into(),
            at.elapsed(),
        ));
    }
    let shared = load.stop();
    if let Some(e) = failed {
        log_line!(
            "chaos: pods when it failed:\n{}",
            release.pod_states().await.unwrap_or_default()
        );
        return Err(e);
    }
    let mut report = chaos.report;
    report.edits = shared.report.edits.clone();
    report.selections = shared.report.selections.clone();
    report.launches = shared.report.launches.clone();
    report.stale_selections = shared.report.stale_selections.clone();

    // Every accepted launch is listed once; every listed one (those whose answer was lost too)
    // reaches a final state; no request id has two Jobs.
    let listed = gateway.ok("GET", "/__api__/execenv/v1/launches", None)?;
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for l in listed.as_array().into_iter().flatten() {
        *by_id
            .entry(l["id"].as_str().unwrap_or("").to_owned())
            .or_insert(0) += 1;
    }
    for id in &shared.accepted {
        ensure!(
            by_id.get(id) == Some(&1),
            "accepted launch {id} is listed {:?} times",
            by_id.get(id)
        );
    }
    if let Some((id, n)) = by_id.iter().find(|(_, n)| **n > 1) {
        bail!("launch {id} is listed {n} times");
    }
    for id in by_id.keys().filter(|id| id.starts_with("chaos-")) {
        let outcome = gateway.launch_outcome(id, Duration::from_secs(240))?;
        if shared.accepted.contains(id) {
            *report
                .outcomes
                .entry(outcome["state"].as_str().unwrap_or("?").to_owned())
                .or_insert(0) += 1;
        }
    }
    let jobs: Api<Job> = Api::namespaced(release.client.clone(), &release.namespace);
    let mut jobs_by_id: BTreeMap<String, usize> = BTreeMap::new();
    for job in jobs.list(&ListParams::default()).await? {
        if let Some(id) = job
            .metadata
            .labels
            .and_then(|l| l.get("execenv.io/launch-id").cloned())
        {
            *jobs_by_id.entry(id).or_insert(0) += 1;
        }
    }
    if let Some((id, n)) = jobs_by_id.iter().find(|(_, n)| **n > 1) {
        bail!("launch {id} has {n} Jobs");
    }

    // The catalogue is the last file plus the API's edits.
    let listed: BTreeSet<String> = gateway.environment_names()?.into_iter().collect();
    let file = file_names(plan.rounds);
    let after_loss: BTreeSet<String> = listed
        .iter()
        .filter(|n| n.starts_with("ghcr.io/acme/chaos-after-registry-"))
        .cloned()
        .collect();
    let expected: BTreeSet<String> = file
        .union(&shared.created)
        .cloned()
        .chain(after_loss)
        .collect();
    let unexpected: Vec<&String> = listed
        .difference(&expected)
        .filter(|n| !shared.uncertain.contains(*n))
        .collect();
    let missing: Vec<&String> = expected.difference(&listed).collect();
    ensure!(
        unexpected.is_empty() && missing.is_empty(),
        "the catalogue is not the file plus the edits: unexpected {unexpected:?}, missing {missing:?}"
    );
    ensure!(
        report.stale_selections.is_empty(),
        "selections older than asked: {:?}",
        report.stale_selections
    );
    report.took = started.elapsed();
    release.uninstall().await?;
    drop(forward);
    Ok(report)
}

/// Uploads `examples/bundles/hello-python` as `content` with execenvctl and builds it; the
/// content and bundle ids.
fn upload_and_build(gateway: &Gateway, content: &str) -> Result<(String, String)> {
    let example = crate::chart::repo().join("examples/bundles/hello-python");
    let out = std::process::Command::new(crate::binary("execenvctl")?)
        .args([
            "--gateway",
            &gateway.url(""),
            "--api-key",
            &gateway.key,
            "bundle",
            "upload",
        ])
        .arg(&example)
        .args(["--content", content, "-o", "json"])
        .env_remove("EXECENV_API_KEY")
        .output()?;
    ensure!(
        out.status.success(),
        "bundle upload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: Value = serde_json::from_slice(&out.stdout)?;
    let bundle = stored["bundle_id"]
        .as_str()
        .context("no bundle_id")?
        .to_owned();
    let started = gateway.ok(
        "POST",
        "/__api__/execenv/v1/launches",
        Some(&json!({"kind": "build", "content": {"guid": content, "bundle": bundle}, "command": []})),
    )?;
    let id = started["id"].as_str().context("no id")?;
    let built = gateway.launch_outcome(id, Duration::from_secs(240))?;
    ensure!(built["state"] == "succeeded", "the build: {built}");
    Ok((content.to_owned(), bundle))
}
