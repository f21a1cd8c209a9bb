//! The launcher's local backend through the real binaries: the registry on SQLite, an
//! environment for the host's Python made with `execenvctl`, the selector, and the launcher with
//! EXECENV_LAUNCHER__BACKEND=local running the real content runner. pip stays offline (`PIP_NO_INDEX=1`
//! and a `PIP_FIND_LINKS` folder holding a wheel the test makes). Waits go through the launcher's
//! Watch stream or `eventually`, with deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, ensure};
use execenv_e2e::launcher::{HostPython, place_python_bundle, python_manifest, watch_until};
use execenv_e2e::python::make_wheel;
use execenv_e2e::{RegistryProcess, ServiceProcess, eventually, http_get};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use tonic::transport::Channel;

/// Long enough for a cold virtual environment and an offline pip install on a busy machine.
const FINISH: Duration = Duration::from_secs(180);
const CONTENT: &str = "3f5e8a1c-2b4d-4e6f-8a9b-0c1d2e3f4a5b";
const BUNDLE: &str = "1";
const APP: &str = "import tinypkg\nprint(tinypkg.VALUE, flush=True)\n";

struct Bed {
    dir: tempfile::TempDir,
    // Kept running for the launcher; dropped (killed) after it.
    _registry: RegistryProcess,
    selector: ServiceProcess,
    launcher: ServiceProcess,
    env: Vec<(&'static str, String)>,
    environment_guid: String,
    python: String,
    version: String,
}

impl Bed {
    /// Everything up, with `slots` local slots and the bundle in place.
    fn new(slots: usize) -> Result<Bed> {
        let dir = tempfile::tempdir()?;
        let wheels = dir.path().join("wheels");
        std::fs::create_dir_all(&wheels)?;
        make_wheel(&wheels, "0.1.0")?;

        let registry = RegistryProcess::on_sqlite(dir.path())?;
        let host = HostPython::create(&registry)?;
        let selector = ServiceProcess::selector(&registry, dir.path(), &[])?;
        place_python_bundle(
            &dir.path().join("data"),
            CONTENT,
            BUNDLE,
            &host.version,
            "tinypkg==0.1.0\n",
            APP,
        )?;

        let env = vec![
            ("EXECENV_LAUNCHER__BACKEND", "local".to_owned()),
            (
                "EXECENV_LOCAL__DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
            ("EXECENV_LOCAL__MAX_CONCURRENT", slots.to_string()),
            ("EXECENV_LOCAL__CANCEL_GRACE_MS", "3000".to_owned()),
            ("PIP_NO_INDEX", "1".to_owned()),
            ("PIP_FIND_LINKS", wheels.display().to_string()),
        ];
        let launcher = ServiceProcess::launcher(&selector, dir.path(), &env)?;
        Ok(Bed {
            dir,
            _registry: registry,
            selector,
            launcher,
            env,
            environment_guid: host.guid,
            python: host.python,
            version: host.version,
        })
    }

    async fn client(&self) -> Result<LauncherClient<Channel>> {
        Ok(LauncherClient::connect(self.launcher.url.clone()).await?)
    }

    async fn launch(&self, id: &str, kind: pb::Kind, command: &[&str]) -> Result<pb::Launch> {
        let request = pb::LaunchRequest {
            request_id: id.into(),
            kind: kind as i32,
            content: Some(pb::Content {
                guid: CONTENT.into(),
                bundle: BUNDLE.into(),
                manifest_json: python_manifest(&self.version).to_string(),
                ..Default::default()
            }),
            command: command.iter().map(|c| (*c).to_owned()).collect(),
            ..Default::default()
        };
        Ok(self.client().await?.launch(request).await?.into_inner())
    }

    async fn get(&self, id: &str) -> Result<pb::Launch> {
        let request = pb::GetLaunchRequest { id: id.into() };
        Ok(self.client().await?.get(request).await?.into_inner())
    }

    async fn cancel(&self, id: &str) -> Result<pb::Launch> {
        let request = pb::CancelLaunchRequest { id: id.into() };
        Ok(self.client().await?.cancel(request).await?.into_inner())
    }

    /// Follows launch `id` with Watch until `want` holds.
    async fn until(
        &self,
        id: &str,
        what: &str,
        want: impl Fn(&pb::Launch) -> bool,
    ) -> Result<pb::Launch> {
        let request = pb::WatchLaunchesRequest { id: id.into() };
        let events = self.client().await?.watch(request).await?.into_inner();
        watch_until(events, FINISH, &format!("{what} of launch {id}"), want).await
    }

    async fn finished(&self, id: &str) -> Result<pb::Launch> {
        self.until(id, "the end", |l| is_final(l.state)).await
    }

    async fn running(&self, id: &str) -> Result<pb::Launch> {
        self.until(id, "RUNNING", |l| l.state == pb::State::Running as i32)
            .await
    }

    /// Builds the bundle and checks it succeeded.
    async fn build(&self, id: &str) -> Result<pb::Launch> {
        self.launch(id, pb::Kind::Build, &[]).await?;
        let built = self.finished(id).await?;
        ensure!(
            built.state == pb::State::Succeeded as i32,
            "the build succeeds: {built:?}\n{}",
            self.logs(id).await?
        );
        Ok(built)
    }

    async fn logs(&self, id: &str) -> Result<String> {
        let request = pb::LogsRequest {
            id: id.into(),
            follow: false,
        };
        let mut chunks = self.client().await?.logs(request).await?.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.message().await? {
            bytes.extend(chunk.data);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Checks that /metrics counts one finished local launch of `kind` with `outcome`.
    fn counted(&self, kind: &str, outcome: &str) -> Result<()> {
        let (_, metrics) = http_get(&self.launcher.admin, "/metrics")?;
        let line = format!(
            r#"execenv_launcher_launches_total{{kind="{kind}",backend="local",outcome="{outcome}"}} 1"#
        );
        ensure!(metrics.contains(&line), "{line} missing from\n{metrics}");
        Ok(())
    }

    fn data(&self, rest: &str) -> PathBuf {
        self.dir.path().join("data").join(rest)
    }

    /// A RUN of a Python content that writes its pid to `pid` and sleeps a minute.
    fn sleeper(&self, pid: &std::path::Path) -> Vec<String> {
        let script =
            "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)";
        vec![
            "python".into(),
            "-c".into(),
            script.into(),
            pid.display().to_string(),
        ]
    }

    async fn run_sleeper(&self, id: &str) -> Result<i32> {
        let pid_file = self.dir.path().join(format!("{id}.pid"));
        let command = self.sleeper(&pid_file);
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        self.launch(id, pb::Kind::Run, &command).await?;
        self.running(id).await?;
        eventually(FINISH, "the content to write its pid", || {
            std::fs::read_to_string(&pid_file).is_ok_and(|t| t.parse::<i32>().is_ok())
        })?;
        Ok(std::fs::read_to_string(&pid_file)?.parse()?)
    }
}

impl Drop for Bed {
    /// A graceful stop, so the launcher ends what it still runs before the other services go.
    fn drop(&mut self) {
        let _ = self.launcher.process.terminate();
    }
}

fn is_final(state: i32) -> bool {
    [
        pb::State::Succeeded,
        pb::State::Failed,
        pb::State::Cancelled,
    ]
    .iter()
    .any(|s| *s as i32 == state)
}

/// Waits until process `pid` has ended.
fn ended(pid: i32, what: &str) -> Result<()> {
    eventually(Duration::from_secs(10), what, || !process_alive(pid))
}

/// Whether process `pid` still runs (a zombie waiting for its parent counts as gone).
fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

#[tokio::test]
async fn a_build_then_a_run_succeed_in_the_chosen_environment_with_the_apps_output_in_the_logs()
-> Result<()> {
    let bed = Bed::new(2)?;
    let accepted = bed.launch("build-1", pb::Kind::Build, &[]).await?;
    ensure!(
        accepted.backend == pb::Backend::Local as i32
            && accepted.environment_guid == bed.environment_guid
            && accepted.environment_title == "Host Python"
            && accepted.image == "local/host-python",
        "the answer names the chosen environment: {accepted:?}"
    );
    let python = &accepted.installations;
    ensure!(
        python.len() == 1
            && python[0].language == "python"
            && python[0].version == bed.version
            && python[0].path == bed.python,
        "the answer names the chosen installation: {python:?}"
    );
    let built = bed.finished("build-1").await?;
    ensure!(
        built.state == pb::State::Succeeded as i32
            && built.reason == "Completed"
            && built.exit_code == Some(0),
        "{built:?}\n{}",
        bed.logs("build-1").await?
    );
    ensure!(
        bed.data(&format!("content/{CONTENT}/{BUNDLE}/work/python/venv"))
            .is_dir()
    );

    bed.launch("run-1", pb::Kind::Run, &[]).await?;
    let ran = bed.finished("run-1").await?;
    let output = bed.logs("run-1").await?;
    ensure!(
        ran.state == pb::State::Succeeded as i32 && ran.exit_code == Some(0),
        "{ran:?}\n{output}"
    );
    ensure!(output.contains("hello from tinypkg 0.1.0"), "{output}");
    ensure!(bed.data("launches/run-1/launch.json").is_file());

    bed.counted("build", "succeeded")?;
    bed.counted("run", "succeeded")
}

#[tokio::test]
async fn a_run_whose_content_exits_3_fails_with_exit_code_3() -> Result<()> {
    let bed = Bed::new(2)?;
    bed.build("build").await?;
    bed.launch(
        "exit-3",
        pb::Kind::Run,
        &["python", "-c", "import sys; sys.exit(3)"],
    )
    .await?;
    let failed = bed.finished("exit-3").await?;
    ensure!(
        failed.state == pb::State::Failed as i32
            && failed.reason == "Error"
            && failed.exit_code == Some(3)
            && failed.message.contains("exit code 3")
            && !failed.message.contains("refused"),
        "{failed:?}"
    );
    bed.counted("run", "failed")
}

#[tokio::test]
async fn cancel_of_a_long_run_cancels_it_and_ends_its_process() -> Result<()> {
    let bed = Bed::new(2)?;
    bed.build("build").await?;
    let pid = bed.run_sleeper("sleeper").await?;
    ensure!(process_alive(pid), "the content runs");
    let cancelled = bed.cancel("sleeper").await?;
    ensure!(
        cancelled.state == pb::State::Cancelled as i32 && cancelled.reason == "Cancelled",
        "{cancelled:?}"
    );
    ended(pid, "the content process to end")?;
    ensure!(bed.get("sleeper").await?.state == pb::State::Cancelled as i32);
    Ok(())
}

#[tokio::test]
async fn with_one_slot_a_second_launch_waits_queued_and_runs_once_the_first_ends() -> Result<()> {
    let bed = Bed::new(1)?;
    bed.build("build").await?;
    bed.run_sleeper("first").await?;
    let second = bed
        .launch(
            "second",
            pb::Kind::Run,
            &["python", "-c", "print('second ran')"],
        )
        .await?;
    ensure!(
        second.state == pb::State::Pending as i32 && second.reason == "Queued",
        "{second:?}"
    );
    ensure!(second.message.contains("position 1"), "{second:?}");
    let still = bed.get("second").await?;
    ensure!(
        still.state == pb::State::Pending as i32
            && bed.get("first").await?.state == pb::State::Running as i32,
        "queued while the first runs: {still:?}"
    );
    bed.cancel("first").await?;
    let ran = bed.finished("second").await?;
    ensure!(ran.state == pb::State::Succeeded as i32, "{ran:?}");
    ensure!(bed.logs("second").await?.contains("second ran"));
    Ok(())
}

#[tokio::test]
async fn the_same_request_id_twice_is_one_launch_with_one_folder() -> Result<()> {
    let bed = Bed::new(2)?;
    let first = bed.launch("same", pb::Kind::Build, &[]).await?;
    let again = bed.launch("same", pb::Kind::Build, &[]).await?;
    ensure!(
        first.id == again.id && first.created_time == again.created_time,
        "{first:?} vs {again:?}"
    );
    bed.finished("same").await?;
    let folders: Vec<_> = std::fs::read_dir(bed.data("launches"))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    ensure!(folders == ["same"], "{folders:?}");
    Ok(())
}

#[tokio::test]
async fn a_launch_running_when_the_launcher_is_killed_is_failed_launcher_restarted_after_a_restart()
-> Result<()> {
    let mut bed = Bed::new(2)?;
    bed.build("build").await?;
    let pid = bed.run_sleeper("orphan").await?;
    bed.launcher.process.kill();
    ensure!(
        process_alive(pid),
        "a SIGKILLed launcher leaves its content running"
    );

    bed.launcher = ServiceProcess::launcher(&bed.selector, bed.dir.path(), &bed.env)?;
    let after = bed.get("orphan").await?;
    ensure!(
        after.state == pb::State::Failed as i32
            && after.reason == "LauncherRestarted"
            && after.message.contains("launch it again"),
        "{after:?}"
    );
    ensure!(
        bed.get("build").await?.state == pb::State::Succeeded as i32,
        "a finished launch is read back as it was"
    );
    ended(pid, "the left-over content to be killed")?;
    let record = std::fs::read_to_string(bed.data("launches/orphan/launch.json"))?;
    ensure!(record.contains("LauncherRestarted"), "{record}");
    Ok(())
}

#[tokio::test]
async fn a_run_before_any_build_fails_with_the_runners_exit_code_3_and_its_message() -> Result<()> {
    let bed = Bed::new(2)?;
    bed.launch("too-early", pb::Kind::Run, &[]).await?;
    let refused = bed.finished("too-early").await?;
    ensure!(
        refused.state == pb::State::Failed as i32
            && refused.exit_code == Some(3)
            && refused.message.contains("missing or out of date")
            && refused.message.contains("build"),
        "{refused:?}"
    );
    ensure!(
        bed.logs("too-early").await?.contains("run refused"),
        "the runner's summary is in the logs"
    );
    Ok(())
}
