//! The launcher's own Prometheus metrics, registered on the kit's [`Metrics`].
//!
//! ## Counted once across replicas
//!
//! Several launchers on one namespace (and one launch history, `history.database_url`) all watch
//! every Job, so each sees every launch start, run and end. What is counted per launch is counted
//! by one replica, so that the sum over replicas counts each launch once:
//!
//! - **outcomes** (`execenv_launcher_launches_total`) and `execenv_launcher_finished_seconds`: the
//!   replica whose write to the history made the launch final (the conditional
//!   `UPDATE … WHERE NOT is_final` that changed the row; a Cancel writes it before deleting the
//!   Job, so the replica that cancels counts the cancellation);
//! - **job created** (`execenv_launcher_job_created_seconds`): the replica whose create call
//!   made the Job or Deployment (a create that met an existing one, 409, adopts it and counts
//!   nothing) — with or without a history;
//! - **running, each phase, each restart** (`execenv_launcher_running_seconds`,
//!   `execenv_launcher_phase_seconds`, `execenv_launcher_interactive_restarts_total`): there is no
//!   natural arbiter (every replica reads the same times from the pod), so the first replica to
//!   claim the event in the history (`running`, `phase:init`, `restart:3`, … in
//!   `execenv_launch_counts`) counts it. A replica that cannot reach the database counts nothing of
//!   it (and logs why): an event may be missed, never counted twice;
//! - **gauges** (`execenv_launcher_active_launches`, `execenv_launcher_interactive_ready`) are each
//!   replica's view of the same launches: aggregate them with `max`, not `sum`;
//! - **calls** (`execenv_launcher_launch_requests_total`, `execenv_launcher_launch_call_seconds`,
//!   `execenv_launcher_kubernetes_create_seconds`) are per replica by nature: each counts the calls
//!   it answered or made; a repeated request answered from the history counts `existing`.
//!
//! Without a history (one launcher) every event is counted where it is seen, as the only replica.

use std::time::Duration;

use execenv_kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::job_spec::LaunchKind;
use crate::launch::{BackendKind, Phase, State};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    kind: &'static str,
    backend: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
    backend: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    kind: &'static str,
    backend: &'static str,
    phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    outcome: &'static str,
}

type Timings = Family<KindLabels, Histogram, fn() -> Histogram>;

/// The outcomes of a Launch call (the `outcome` label of `execenv_launcher_launch_requests_total`).
pub const REQUEST_OUTCOMES: [&str; 5] =
    ["created", "existing", "invalid", "no_environment", "error"];

/// The kinds of launch, each with the outcomes it can end in (an interactive launch runs until it
/// is stopped: it never succeeds).
const KINDS: [(LaunchKind, &[State]); 3] = [
    (
        LaunchKind::Build,
        &[State::Succeeded, State::Failed, State::Cancelled],
    ),
    (
        LaunchKind::Run,
        &[State::Succeeded, State::Failed, State::Cancelled],
    ),
    (LaunchKind::Interactive, &[State::Failed, State::Cancelled]),
];

/// An event of a launch's life counted once per launch (see the module's doc): with a history,
/// the replica that wins it counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Once {
    /// It started running `took` after its request.
    Running(Duration),
    /// A phase took this long.
    Phase(Phase, Duration),
    /// Its app was restarted for the n-th time.
    Restart(u32),
    /// It reached a final state, `took` after its request when known.
    Finished(State, Option<Duration>),
}

impl Once {
    /// The event's name in the history's claims (`running`, `phase:init`, `restart:3`,
    /// `finished`).
    pub fn key(&self) -> String {
        match self {
            Once::Running(_) => "running".to_owned(),
            Once::Phase(phase, _) => format!("phase:{}", phase.as_str()),
            Once::Restart(n) => format!("restart:{n}"),
            Once::Finished(..) => "finished".to_owned(),
        }
    }
}

/// Launches by outcome, the time from request to Job created, to running and to finished, the
/// time of each phase of a launch, the active launches, the interactive launches ready and their
/// restarts, and the launcher's own time per Launch call next to the Kubernetes API's.
#[derive(Clone)]
pub struct LauncherMetrics {
    launches: Family<OutcomeLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    job_created_seconds: Timings,
    running_seconds: Timings,
    finished_seconds: Timings,
    phase_seconds: Family<PhaseLabels, Histogram, fn() -> Histogram>,
    active: Family<BackendLabels, Gauge>,
    interactive_ready: Family<BackendLabels, Gauge>,
    interactive_restarts: Family<BackendLabels, Counter>,
    launch_call_seconds: Histogram,
    kubernetes_call_seconds: Histogram,
}

