//! The declarative file's side of the registry: `ApplyManagedSet` (plan with execenv-core, apply
//! in one transaction, plan again when an API write lands in between) and the legacy bootstrap.

use execenv_core::sync;
use execenv_core::validate::EnvironmentDraft;
use execenv_core::{Actor, Caller, ChangeSource, Error, ErrorKind, FieldViolation};
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use uuid::Uuid;

use super::RegistryService;

/// How often a sync is planned again when API writes keep landing between plan and commit.
const SYNC_ATTEMPTS: usize = 5;

impl RegistryService {
    pub(super) async fn apply_set(
        &self,
        caller: &Caller,
        req: reg::ApplyManagedSetRequest,
    ) -> Result<reg::ApplyManagedSetResponse, Error> {
        caller.require_admin("applying the declarative environments file")?;
        let prefix = prefix_or(&req.field_prefix, "definitions");
        let fence = req.fence.map(fence).transpose()?;
        let definitions = validated(req.definitions, prefix)?;
        let backend = self.backend()?;
        let actor = sync_actor(caller, ChangeSource::ConfigFile);
        for attempt in 1..=SYNC_ATTEMPTS {
            let snapshot = backend.store.snapshot().await?;
            let plan = sync::plan_sync(&definitions, &snapshot.environments, prefix, Uuid::new_v4)?;
            // The plan holds what it writes: the catalogue it was made from is not needed while
            // it is applied.
            let base_revision = snapshot.revision;
            drop(snapshot);
            let mut response = plan_response(&plan, req.dry_run);
            response.revision = base_revision;
            // A no-op still records (and checks) its fence.
            if req.dry_run || (plan.is_noop() && fence.is_none()) {
                return Ok(response);
            }
            match backend
                .store
                .apply_sync(&plan, base_revision, &actor, fence.as_ref())
                .await
            {
                Ok(revision) => {
                    backend.feed.committed();
                    response.revision = revision;
                    tracing::info!(
                        created = plan.creates.len(),
                        adopted = plan.adopts.len(),
                        updated = plan.updates.len(),
                        deleted = plan.deletes.len(),
                        unchanged = plan.unchanged.len(),
                        revision,
                        "applied the declarative environments"
                    );
                    return Ok(response);
                }
                // An API write landed between our snapshot and our commit: plan again on the
                // new state rather than overwrite it.
                Err(e) if e.kind == ErrorKind::Conflict && attempt < SYNC_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "catalogue changed while planning; planning again");
                }
                Err(e) if e.kind == ErrorKind::FailedPrecondition && fence.is_some() => {
                    self.fenced.inc();
                    tracing::warn!(error = %e, "refused a sync from a deposed config-sync leader");
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            "the catalogue kept changing while the sync was planned; retry",
        ))
    }

    pub(super) async fn bootstrap_catalogue(
        &self,
        caller: &Caller,
        req: reg::BootstrapRequest,
    ) -> Result<reg::BootstrapResponse, Error> {
        caller.require_admin("bootstrapping the catalogue")?;
        let prefix = prefix_or(&req.field_prefix, "images");
        let definitions = validated(req.definitions, prefix)?;
        let environments: Vec<_> = definitions
            .into_iter()
            .map(|d| {
                let guid = d.guid.unwrap_or_else(Uuid::new_v4);
                (guid, std::sync::Arc::unwrap_or_clone(d.spec))
            })
            .collect();
        let backend = self.backend()?;
        let actor = sync_actor(caller, ChangeSource::Bootstrap);
        let Some(created) = backend.store.bootstrap(&environments, &actor).await? else {
            return Ok(reg::BootstrapResponse {
                applied: false,
                created: Vec::new(),
            });
        };
        backend.feed.committed();
        tracing::info!(
            created = created.len(),
            "bootstrapped the empty catalogue from the legacy runtime file"
        );
        Ok(reg::BootstrapResponse {
            applied: true,
            created: created
                .iter()
                .map(|e| planned(&e.guid, &e.spec.name, &[]))
                .collect(),
        })
    }
}

/// A request's fence, checked: a Lease and a holder, and a term that is not negative.
fn fence(f: reg::SyncFence) -> Result<sync::SyncFence, Error> {
    let mut problems = Vec::new();
    if f.lease.trim().is_empty() {
        problems.push(("fence.lease", "is empty; name the Lease (namespace/name)"));
    }
    if f.holder.trim().is_empty() {
        problems.push((
            "fence.holder",
            "is empty; name the replica holding the Lease",
        ));
    }
    if f.term < 0 {
        problems.push((
            "fence.term",
            "is negative; it is the Lease's leaseTransitions",
        ));
    }
    if !problems.is_empty() {
        return Err(Error::invalid(
            problems
                .into_iter()
                .map(|(field, problem)| FieldViolation::new(field, format!("{field} {problem}")))
                .collect(),
        ));
    }
    Ok(sync::SyncFence {
        lease: f.lease,
        holder: f.holder,
        term: f.term,
    })
}

/// The definitions of a request, validated; each entry of the request is converted, checked
/// and dropped in turn, so a large file is never held as messages, drafts and definitions at
/// once. The request's own list (at 100,000 environments a single 37.8 MB allocation, heaptrack)
/// is taken from its end after being reversed, and shrunk each time it is half empty, so its
/// memory goes back while the definitions grow instead of after they are all made.
fn validated(
    mut definitions: Vec<pb::EnvironmentSpec>,
    prefix: &str,
) -> Result<Vec<sync::Definition>, Error> {
    definitions.reverse();
    let in_order = std::iter::from_fn(move || {
        let next = definitions.pop()?;
        if definitions.capacity() > 2 * definitions.len() + SHRINK_SLACK {
            definitions.shrink_to_fit();
        }
        Some(EnvironmentDraft::from(next))
    });
    sync::validate_definitions(in_order, prefix)
}

/// How many unused places a request's list may keep before it is shrunk: small lists are left
/// alone.
const SHRINK_SLACK: usize = 1024;

/// Changes made for the file are recorded as config-sync's (or the calling user's).
fn sync_actor(caller: &Caller, source: ChangeSource) -> Actor {
    Actor {
        name: caller
            .user
            .clone()
            .unwrap_or_else(|| "config-sync".to_owned()),
        source,
    }
}

fn prefix_or<'a>(given: &'a str, default: &'a str) -> &'a str {
    if given.is_empty() { default } else { given }
}

fn planned(guid: &Uuid, name: &str, fields: &[String]) -> reg::PlannedChange {
    reg::PlannedChange {
        guid: guid.to_string(),
        name: name.to_owned(),
        changed_fields: fields.to_vec(),
    }
}

/// The wire form of a plan.
fn plan_response(plan: &sync::SyncPlan, dry_run: bool) -> reg::ApplyManagedSetResponse {
    reg::ApplyManagedSetResponse {
        created: plan
            .creates
            .iter()
            .map(|c| planned(&c.guid, &c.spec.name, &[]))
            .collect(),
        adopted: plan
            .adopts
            .iter()
            .map(|a| planned(&a.guid, &a.spec.name, &a.changed_fields))
            .collect(),
        updated: plan
            .updates
            .iter()
            .map(|u| planned(&u.guid, &u.spec.name, &u.changed_fields))
            .collect(),
        deleted: plan
            .deletes
            .iter()
            .map(|d| planned(&d.guid, &d.name, &[]))
            .collect(),
        unchanged: plan.unchanged.iter().map(ToString::to_string).collect(),
        revision: 0,
        dry_run,
    }
}
