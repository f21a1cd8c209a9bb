//! One active config-sync among several replicas: a leader elected with a Kubernetes Lease
//! (`election.lease`; kube-lease-manager renews it and notices when it is lost). The leader syncs
//! with a fence — the Lease, its identity and the Lease's transition count when it took it — that
//! the registry checks in the sync's own transaction, so a leader that was paused past its lease
//! (and does not know yet that it lost it) cannot apply after its successor. Standbys watch the
//! file and stay ready, but apply nothing. Without `election.lease` (one instance, `make run`)
//! there is no election and syncs carry no fence.

use std::time::Duration;

use execenv_core::sync::SyncFence;
use execenv_kit::StartError;
use execenv_kit::settings::Setting;
use execenv_kit::shutdown::Shutdown;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::LeaseManagerBuilder;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The `election` section (`EXECENV_ELECTION__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElectionConfig {
    /// The Lease the replicas compete for; empty: no election.
    pub lease: String,
    /// Its namespace; empty: the pod's own (its service account's), else `default`.
    pub namespace: String,
    /// This replica's identity in the Lease; empty: `HOSTNAME` (the pod's name).
    pub identity: String,
    /// How long the Lease holds without a renewal, in seconds: a lost leader is replaced within
    /// about this long.
    pub lease_duration_s: u64,
    /// How long before the Lease would expire the leader renews it, in seconds.
    pub renew_grace_s: u64,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        ElectionConfig {
            lease: String::new(),
            namespace: String::new(),
            identity: String::new(),
            lease_duration_s: 15,
            renew_grace_s: 5,
        }
    }
}

/// The settings of the `election` section.
pub fn settings() -> Vec<Setting> {
    vec![
        Setting {
            key: "election.lease",
            meaning: "the coordination.k8s.io Lease config-sync replicas elect their leader with: only the leader applies the file, with a fence the registry checks (a deposed leader's sync is refused). Empty: no election (one instance)",
        },
        Setting {
            key: "election.namespace",
            meaning: "the Lease's namespace; empty: the pod's own namespace (from its service account), else default",
        },
        Setting {
            key: "election.identity",
            meaning: "this replica's name in the Lease; empty: HOSTNAME (the pod's name)",
        },
        Setting {
            key: "election.lease_duration_s",
            meaning: "seconds the Lease holds without a renewal: a lost leader is replaced within about this long",
        },
        Setting {
            key: "election.renew_grace_s",
            meaning: "seconds before the Lease would expire that the leader renews it (less than election.lease_duration_s)",
        },
    ]
}

/// Where a pod's namespace is written.
const POD_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

impl ElectionConfig {
    /// Whether replicas elect a leader.
    pub fn enabled(&self) -> bool {
        !self.lease.trim().is_empty()
    }

    fn namespace(&self) -> String {
        if !self.namespace.trim().is_empty() {
            return self.namespace.trim().to_owned();
        }
        std::fs::read_to_string(POD_NAMESPACE_FILE)
            .ok()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    }

    fn identity(&self) -> Result<String, StartError> {
        if !self.identity.trim().is_empty() {
            return Ok(self.identity.trim().to_owned());
        }
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| {
                StartError::Config(
                    "election.lease is set but this replica has no name: set election.identity \
                     (EXECENV_ELECTION__IDENTITY) or HOSTNAME"
                        .to_owned(),
                )
            })
    }

    fn check(&self) -> Result<(), StartError> {
        if self.lease_duration_s == 0 || self.renew_grace_s >= self.lease_duration_s {
            return Err(StartError::Config(format!(
                "election.renew_grace_s ({}) must be less than election.lease_duration_s ({}), which must be above 0",
                self.renew_grace_s, self.lease_duration_s
            )));
        }
        Ok(())
    }
}

/// Who applies the file now: `Some(fence)` while this replica leads, `None` while it stands by.
pub type Leadership = watch::Receiver<Option<SyncFence>>;

/// Joins the election of `config` (none when it is off): the leadership, updated whenever this
/// replica takes or loses the Lease, and the task that ends once the Lease is released on
/// shutdown (so a successor takes over at once).
pub async fn join(
    config: &ElectionConfig,
    shutdown: &Shutdown,
) -> Result<Option<(Leadership, tokio::task::JoinHandle<()>)>, StartError> {
    if !config.enabled() {
        return Ok(None);
    }
    config.check()?;
    let (name, namespace, identity) = (
        config.lease.trim().to_owned(),
        config.namespace(),
        config.identity()?,
    );
    let client = kube::Client::try_default().await.map_err(|e| {
        StartError::Config(format!(
            "election.lease is set, but the Kubernetes API cannot be reached (in a pod: its service account; elsewhere: KUBECONFIG): {e}"
        ))
    })?;
    let manager = LeaseManagerBuilder::new(client.clone(), &name)
        .with_namespace(&namespace)
        .with_identity(&identity)
        .with_duration(config.lease_duration_s)
        .with_grace(config.renew_grace_s)
        .build()
        .await
        .map_err(|e| {
            StartError::Config(format!(
                "cannot use the Lease {namespace}/{name} (its Role must allow get, create and patch on leases): {e}"
            ))
        })?;
    let (mut held, manager_task) = manager.watch().await;
    let (tx, rx) = watch::channel(None);
    let leases: Api<Lease> = Api::namespaced(client, &namespace);
    let lease_name = format!("{namespace}/{name}");
    tracing::info!(lease = %lease_name, %identity, "joined the election; standing by until this replica holds the lease");
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let mut announced = false;
        loop {
            let leading = *held.borrow_and_update();
            // Without a readable term, nothing is applied until the next renewal reads it.
            let fence = if leading {
                term(&leases, &name, &identity).await.map(|term| SyncFence {
                    lease: lease_name.clone(),
                    holder: identity.clone(),
                    term,
                })
            } else {
                None
            };
            // The manager reports every renewal; only a change of leader or term is news.
            if *tx.borrow() != fence || !announced {
                match &fence {
                    Some(f) => {
                        tracing::info!(lease = %lease_name, %identity, term = f.term, "this replica leads: it applies the file")
                    }
                    None if leading => {
                        tracing::warn!(lease = %lease_name, %identity, "holding the lease but cannot read its term; applying nothing until it can (retried at the next renewal)")
                    }
                    None => {
                        tracing::info!(lease = %lease_name, %identity, "this replica stands by: another holds the lease")
                    }
                }
                announced = true;
                tx.send_replace(fence);
            }
            tokio::select! {
                () = stop.wait() => break,
                changed = held.changed() => if changed.is_err() { break },
            }
        }
        // Dropping the receiver makes the manager release the Lease.
        drop(held);
        tx.send_replace(None);
        match tokio::time::timeout(Duration::from_secs(5), manager_task).await {
            Ok(Ok(Ok(_))) => tracing::info!(lease = %lease_name, "released the lease"),
            Ok(Ok(Err(e))) => {
                tracing::warn!(lease = %lease_name, error = %e, "could not release the lease; it expires on its own")
            }
            _ => {
                tracing::warn!(lease = %lease_name, "the lease was not released in time; it expires on its own")
            }
        }
    });
    Ok(Some((rx, task)))
}

/// The Lease's transition count while `identity` holds it (None: it does not, or it cannot be
/// read).
async fn term(leases: &Api<Lease>, name: &str, identity: &str) -> Option<i64> {
    match leases.get(name).await {
        Ok(lease) => {
            let spec = lease.spec?;
            (spec.holder_identity.as_deref() == Some(identity))
                .then(|| i64::from(spec.lease_transitions.unwrap_or(0)))
        }
        Err(e) => {
            tracing::warn!(lease = name, error = %e, "cannot read the lease");
            None
        }
    }
}