fn short_buckets() -> Histogram {
    // 1 ms … ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

fn long_buckets() -> Histogram {
    // 10 ms … ~3 h.
    Histogram::new(exponential_buckets(0.01, 2.0, 21))
}

impl Default for LauncherMetrics {
    fn default() -> Self {
        LauncherMetrics {
            launches: Family::default(),
            requests: Family::default(),
            job_created_seconds: Family::new_with_constructor(short_buckets),
            running_seconds: Family::new_with_constructor(long_buckets),
            finished_seconds: Family::new_with_constructor(long_buckets),
            phase_seconds: Family::new_with_constructor(long_buckets),
            active: Family::default(),
            interactive_ready: Family::default(),
            interactive_restarts: Family::default(),
            // 100 µs … ~6.5 s.
            launch_call_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 17)),
            kubernetes_call_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 17)),
        }
    }
}

impl LauncherMetrics {
    /// Registers the metrics on `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = LauncherMetrics::default();
        metrics.register(
            "execenv_launcher_launches",
            "Finished launches by kind (build, run, interactive), backend (local, kubernetes) and outcome (succeeded, failed, cancelled)",
            m.launches.clone(),
        );
        metrics.register(
            "execenv_launcher_launch_requests",
            "Launch calls by outcome (created, existing, invalid, no_environment, error)",
            m.requests.clone(),
        );
        metrics.register(
            "execenv_launcher_job_created_seconds",
            "Time from the launch request to its Job created (or its process spawned)",
            m.job_created_seconds.clone(),
        );
        metrics.register(
            "execenv_launcher_running_seconds",
            "Time from the launch request to its content running",
            m.running_seconds.clone(),
        );
        metrics.register(
            "execenv_launcher_finished_seconds",
            "Time from the launch request to its end (any outcome)",
            m.finished_seconds.clone(),
        );
        metrics.register(
            "execenv_launcher_phase_seconds",
            "Time of each phase of a launch (scheduling, sandbox, init, runner_start, run), from the times the Job and its pod show (local: run only)",
            m.phase_seconds.clone(),
        );
        metrics.register(
            "execenv_launcher_active_launches",
            "Launches accepted and not finished, by backend",
            m.active.clone(),
        );
        metrics.register(
            "execenv_launcher_interactive_ready",
            "Interactive launches ready (answering on their address) now, by backend",
            m.interactive_ready.clone(),
        );
        metrics.register(
            "execenv_launcher_interactive_restarts",
            "Restarts of interactive apps after they exited (local) or of their containers (Kubernetes), by backend",
            m.interactive_restarts.clone(),
        );
        metrics.register(
            "execenv_launcher_launch_call_seconds",
            "Time to answer a Launch call that started a launch, the selector and Kubernetes API calls included",
            m.launch_call_seconds.clone(),
        );
        metrics.register(
            "execenv_launcher_kubernetes_create_seconds",
            "Time of the Kubernetes API call creating a launch's Job",
            m.kubernetes_call_seconds.clone(),
        );
        m
    }

    /// Creates every series of a launcher on `backend` at zero. A series that is born with its
    /// first event has no earlier sample for `rate()` to compare with, so a dashboard would never
    /// show the first launch of a kind, nor the first time it took.
    pub fn initialize(&self, backend: BackendKind) {
        // Each `get_or_create` creates the series; its read guard is dropped at once.
        for (kind, outcomes) in KINDS {
            for state in outcomes {
                drop(self.launches.get_or_create(&OutcomeLabels {
                    kind: kind.as_str(),
                    backend: backend.as_str(),
                    outcome: state.as_str(),
                }));
            }
            for timings in [
                &self.job_created_seconds,
                &self.running_seconds,
                &self.finished_seconds,
            ] {
                drop(timings.get_or_create(&labels(kind, backend)));
            }
            for phase in Phase::of(backend) {
                drop(
                    self.phase_seconds
                        .get_or_create(&phase_labels(kind, backend, *phase)),
                );
            }
        }
        let by_backend = BackendLabels {
            backend: backend.as_str(),
        };
        drop(self.active.get_or_create(&by_backend));
        drop(self.interactive_ready.get_or_create(&by_backend));
        drop(self.interactive_restarts.get_or_create(&by_backend));
        for outcome in REQUEST_OUTCOMES {
            drop(self.requests.get_or_create(&RequestLabels { outcome }));
        }
    }

    /// A launch reached a final state (`took` since its request, when known).
    pub fn finished(
        &self,
        kind: LaunchKind,
        backend: BackendKind,
        state: State,
        took: Option<Duration>,
    ) {
        self.launches
            .get_or_create(&OutcomeLabels {
                kind: kind.as_str(),
                backend: backend.as_str(),
                outcome: state.as_str(),
            })
            .inc();
        if let Some(took) = took {
            self.finished_seconds
                .get_or_create(&labels(kind, backend))
                .observe(took.as_secs_f64());
        }
    }

    /// Counts `event` of a launch of `kind` on `backend`.
    pub fn count(&self, kind: LaunchKind, backend: BackendKind, event: Once) {
        match event {
            Once::Running(took) => self.running(kind, backend, took),
            Once::Phase(phase, took) => self.phase(kind, backend, phase, took),
            Once::Restart(_) => self.restarted(backend, 1),
            Once::Finished(state, took) => self.finished(kind, backend, state, took),
        }
    }

    /// A launch's workload was created `took` after its request.
    pub fn job_created(&self, kind: LaunchKind, backend: BackendKind, took: Duration) {
        self.job_created_seconds
            .get_or_create(&labels(kind, backend))
            .observe(took.as_secs_f64());
    }

    /// A launch started running `took` after its request.
    pub fn running(&self, kind: LaunchKind, backend: BackendKind, took: Duration) {
        self.running_seconds
            .get_or_create(&labels(kind, backend))
            .observe(took.as_secs_f64());
    }

    /// A phase of a launch took `took`.
    pub fn phase(&self, kind: LaunchKind, backend: BackendKind, phase: Phase, took: Duration) {
        self.phase_seconds
            .get_or_create(&phase_labels(kind, backend, phase))
            .observe(took.as_secs_f64());
    }

    /// The number of unfinished launches of `backend` changed by `delta`.
    pub fn active_changed(&self, backend: BackendKind, delta: i64) {
        self.active
            .get_or_create(&BackendLabels {
                backend: backend.as_str(),
            })
            .inc_by(delta);
    }

    /// The number of interactive launches of `backend` that are ready changed by `delta`.
    pub fn ready_changed(&self, backend: BackendKind, delta: i64) {
        self.interactive_ready
            .get_or_create(&BackendLabels {
                backend: backend.as_str(),
            })
            .inc_by(delta);
    }

    /// Interactive apps of `backend` were restarted `count` more times.
    pub fn restarted(&self, backend: BackendKind, count: u64) {
        self.interactive_restarts
            .get_or_create(&BackendLabels {
                backend: backend.as_str(),
            })
            .inc_by(count);
    }

    /// A Launch call ended with `outcome` (created, existing, invalid, no_environment, error).
    pub fn request(&self, outcome: &'static str) {
        self.requests
            .get_or_create(&RequestLabels { outcome })
            .inc();
    }

    /// A Launch call that created a launch took `took` in all.
    pub fn launch_call(&self, took: Duration) {
        self.launch_call_seconds.observe(took.as_secs_f64());
    }

    /// The Kubernetes API call creating a Job took `took`.
    pub fn kubernetes_create(&self, took: Duration) {
        self.kubernetes_call_seconds.observe(took.as_secs_f64());
    }
}

