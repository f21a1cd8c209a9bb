//! The launcher's Kubernetes backend on the testbed's real node, through the real binaries: the
//! registry on SQLite, environments made with `execenvctl env create`, the selector, and
//! `execenv-launcher` with the Kubernetes backend on a fresh namespace, called over gRPC and with
//! `execenvctl`. The API server, the controllers, the scheduler, the kubelet, containerd and runc
//! are real: content builds and runs in the testbed's images (`e2e/infra/images`), with the
//! runner injected by the init container and the command wrapped by the image's supervisor.
//! Packages come from an index served by a pod of the namespace, reached by its Service's DNS
//! name. Interactive launches (a Deployment and a Service) are in module `interactive`.
//!
//! A test target of its own, built with the `kubernetes` feature (EXECENV_SKIP_KUBERNETES=1
//! leaves it out). Each test has a namespace of its own, so they launch with the same request
//! ids: [`LAUNCH`] and [`OTHER`], whose Job names are written out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "kubernetes_launcher/bed.rs"]
mod bed;
#[path = "kubernetes_launcher/interactive.rs"]
mod interactive;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bed::{
    Bed, LAUNCH, Launcher, OTHER, PYTHON_CACHE, R_CACHE, REFERENCE, RUNNER, TITLE, WAIT,
    build_request, expect_state, finished, follow, launcher_env, request, state,
};
use execenv_e2e::gateway::user_key;
use execenv_e2e::testbed::{WheelIndex, images, testbed_kubeconfig};
use execenv_e2e::{ServiceProcess, binary, eventually, field, http_get, http_request};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::selector::v1 as sel;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The content of the tests' Python bundle. Its first argument picks what it does.
const APP: &str = r#"import errno, os, signal, sys, time
mode = sys.argv[1] if len(sys.argv) > 1 else "report"
if mode == "report":
    import demo_alpha, demo_beta
    print("content:", demo_alpha.VALUE, "+", demo_beta.VALUE, flush=True)
    print("supervised:", os.environ.get("EXECENV_TEST_SUPERVISED"), flush=True)
    print("python:", os.environ.get("VIRTUAL_ENV"), sys.version.split()[0], flush=True)
    print("reference:", open("/mnt/ref/hello.txt").read().strip(), flush=True)
    for folder in ["/mnt/cache", "/mnt/ref"]:
        try:
            open(folder + "/probe", "w").close()
            print("writable:", folder, flush=True)
        except OSError as e:
            print("not writable:", folder, errno.errorcode.get(e.errno), flush=True)
elif mode == "exit3":
    print("exiting with 3", flush=True)
    sys.exit(3)
elif mode == "ticks":
    print("tick 1", flush=True)
    while not os.path.exists("/mnt/content/go"):
        time.sleep(0.1)
    print("tick 2", flush=True)
