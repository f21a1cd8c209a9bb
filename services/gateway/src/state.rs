//! What every handler shares: the clients of the services the gateway calls (the image examiner
//! among them, when configured), the authenticator,
//! the host name it reports, the request metrics, the bundle store, the content records and the
//! instances of interactive content. Handlers read it through axum's `State`.

use crate::access::HttpMetrics;
use crate::auth::Gate;
use crate::bundles::BundleStore;
use crate::config::ContentConfig;
use crate::config_sync::ConfigSync;
use crate::console::Console;
use crate::content_metrics::ContentMetrics;
use crate::content_records::ContentRecords;
use crate::events::Events;
use crate::examiner::Examiner;
use crate::forwarding::Forwarder;
use crate::instances::{InstanceSettings, Instances};
use crate::limits::Limits;
use crate::registry::Registry;
use crate::upstream::Upstream;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    gate: Gate,
    registry: Registry,
    selector: Upstream,
    launcher: Upstream,
    hostname: String,
    metrics: HttpMetrics,
    bundles: BundleStore,
    config_sync: ConfigSync,
    events: Events,
    console: Console,
    records: ContentRecords,
    instances: Instances,
    forwarder: Forwarder,
    examiner: Examiner,
    limits: Limits,
}

impl AppState {
    /// The state of a gateway letting people in through `gate`, calling `registry`, `selector` and `launcher`, reporting
    /// `hostname`, counting requests in `metrics`, keeping uploaded bundles in `bundles`.
    pub fn new(
        gate: Gate,
        registry: Registry,
        (selector, launcher): (Upstream, Upstream),
        hostname: String,
        metrics: HttpMetrics,
        bundles: BundleStore,
    ) -> Self {
        let config_sync = ConfigSync::unconfigured();
        let events = Events::new(
            registry.clone(),
            config_sync.clone(),
            execenv_kit::shutdown::Shutdown::new(),
        );
        let records = ContentRecords::new(bundles.dir());
        let instances = Instances::new(
            (launcher.clone(), registry.clone()),
            (bundles.clone(), records.clone()),
            InstanceSettings::from(&ContentConfig::default()),
            ContentMetrics::unregistered(),
        );
        AppState {
            gate,
            config_sync,
            events,
            console: Console::embedded(),
            records,
            instances,
            forwarder: Forwarder::default(),
            examiner: Examiner::unconfigured(),
            limits: Limits::default(),
            registry,
            selector,
            launcher,
            hostname,
            metrics,
            bundles,
        }
    }

    /// The same state reporting `config_sync`'s status and serving the console's `events`.
    pub fn with_live(mut self, config_sync: ConfigSync, events: Events) -> Self {
        self.config_sync = config_sync;
        self.events = events;
        self
    }

    /// The same state serving interactive content with `settings`, counted in `metrics`.
    pub fn with_content(mut self, settings: InstanceSettings, metrics: ContentMetrics) -> Self {
        self.instances = Instances::new(
            (self.launcher.clone(), self.registry.clone()),
            (self.bundles.clone(), self.records.clone()),
            settings,
            metrics,
        );
        self
    }

    /// The same state asking `examiner` about images and environments' checks.
    pub fn with_examiner(mut self, examiner: Examiner) -> Self {
        self.examiner = examiner;
        self
    }

    /// The same state holding requests to `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What one request may ask.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The image examiner (or none: its routes answer 503).
    pub(crate) fn examiner(&self) -> &Examiner {
        &self.examiner
    }

    /// The instances of interactive content.
    pub fn instances(&self) -> &Instances {
        &self.instances
    }

    /// Owners and permission lists of content.
    pub(crate) fn records(&self) -> &ContentRecords {
        &self.records
    }

    /// The HTTP client content requests are forwarded with.
    pub(crate) fn forwarder(&self) -> &Forwarder {
        &self.forwarder
    }

    /// The same state serving `console` as the web console.
    pub fn with_console(mut self, console: Console) -> Self {
        self.console = console;
        self
    }

    /// The web console's files.
    pub(crate) fn console(&self) -> &Console {
        &self.console
    }

    /// config-sync, whose last sync `/sync` reports.
    pub(crate) fn config_sync(&self) -> &ConfigSync {
        &self.config_sync
    }

    /// The console's live updates.
    pub(crate) fn events(&self) -> &Events {
        &self.events
    }

    /// Turns API keys and session cookies into people.
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The registry client.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The selector client.
    pub(crate) fn selector(&self) -> &Upstream {
        &self.selector
    }

    /// The launcher client.
    pub(crate) fn launcher(&self) -> &Upstream {
        &self.launcher
    }

    /// The host name `/__api__/server_settings` reports.
    pub(crate) fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Uploaded bundles in the data folder.
    pub(crate) fn bundles(&self) -> &BundleStore {
        &self.bundles
    }

    /// The series every request is counted in.
    pub(crate) fn metrics(&self) -> &HttpMetrics {
        &self.metrics
    }
}