fn labels(kind: LaunchKind, backend: BackendKind) -> KindLabels {
    KindLabels {
        kind: kind.as_str(),
        backend: backend.as_str(),
    }
}

fn phase_labels(kind: LaunchKind, backend: BackendKind, phase: Phase) -> PhaseLabels {
    PhaseLabels {
        kind: kind.as_str(),
        backend: backend.as_str(),
        phase: phase.as_str(),
    }
}

/// The value of the series `series` (name and labels) in `metrics`, as the text shows it.
#[cfg(test)]
pub(crate) fn sample(metrics: &Metrics, series: &str) -> String {
    let text = metrics.encode();
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_creates_every_series_of_the_backend_at_zero() {
        let registry = Metrics::new();
        let m = LauncherMetrics::register(&registry);
        m.initialize(BackendKind::Local);
        let text = registry.encode();
        for line in [
            "execenv_launcher_launches_total{kind=\"build\",backend=\"local\",outcome=\"succeeded\"} 0",
            "execenv_launcher_launches_total{kind=\"run\",backend=\"local\",outcome=\"cancelled\"} 0",
            "execenv_launcher_job_created_seconds_count{kind=\"run\",backend=\"local\"} 0",
            "execenv_launcher_running_seconds_count{kind=\"build\",backend=\"local\"} 0",
            "execenv_launcher_finished_seconds_count{kind=\"run\",backend=\"local\"} 0",
            "execenv_launcher_phase_seconds_count{kind=\"build\",backend=\"local\",phase=\"run\"} 0",
            "execenv_launcher_active_launches{backend=\"local\"} 0",
            "execenv_launcher_launch_requests_total{outcome=\"no_environment\"} 0",
            "execenv_launcher_launches_total{kind=\"interactive\",backend=\"local\",outcome=\"failed\"} 0",
            "execenv_launcher_launches_total{kind=\"interactive\",backend=\"local\",outcome=\"cancelled\"} 0",
            "execenv_launcher_running_seconds_count{kind=\"interactive\",backend=\"local\"} 0",
            "execenv_launcher_phase_seconds_count{kind=\"interactive\",backend=\"local\",phase=\"run\"} 0",
            "execenv_launcher_interactive_ready{backend=\"local\"} 0",
            "execenv_launcher_interactive_restarts_total{backend=\"local\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(
            !text.contains("kind=\"interactive\",backend=\"local\",outcome=\"succeeded\""),
            "an interactive launch never succeeds: {text}"
        );
        assert!(
            !text.contains("kubernetes\""),
            "only the backend's series: {text}"
        );
        assert!(
            !text.contains("phase=\"scheduling\""),
            "local launches have no scheduling phase: {text}"
        );
    }

    #[test]
    fn initialize_creates_every_phase_of_kubernetes_launches_at_zero() {
        let registry = Metrics::new();
        let m = LauncherMetrics::register(&registry);
        m.initialize(BackendKind::Kubernetes);
        let text = registry.encode();
        for kind in ["build", "run", "interactive"] {
            for phase in ["scheduling", "sandbox", "init", "runner_start", "run"] {
                let line = format!(
                    "execenv_launcher_phase_seconds_count{{kind=\"{kind}\",backend=\"kubernetes\",phase=\"{phase}\"}} 0"
                );
                assert!(text.contains(&line), "{line} missing from\n{text}");
            }
        }
    }

    #[test]
    fn metrics_are_exposed_under_their_documented_names() {
        let registry = Metrics::new();
        let m = LauncherMetrics::register(&registry);
        m.finished(
            LaunchKind::Build,
            BackendKind::Kubernetes,
            State::Succeeded,
            Some(Duration::from_secs(3)),
        );
        m.job_created(
            LaunchKind::Run,
            BackendKind::Local,
            Duration::from_millis(4),
        );
        m.running(
            LaunchKind::Run,
            BackendKind::Local,
            Duration::from_millis(40),
        );
        m.phase(
            LaunchKind::Run,
            BackendKind::Kubernetes,
            Phase::RunnerStart,
            Duration::from_secs(2),
        );
        m.active_changed(BackendKind::Local, 2);
        m.active_changed(BackendKind::Local, -1);
        m.ready_changed(BackendKind::Kubernetes, 1);
        m.restarted(BackendKind::Kubernetes, 2);
        m.request("created");
        m.launch_call(Duration::from_millis(2));
        m.kubernetes_create(Duration::from_millis(1));
        let text = registry.encode();
        for line in [
            "execenv_launcher_launches_total{kind=\"build\",backend=\"kubernetes\",outcome=\"succeeded\"} 1",
            "execenv_launcher_finished_seconds_count{kind=\"build\",backend=\"kubernetes\"} 1",
            "execenv_launcher_job_created_seconds_count{kind=\"run\",backend=\"local\"} 1",
            "execenv_launcher_running_seconds_count{kind=\"run\",backend=\"local\"} 1",
            "execenv_launcher_phase_seconds_count{kind=\"run\",backend=\"kubernetes\",phase=\"runner_start\"} 1",
            "execenv_launcher_phase_seconds_sum{kind=\"run\",backend=\"kubernetes\",phase=\"runner_start\"} 2.0",
            "execenv_launcher_active_launches{backend=\"local\"} 1",
            "execenv_launcher_launch_requests_total{outcome=\"created\"} 1",
            "execenv_launcher_launch_call_seconds_count 1",
            "execenv_launcher_kubernetes_create_seconds_count 1",
            "execenv_launcher_interactive_ready{backend=\"kubernetes\"} 1",
            "execenv_launcher_interactive_restarts_total{backend=\"kubernetes\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
