//! What every handler shares: the clients of the services the gateway calls, the authenticator,
//! the host name it reports, the request metrics and the bundle store. Handlers read it through axum's `State`.

use crate::access::HttpMetrics;
use crate::auth::Gate;
use crate::bundles::BundleStore;
use crate::config_sync::ConfigSync;
use crate::console::Console;
use crate::events::Events;
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
        AppState {
            gate,
            config_sync,
            events,
            console: Console::embedded(),
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