elif mode == "term":
    def stop(signum, frame):
        print("SIGTERM received, cleaning up", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("waiting for SIGTERM", flush=True)
    while True:
        time.sleep(1)
elif mode == "memory":
    print("allocating 1 GiB", flush=True)
    hog = b"x" * (1 << 30)
    print("allocated", len(hog), flush=True)
"#;

/// The packages the bundle needs and the index serves.
const PACKAGES: [(&str, &str); 2] = [("demo-alpha", "1.0"), ("demo-beta", "2.5")];

/// A namespace with its launcher, the package index, and one built bundle of [`APP`].
struct Built {
    bed: Bed,
    index: WheelIndex,
    client: Launcher,
    content: String,
    /// The bundle's work folder on this machine (on the data claim).
    work: std::path::PathBuf,
    /// The answer to the last RUN's Launch call.
    answer: Option<pb::Launch>,
}

impl Built {
    /// Sets up `prefix`'s namespace and builds the bundle there; the build must succeed.
    async fn new(prefix: &str) -> Result<Built> {
        Built::with(prefix, &[]).await
    }

    async fn with(prefix: &str, settings: &[(&'static str, String)]) -> Result<Built> {
        Built::build(Bed::with(prefix, settings).await?).await
    }

    async fn build(bed: Bed) -> Result<Built> {
        let index = WheelIndex::start(&bed.kube, &bed.ns).await?;
        index.write_wheels(&PACKAGES)?;
        let content = uuid::Uuid::new_v4().to_string();
        let work = bed.place_bundle(&content, "demo-alpha==1.0\ndemo-beta\n", APP)?;
        let mut client = bed.client().await?;
        let id = format!("build-{content}");
        client
            .launch(request(&id, pb::Kind::Build, &content, index.pip_env()))
            .await?;
        let done = finished(&mut client, &id).await?;
        if state(&done) != pb::State::Succeeded {
            let logs = bed.logs(&id).unwrap_or_default();
            return Err(bed.explain(anyhow::anyhow!(
                "the build did not succeed: {done:?}\nits logs:\n{logs}"
            )));
        }
        Ok(Built {
            bed,
            index,
            client,
            content,
            work,
            answer: None,
        })
    }

    /// Starts a RUN of the bundle with `python app.py MODE`; returns its id (the Launch call's
    /// answer is in `self.answer`).
    async fn run(
        &mut self,
        id: &str,
        mode: &str,
        resources: Option<pb::Resources>,
    ) -> Result<String> {
        let mut launch = request(id, pb::Kind::Run, &self.content, BTreeMap::new());
        launch.command = vec!["python".into(), "app.py".into(), mode.into()];
        launch.resources = resources;
        self.answer = Some(self.client.launch(launch).await?.into_inner());
        Ok(id.to_owned())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node_build_installs_from_the_cluster_index_into_the_claims_and_the_run_shows_injection_and_wrapping()
-> Result<()> {
    let mut built = Built::new("node-build").await?;
    let result = build_then_run(&mut built).await;
    result.map_err(|e| built.bed.explain(e))
}

async fn build_then_run(built: &mut Built) -> Result<()> {
    let bed = &built.bed;
    // The venv is on the data claim, pip's downloads on the cache claim under the image's folder.
    let site = built.work.join("python/venv/lib/python3.11/site-packages");
    for module in ["demo_alpha", "demo_beta"] {
        ensure!(
            site.join(module).is_dir(),
            "{module} not installed in {}",
            site.display()
        );
    }
    let http_cache = bed.cache.path().join(PYTHON_CACHE).join("pip/3.11.2/http");
    ensure!(
        files_under(&http_cache)? >= 2,
        "pip's downloads are not cached in {}",
        http_cache.display()
    );
    // The content container ran the runner the init container put in the runtime volume.
    let status: Value = serde_json::from_str(&std::fs::read_to_string(
        built.work.join("build-status.json"),
    )?)?;
    ensure!(
        status["runner"] == RUNNER && status["outcome"] == "succeeded",
        "build status: {status}"
    );
    let build_logs = bed.logs(&format!("build-{}", built.content))?;
    ensure!(
        build_logs.contains(&format!("{} {RUNNER} build", images::SUPERVISOR_MARKER)),
        "the supervisor wrapped the runner's build:\n{build_logs}"
    );
    ensure!(
        build_logs.contains("Downloading http://") && build_logs.contains(&built.index.host),
        "pip downloaded from the cluster's index:\n{build_logs}"
    );

    let id = built.run(LAUNCH.id, "report", None).await?;
    let done = finished(&mut built.client, &id).await?;
    let bed = &built.bed;
    let answer = built.answer.clone().context("the RUN's answer")?;
    ensure!(
        (
            answer.environment_guid.as_str(),
            answer.environment_title.as_str()
        ) == (bed.environment_guid.as_str(), TITLE)
            && answer.image == images::PYTHON_IMAGE
            && answer.installations
                == [pb::Installation {
                    language: "python".into(),
                    version: images::PYTHON_VERSION.into(),
                    path: images::PYTHON.into(),
                }]
            && (answer.job_name.as_str(), answer.namespace.as_str())
                == (LAUNCH.job, bed.ns.as_str()),
        "the answer names the environment, image, installation and Job: {answer:?}"
    );
    let logs = bed.logs(&id)?;
    expect_state(&done, pb::State::Succeeded, "Completed").with_context(|| logs.clone())?;
    let venv = "/mnt/content/work/python/venv";
    for line in [
        format!("{} {RUNNER} run", images::SUPERVISOR_MARKER),
        "content: demo-alpha 1.0 + demo-beta 2.5".to_owned(),
        "supervised: yes".to_owned(),
        format!("python: {venv} {}", images::PYTHON_VERSION),
        format!("reference: {}", REFERENCE.1.trim()),
        "not writable: /mnt/cache EROFS".to_owned(),
        "not writable: /mnt/ref EROFS".to_owned(),
    ] {
        ensure!(
            logs.contains(&line),
            "{line:?} not in the run's logs:\n{logs}"
        );
    }
    ensure!(
        !bed.refdata.path().join("probe").exists(),
        "nothing was written into the read-only claim"
    );
    bed.metric(
        r#"execenv_launcher_launches_total{kind="run",backend="kubernetes",outcome="succeeded"} 1"#,
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn node_second_environment_with_the_same_image_builds_another_bundle_from_pips_cache()
-> Result<()> {
    let mut built = Built::new("node-cache").await?;
    let result = cache_hits(&mut built).await;
    result.map_err(|e| built.bed.explain(e))
}

async fn cache_hits(built: &mut Built) -> Result<()> {
    let bed = &built.bed;
    let first = build_seconds(&built.work)?;
    let content = uuid::Uuid::new_v4().to_string();
    let work = bed.place_bundle(&content, "demo-alpha\ndemo-beta==2.5\n", APP)?;
    // Another environment of the same image: the same package cache.
    let second = bed.registry.create_environment(
        images::PYTHON_IMAGE,
        &[
            "--title",
            "Python 3.11, the second environment",
            "--python",
            &format!("{}={}", images::PYTHON_VERSION, images::PYTHON),
        ],
    )?;
    // Read-your-writes: the selector follows the registry and may not have the environment
    // yet; the launch waits for the revision the create answered with.
    let created_at = revision_of(&second)?;
    let second = field(&second, "guid")?;
    let id = format!("build-{content}");
    let mut launch = request(&id, pb::Kind::Build, &content, built.index.pip_env());
    launch.min_revision = created_at;
    if let Some(c) = launch.content.as_mut() {
        c.default_environment_guid = Some(second.clone());
    }
    let answer = built.client.launch(launch).await?.into_inner();
    ensure!(
        answer.environment_guid == second && answer.image == images::PYTHON_IMAGE,
        "the second environment builds: {answer:?}"
    );
    let done = finished(&mut built.client, &id).await?;
    let logs = bed.logs(&id)?;
    expect_state(&done, pb::State::Succeeded, "Completed").with_context(|| logs.clone())?;
    for file in [
        "demo_alpha-1.0-py3-none-any.whl",
        "demo_beta-2.5-py3-none-any.whl",
    ] {
        ensure!(
            logs.contains(&format!("Using cached http://{}", built.index.host))
                && logs.contains(file),
            "pip did not take {file} from its cache:\n{logs}"
        );
    }
    ensure!(
        !logs.contains("Downloading http://"),
        "nothing downloaded:\n{logs}"
    );
    let took = build_seconds(&work)?;
    eprintln!(
        "BUILD of the same two packages: {first:.2} s downloading, {took:.2} s from the cache"
    );
    Ok(())
}

/// The build's own duration, from the status file the runner wrote.
fn build_seconds(work: &std::path::Path) -> Result<f64> {
    let status: Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("build-status.json"))?)?;
    let ms = status["durations"]["install_ms"]
        .as_f64()
        .with_context(|| format!("no install time in {status}"))?;
    Ok(ms / 1000.0)
}

fn files_under(folder: &std::path::Path) -> Result<usize> {
    let mut count = 0;
    if folder.is_dir() {
        for entry in std::fs::read_dir(folder)? {
            let path = entry?.path();
            count += if path.is_dir() {
                files_under(&path)?
            } else {
                1
            };
        }
    }
    Ok(count)
}

#[tokio::test(flavor = "multi_thread")]
async fn node_logs_follow_prints_the_contents_lines_while_it_runs() -> Result<()> {
    let mut built = Built::new("node-follow").await?;
    let result = follow_logs(&mut built).await;
    result.map_err(|e| built.bed.explain(e))
}

async fn follow_logs(built: &mut Built) -> Result<()> {
    let id = built.run(LAUNCH.id, "ticks", None).await?;
    let mut logs = FollowedLogs::start(&built.bed, &id)?;
    let first = logs.wait_for("tick 1")?;
    // The content is still running: it waits for the file the test writes now.
    let now = built
        .client
        .get(pb::GetLaunchRequest { id: id.clone() })
        .await?
        .into_inner();
    ensure!(
        state(&now) == pb::State::Running,
        "'tick 1' arrived while the content ran: {now:?} ({first})"
    );
    std::fs::write(built.work.with_file_name("go"), "")?;
    logs.wait_for("tick 2")?;
    let printed = logs.printed.clone();
    let status = logs.end()?;
    ensure!(
        status.success(),
        "execenvctl launches logs --follow: {status:?}; {printed:?}"
    );
    let done = finished(&mut built.client, &id).await?;
    expect_state(&done, pb::State::Succeeded, "Completed")?;
    Ok(())
}

/// `execenvctl launches logs --follow ID`, running, and the lines it printed.
struct FollowedLogs {
    child: std::process::Child,
    seen: std::sync::mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
    /// The lines read so far that no `wait_for` asked for.
    printed: Vec<String>,
}

impl FollowedLogs {
    fn start(bed: &Bed, id: &str) -> Result<FollowedLogs> {
        let mut child = Command::new(binary("execenvctl")?)
            .args([
                "--launcher",
                &bed.launcher.url,
                "launches",
                "logs",
                "--follow",
                id,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (lines, seen) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().context("stdout")?;
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        Ok(FollowedLogs {
            child,
            seen,
            reader,
            printed: Vec::new(),
        })
    }

    /// Reads lines until one contains `want` (within [`WAIT`]); returns it.
    fn wait_for(&mut self, want: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(line) if line.contains(want) => return Ok(line),
                Ok(line) => self.printed.push(line),
                Err(_) => bail!(
                    "{want:?} not printed within {WAIT:?}; printed: {:?}",
                    self.printed
                ),
            }
        }
    }

    /// Waits until the command has ended by itself; its exit status.
    fn end(self) -> Result<std::process::ExitStatus> {
        let FollowedLogs {
            mut child, reader, ..
        } = self;
        let status = child.wait()?;
        reader.join().expect("the reader thread");
        Ok(status)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node_content_exiting_3_fails_the_launch_with_exit_code_3() -> Result<()> {
    let mut built = Built::new("node-exit").await?;
    let result = exits_3(&mut built).await;
    result.map_err(|e| built.bed.explain(e))
}

async fn exits_3(built: &mut Built) -> Result<()> {
    let id = built.run(LAUNCH.id, "exit3", None).await?;
    let failed = finished(&mut built.client, &id).await?;
    expect_state(&failed, pb::State::Failed, "BackoffLimitExceeded")?;
    ensure!(
        failed.exit_code == Some(3)
            && failed
                .message
                .contains("the content container exited 3 (Error)"),
        "{failed:?}"
    );
    let logs = built.bed.logs(&id)?;
    ensure!(logs.contains("exiting with 3"), "{logs}");
    built.bed.metric(
        r#"execenv_launcher_launches_total{kind="run",backend="kubernetes",outcome="failed"} 1"#,
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn node_cancel_of_running_content_runs_its_sigterm_handler_then_job_and_pod_are_gone()
-> Result<()> {
    let mut built = Built::new("node-cancel").await?;
    let result = cancel(&mut built).await;
    result.map_err(|e| built.bed.explain(e))
}

async fn cancel(built: &mut Built) -> Result<()> {
    let id = built.run(LAUNCH.id, "term", None).await?;
    let mut logs = FollowedLogs::start(&built.bed, &id)?;
    logs.wait_for("waiting for SIGTERM")?;
    let cancelled = built
        .bed
        .ctl(&["-o", "json", "launches", "cancel", &id])?
        .ok()?
        .json()?;
    ensure!(cancelled["state"] == "cancelled", "{cancelled}");
    logs.wait_for("SIGTERM received, cleaning up")?;
    logs.end()?;
    built.bed.gone(&id).await?;
    let got = built
        .client
        .get(pb::GetLaunchRequest { id: id.clone() })
        .await?
        .into_inner();
    expect_state(&got, pb::State::Cancelled, "Cancelled")?;
    built.bed.metric(
        r#"execenv_launcher_launches_total{kind="run",backend="kubernetes",outcome="cancelled"} 1"#,
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn node_content_over_its_memory_limit_fails_oom_killed() -> Result<()> {
    let mut built = Built::new("node-oom").await?;
    let result = oom(&mut built).await;
    result.map_err(|e| built.bed.explain(e))
}

async fn oom(built: &mut Built) -> Result<()> {
    let limit = pb::Resources {
        memory_limit: Some("128Mi".into()),
        ..Default::default()
    };
    let id = built.run(LAUNCH.id, "memory", Some(limit)).await?;
    let failed = finished(&mut built.client, &id).await?;
    expect_state(&failed, pb::State::Failed, "OOMKilled")?;
    ensure!(
        failed.exit_code == Some(137) && failed.message.contains("OOMKilled"),
        "{failed:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn node_build_past_its_deadline_fails_with_deadline_exceeded() -> Result<()> {
    let bed = Bed::with(
        "node-deadline",
        &[(
            "EXECENV_KUBERNETES__BUILD_ACTIVE_DEADLINE_SECONDS",
            "15".into(),
        )],
    )
    .await?;
    deadline(&bed).await.map_err(|e| bed.explain(e))
}

async fn deadline(bed: &Bed) -> Result<()> {
    let index = WheelIndex::start(&bed.kube, &bed.ns).await?;
    let content = uuid::Uuid::new_v4().to_string();
    bed.place_bundle(&content, "demo-alpha\n", APP)?;
    // An index that never answers: pip waits until the Job's deadline stops it.
    let mut env = index.pip_env();
    env.insert("PIP_INDEX_URL".into(), index.slow_url.clone());
    env.insert("PIP_DEFAULT_TIMEOUT".into(), "600".into());
    let mut client = bed.client().await?;
    client
        .launch(request(LAUNCH.id, pb::Kind::Build, &content, env))
        .await?;
    let started = Instant::now();
    let failed = finished(&mut client, LAUNCH.id).await?;
    expect_state(&failed, pb::State::Failed, "DeadlineExceeded")?;
    ensure!(
        started.elapsed() >= Duration::from_secs(10),
        "failed after {:?}, before its deadline: {failed:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn node_environment_whose_image_is_not_on_the_node_stays_pending_with_the_kubelets_reason()
-> Result<()> {
    let bed = Bed::new("node-missing").await?;
    missing_image(&bed).await.map_err(|e| bed.explain(e))
}

async fn missing_image(bed: &Bed) -> Result<()> {
    bed.add_missing_environment()?;
    let gateway = ServiceProcess::gateway(
        &bed.registry,
        bed.dir.path(),
        &[
            ("EXECENV_SELECTOR__URL", bed.selector.url.clone()),
            ("EXECENV_LAUNCHER__URL", bed.launcher.url.clone()),
        ],
    )?;
    let key = user_key(&bed.registry, "ada", "administrator")?;
    let mut launch = build_request(LAUNCH.id, &uuid::Uuid::new_v4().to_string());
    if let Some(content) = launch.content.as_mut() {
        content.requirements = Some(sel::Requirements {
            python_version: Some("3.12.1".into()),
            ..Default::default()
        });
    }
    let mut client = bed.client().await?;
    let answer = client.launch(launch).await?.into_inner();
    ensure!(answer.image == images::MISSING, "{answer:?}");
    let reasons = ["ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff"];
    let pending = follow(&mut client, LAUNCH.id, "PENDING on the image", |l| {
        state(l) == pb::State::Pending && reasons.contains(&l.reason.as_str())
    })
    .await?;
    let shown = bed
        .ctl(&["-o", "json", "launches", "get", LAUNCH.id])?
        .ok()?
        .json()?;
    ensure!(
        shown["state"] == "pending" && reasons.iter().any(|r| shown["reason"] == *r),
        "execenvctl launches get: {shown} (watch said {pending:?})"
    );
    let authorization = format!("Key {key}");
    let through = http_request(
        gateway.address(),
        "GET",
        &format!("/__api__/execenv/v1/launches/{}", LAUNCH.id),
        &[("Authorization", authorization.as_str())],
        None,
    )?;
    let body: Value = through.json()?;
    ensure!(
        through.status == 200
            && body["state"] == "pending"
            && reasons.iter().any(|r| body["reason"] == *r),
        "the gateway: {} {body}",
        through.status
    );
    client
        .cancel(pb::CancelLaunchRequest {
            id: LAUNCH.id.into(),
        })
        .await?;
    bed.gone(LAUNCH.id).await
}

#[tokio::test(flavor = "multi_thread")]
async fn node_r_content_runs_in_the_r_image_with_the_installation_the_selector_chose() -> Result<()>
{
    let bed = Bed::new("node-r").await?;
    r_content(&bed).await.map_err(|e| bed.explain(e))
}

async fn r_content(bed: &Bed) -> Result<()> {
    let created = bed.registry.create_environment(
        images::R_IMAGE,
        &[
            "--title",
            "R 4.2",
            "--r",
            &format!("{}={}", images::R_VERSION, images::R),
        ],
    )?;
    let created_at = revision_of(&created)?;
    let content = uuid::Uuid::new_v4().to_string();
    let bundle = bed.data.folder(&format!("content/{content}/42/bundle"))?;
    std::fs::write(
        bundle.join("manifest.json"),
        json!({"version": 1, "platform": images::R_VERSION,
               "metadata": {"appmode": "rmd-static", "entrypoint": "report.R"},
               "files": {"report.R": {"checksum": "x"}}})
        .to_string(),
    )?;
    std::fs::write(
        bundle.join("report.R"),
        "cat('R says', R.version.string, '\\n')\ncat('chosen', Sys.getenv('EXECENV_R'), '\\n')\ncat('home', R.home(), '\\n')\n",
    )?;
    let requirements = sel::Requirements {
        r_version: Some(images::R_VERSION.into()),
        ..Default::default()
    };
    let mut client = bed.client().await?;
    for (id, kind) in [("r-build", pb::Kind::Build), ("r-run", pb::Kind::Run)] {
        let mut launch = request(id, kind, &content, BTreeMap::new());
        launch.min_revision = created_at;
        if let Some(c) = launch.content.as_mut() {
            c.requirements = Some(requirements.clone());
        }
        if kind == pb::Kind::Run {
            launch.command = vec![
                "sh".into(),
                "-c".into(),
                r#"exec "$EXECENV_R" --vanilla -s -f report.R"#.into(),
            ];
        }
        let answer = client.launch(launch).await?.into_inner();
        ensure!(
            answer.image == images::R_IMAGE
                && answer.installations
                    == [pb::Installation {
                        language: "r".into(),
                        version: images::R_VERSION.into(),
                        path: images::R.into(),
                    }],
            "{answer:?}"
        );
        let done = finished(&mut client, id).await?;
        let logs = bed.logs(id)?;
        expect_state(&done, pb::State::Succeeded, "Completed").with_context(|| logs.clone())?;
        if kind == pb::Kind::Run {
            for line in [
                format!("R says R version {}", images::R_VERSION),
                format!("chosen {}", images::R),
            ] {
                ensure!(logs.contains(&line), "{line:?} not in:\n{logs}");
            }
        }
    }
    ensure!(bed.cache.path().join(R_CACHE).is_dir());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_repeated_request_id_is_one_launch_with_one_job() -> Result<()> {
    let bed = Bed::new("launch-again").await?;
    repeated(&bed).await.map_err(|e| bed.explain(e))
}

async fn repeated(bed: &Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let id = LAUNCH.id;
    let content = uuid::Uuid::new_v4().to_string();
    // Two at once, then one more.
    let (mut a, mut b) = (client.clone(), client.clone());
    let (first, second) = tokio::join!(
        a.launch(build_request(id, &content)),
        b.launch(build_request(id, &content))
    );
    let (first, second) = (first?.into_inner(), second?.into_inner());
    let third = client
        .launch(build_request(id, &content))
        .await?
        .into_inner();
    for answer in [&first, &second, &third] {
        ensure!(
            answer.id == id && answer.created_time == third.created_time,
            "one launch: {answer:?} vs {third:?}"
        );
    }
    // The Job's name is known when the launch is accepted, so even the call that overlapped the
    // Job's creation names it.
    for answer in [&first, &second, &third] {
        ensure!(
            answer.job_name == LAUNCH.job && answer.namespace == bed.ns,
            "{answer:?}"
        );
    }
    let jobs = bed.jobs_of(id).await?;
    ensure!(jobs.len() == 1, "exactly one Job, got {}", jobs.len());
    bed.metric(r#"execenv_launcher_launch_requests_total{outcome="existing"} 2"#)?;
    bed.metric(r#"execenv_launcher_launch_requests_total{outcome="created"} 1"#)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_killed_while_its_job_runs_recovers_the_launch_on_restart() -> Result<()>
{
    let mut bed = Bed::new("launch-restart").await?;
    let result = restart(&mut bed).await;
    result.map_err(|e| bed.explain(e))
}

async fn restart(bed: &mut Bed) -> Result<()> {
    let content = uuid::Uuid::new_v4().to_string();
    bed.place_bundle(&content, "", APP)?;
    let mut client = bed.client().await?;
    let id = LAUNCH.id.to_owned();
    let original = client
        .launch(build_request(&id, &content))
        .await?
        .into_inner();
    bed.launcher.process.kill();
    // The Job runs to its end while no launcher watches.
    let jobs = bed.jobs();
    tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(jobs, LAUNCH.job, |j: Option<&Job>| {
            j.and_then(|j| j.status.as_ref())
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Complete" && c.status == "True")
                })
        }),
    )
    .await
    .context("the Job did not complete on the node")??;
    bed.restart_launcher()?;
    let mut client = bed.client().await?;
    let got = client
        .get(pb::GetLaunchRequest { id: id.clone() })
        .await?
        .into_inner();
    expect_state(&got, pb::State::Succeeded, "Completed")?;
    ensure!(
        got.exit_code == Some(0) && got.started_time.is_some() && got.finished_time.is_some(),
        "{got:?}"
    );
    // Everything the first launcher answered survives in the Job.
    let same = pb::Launch {
        state: got.state,
        reason: got.reason.clone(),
        message: got.message.clone(),
        exit_code: got.exit_code,
        created_time: got.created_time,
        started_time: got.started_time,
        finished_time: got.finished_time,
        ..original
    };
    ensure!(got == same, "after the restart {got:?}\nbefore {same:?}");
    let again = client
        .launch(build_request(&id, &got.content_guid))
        .await?
        .into_inner();
    ensure!(
        again == got,
        "the repeated Launch returns the recovered launch: {again:?}"
    );
    ensure!(bed.jobs_of(&id).await?.len() == 1, "still one Job");
    ensure!(
        bed.launcher
            .process
            .output()
            .contains("launch recovered from its Job"),
        "the new launcher logs the recovery"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_adopts_an_unlisted_job_of_the_same_request_id_and_refuses_a_foreign_one()
-> Result<()> {
    let mut bed = Bed::new("launch-adopt").await?;
    let result = adopt(&mut bed).await;
    result.map_err(|e| bed.explain(e))
}

async fn adopt(bed: &mut Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let id = LAUNCH.id.to_owned();
    let content = uuid::Uuid::new_v4().to_string();
    let original = client
        .launch(build_request(&id, &content))
        .await?
        .into_inner();
    bed.launcher.process.kill();
    // Hide the Job from the next launcher's list and watch: only its Launch call meets it, as
    // AlreadyExists from the API server.
    let unlabel = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": null}}});
    bed.jobs()
        .patch(
            &original.job_name,
            &PatchParams::default(),
            &Patch::Merge(&unlabel),
        )
        .await?;
    bed.restart_launcher()?;
    let mut client = bed.client().await?;
    let unknown = client.get(pb::GetLaunchRequest { id: id.clone() }).await;
    ensure!(
        unknown
            .as_ref()
            .is_err_and(|s| s.code() == tonic::Code::NotFound),
        "the new launcher does not list the unlabelled Job: {unknown:?}"
    );
    let adopted = client
        .launch(build_request(&id, &content))
        .await?
        .into_inner();
    ensure!(
        adopted.id == id
            && adopted.job_name == original.job_name
            && adopted.environment_title == TITLE
            && adopted.image == images::PYTHON_IMAGE
            && adopted.installations == original.installations,
        "{adopted:?}"
    );
    ensure!(bed.jobs_of(&id).await?.len() == 1, "still one Job");
    ensure!(
        bed.launcher.process.output().contains("job adopted"),
        "the launcher logs the adoption"
    );

    // A Job of that name that is not this request's is a collision, not an adoption.
    let foreign = OTHER.id.to_owned();
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": OTHER.job},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": images::PYTHON_IMAGE,
                            "command": [images::PYTHON, "-c", "print('foreign')"]}]}}},
    }))?;
    bed.jobs().create(&PostParams::default(), &job).await?;
    let refused = client
        .launch(build_request(&foreign, &content))
        .await
        .expect_err("ALREADY_EXISTS");
    ensure!(
        refused.code() == tonic::Code::AlreadyExists
            && refused.message().contains(OTHER.job)
            && refused.message().contains(&bed.ns),
        "{refused:?}"
    );
    let forgotten = client.get(pb::GetLaunchRequest { id: foreign }).await;
    ensure!(
        forgotten.is_err_and(|s| s.code() == tonic::Code::NotFound),
        "a refused launch is not kept"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_starts_while_the_api_server_is_unreachable_and_is_ready_once_it_answers()
-> Result<()> {
    let bed = Bed::new("launch-unreachable").await?;
    // A kubeconfig naming a port nobody listens on yet; later it forwards to the API server.
    let port = execenv_e2e::free_port()?;
    let real = std::fs::read_to_string(testbed_kubeconfig()?)?;
    let api = real
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://"))
        .context("the testbed kubeconfig names its server")?
        .to_owned();
    let kubeconfig = bed.dir.path().join("later.kubeconfig");
    std::fs::write(
        &kubeconfig,
        real.replace(&api, &format!("127.0.0.1:{port}")),
    )?;
    let env = launcher_env(&bed.ns, &kubeconfig);
    let mut late = ServiceProcess::spawn_launcher(&bed.selector, bed.dir.path(), &env)?;
    let result = unreachable_then_ready(&mut late, port, &api, &bed).await;
    result.map_err(|e| e.context(format!("the launcher's log:\n{}", late.process.output())))
}

async fn unreachable_then_ready(
    late: &mut ServiceProcess,
    port: u16,
    api: &str,
    bed: &Bed,
) -> Result<()> {
    eventually(WAIT, "the launcher logs the failing watch", || {
        late.process
            .output()
            .contains("the watch of Jobs failed; retrying with backoff")
    })?;
    ensure!(late.process.is_running(), "the launcher keeps running");
    let (status, _) = http_get(&late.admin, "/readyz")?;
    ensure!(
        status == 503,
        "not ready before the first list: /readyz {status}"
    );
    // The API server becomes reachable.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let upstream = api.to_owned();
    let forwarder = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let launched = launch_when_ready(late).await;
    forwarder.abort();
    let (id, answer) = launched?;
    ensure!(answer.job_name == LAUNCH.job, "{answer:?}");
    ensure!(bed.jobs_of(&id).await?.len() == 1, "the Job was created");
    Ok(())
}

async fn launch_when_ready(late: &ServiceProcess) -> Result<(String, pb::Launch)> {
    eventually(WAIT, "the launcher ready", || {
        http_get(&late.admin, "/readyz").is_ok_and(|(status, _)| status == 200)
    })?;
    let mut client = LauncherClient::connect(late.url.clone()).await?;
    let id = LAUNCH.id.to_owned();
    let answer = client
        .launch(build_request(&id, &uuid::Uuid::new_v4().to_string()))
        .await?
        .into_inner();
    if answer.id != id {
        bail!("the launcher answered another launch: {answer:?}");
    }
    Ok((id, answer))
}

/// The Role the test binds the launcher's account to: everything the launcher needs but
/// `create jobs`.
const NO_CREATE: &str = "execenv-launcher";

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_refuses_a_launch_its_role_does_not_allow_naming_the_account_and_the_role()
-> Result<()> {
    let mut bed = Bed::new("launch-forbidden").await?;
    let result = forbidden(&mut bed).await.map_err(|e| bed.explain(e));
    bed.delete().await?;
    result
}

async fn forbidden(bed: &mut Bed) -> Result<()> {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::api::Api;

    let ns = bed.ns.clone();
    let post = PostParams::default();
    let accounts: Api<ServiceAccount> = Api::namespaced(bed.kube.clone(), &ns);
    accounts
        .create(
            &post,
            &serde_json::from_value(json!({"metadata": {"name": NO_CREATE}}))?,
        )
        .await?;
    Api::<Role>::namespaced(bed.kube.clone(), &ns)
        .create(
            &post,
            &serde_json::from_value(json!({
                "metadata": {"name": NO_CREATE},
                "rules": [
                    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "delete"]},
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "get", "list", "watch", "patch", "delete"]},
                    {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "get", "list", "watch", "delete"]},
                    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                ],
            }))?,
        )
        .await?;
    Api::<RoleBinding>::namespaced(bed.kube.clone(), &ns)
        .create(
            &post,
            &serde_json::from_value(json!({
                "metadata": {"name": NO_CREATE},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NO_CREATE},
                "subjects": [{"kind": "ServiceAccount", "name": NO_CREATE, "namespace": ns}],
            }))?,
        )
        .await?;
    // The launcher runs as that account: a kubeconfig with the account's token.
    let token = accounts
        .create_token_request(
            NO_CREATE,
            &post,
            &TokenRequest {
                spec: Some(TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await?
        .status
        .and_then(|s| s.token)
        .context("no token")?;
    let token_file = bed.dir.path().join("launcher.token");
    std::fs::write(&token_file, token)?;
    let mut kubeconfig = kube::config::Kubeconfig::read_from(testbed_kubeconfig()?)?;
    for user in &mut kubeconfig.auth_infos {
        user.auth_info = Some(kube::config::AuthInfo {
            token_file: Some(token_file.display().to_string()),
            ..Default::default()
        });
    }
    let path = bed.dir.path().join("launcher.kubeconfig");
    std::fs::write(&path, serde_json::to_string(&kubeconfig)?)?;
    bed.restart_launcher_with(&[
        ("EXECENV_KUBERNETES__KUBECONFIG", path.display().to_string()),
        ("EXECENV_KUBERNETES__ROLE", NO_CREATE.to_owned()),
    ])?;

    let mut client = bed.client().await?;
    let refused = client
        .launch(build_request(LAUNCH.id, &uuid::Uuid::new_v4().to_string()))
        .await
        .expect_err("PERMISSION_DENIED");
    let expected = format!(
        "cannot create the Job {job}: forbidden: system:serviceaccount:{ns}:{NO_CREATE} may not create jobs in \
         namespace {ns} — the Role {NO_CREATE} in namespace {ns} (the Helm chart's launcher.rbac) must allow it; \
         the launcher needs jobs: create, get, list, watch, delete; deployments: create, get, list, watch, \
         patch, delete; services: create, get, list, watch, delete; pods: get, list, watch; pods/log: get",
        job = LAUNCH.job
    );
    ensure!(
        refused.code() == tonic::Code::PermissionDenied && refused.message() == expected,
        "{refused:?}"
    );
    let log = bed.launcher.process.output();
    ensure!(
        log.lines()
            .any(|l| l.contains("launch could not be started") && l.contains(&expected)),
        "the launcher's log does not say it: {log}"
    );
    ensure!(bed.jobs_of(LAUNCH.id).await?.is_empty(), "no Job was made");
    let forgotten = client
        .get(pb::GetLaunchRequest {
            id: LAUNCH.id.to_owned(),
        })
        .await;
    ensure!(
        forgotten.is_err_and(|s| s.code() == tonic::Code::NotFound),
        "a refused launch is not kept"
    );

    // A Role that does not let the launcher list and watch pods: it would never see a launch run,
    // so it refuses launches (and is not ready) until the Role allows it.
    bed.launcher.process.kill();
    Api::<Role>::namespaced(bed.kube.clone(), &ns)
        .patch(
            NO_CREATE,
            &PatchParams::default(),
            &Patch::Merge(&json!({"rules": [
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "get", "list", "watch", "patch", "delete"]},
                {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "get", "list", "watch", "delete"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            ]})),
        )
        .await?;
    let blind = bed.spawn_launcher()?;
    let result = blind_launch(&blind, &ns).await;
    result.map_err(|e| {
        e.context(format!(
            "the second launcher's log:\n{}",
            blind.process.output()
        ))
    })?;
    ensure!(bed.jobs_of(LAUNCH.id).await?.is_empty(), "no Job was made");
    Ok(())
}

async fn blind_launch(blind: &ServiceProcess, ns: &str) -> Result<()> {
    eventually(WAIT, "the launcher logs the refused watch", || {
        blind
            .process
            .output()
            .contains("the watch of pods is refused; launches are refused until it works")
    })?;
    let (status, _) = http_get(&blind.admin, "/readyz")?;
    ensure!(
        status == 503,
        "not ready without the pods: /readyz {status}"
    );
    let mut client = LauncherClient::connect(blind.url.clone()).await?;
    let refused = client
        .launch(build_request(LAUNCH.id, &uuid::Uuid::new_v4().to_string()))
        .await
        .expect_err("PERMISSION_DENIED");
    let expected = format!(
        "the launcher may not watch its Jobs, Deployments, Services and pods, so it would never see this launch \
         run: forbidden: system:serviceaccount:{ns}:{NO_CREATE} may not list pods in namespace {ns} — the Role \
         {NO_CREATE} in namespace {ns} (the Helm chart's launcher.rbac) must allow it; the launcher needs jobs: \
         create, get, list, watch, delete; deployments: create, get, list, watch, patch, delete; services: \
         create, get, list, watch, delete; pods: get, list, watch; pods/log: get"
    );
    ensure!(
        refused.code() == tonic::Code::PermissionDenied && refused.message() == expected,
        "{refused:?}"
    );
    Ok(())
}

/// The revision a catalogue write answered with (`execenvctl … -o json`).
fn revision_of(written: &Value) -> Result<i64> {
    written["revision"]
        .as_i64()
        .with_context(|| format!("no revision in {written}"))
}
