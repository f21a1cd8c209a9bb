//! The declarative file's side of the registry: `ApplyManagedSet` (plan with execenv-core, apply
//! in one transaction, plan again when an API write lands in between) and the legacy bootstrap.

use std::sync::Arc;

use execenv_core::sync;
use execenv_core::validate::EnvironmentDraft;
use execenv_core::{
    Actor, Caller, ChangeSource, EnvironmentSpec, Error, ErrorKind, FieldViolation,
};
use execenv_proto::apply::{ReceivedApplyRequest, decode_definition};
use execenv_proto::registry::v1 as reg;
use prost::bytes::Bytes;
use uuid::Uuid;

use super::RegistryService;

/// `count` random (version-4) guids for the environments a sync creates, handed out in ascending
/// order (then fresh ones, should more be asked for). A catalogue's guid indexes (the
/// environments' and the change log's) are B-trees: keys that arrive in order are appended to
/// their last page, while random ones each land on a page of their own that must be read and
/// written again. Measured with SQLite, 100,000 creates took 0.4 s less.
fn ascending_guids(count: usize) -> impl FnMut() -> Uuid {
    let mut guids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    // Descending, so that popping from the end gives them in ascending order.
    guids.sort_unstable_by(|a, b| b.cmp(a));
    move || guids.pop().unwrap_or_else(Uuid::new_v4)
}

/// How often a sync is planned again when API writes keep landing between plan and commit.
const SYNC_ATTEMPTS: usize = 5;

impl RegistryService {
    pub(super) async fn apply_set(
        &self,
        caller: &Caller,
        req: ReceivedApplyRequest,
    ) -> Result<reg::ApplyManagedSetResponse, Error> {
        caller.require_admin("applying the declarative environments file")?;
        let ReceivedApplyRequest { definitions, rest } = req;
        let prefix = prefix_or(&rest.field_prefix, "definitions");
        let fence = rest.fence.map(fence).transpose()?;
        let started = std::time::Instant::now();
        let definitions = decoded_and_validated(definitions, prefix)?;
        let checked = started.elapsed();
        let backend = self.backend()?;
        let actor = sync_actor(caller, ChangeSource::ConfigFile);
        for attempt in 1..=SYNC_ATTEMPTS {
            let planning = std::time::Instant::now();
            let snapshot = backend.store.snapshot().await?;
            let fresh = ascending_guids(definitions.iter().filter(|d| d.guid.is_none()).count());
            let plan = sync::plan_sync(&definitions, &snapshot.environments, prefix, fresh)?;
            let planned_in = planning.elapsed();
            // The plan holds what it writes: the catalogue it was made from is not needed while
            // it is applied.
            let base_revision = snapshot.revision;
            drop(snapshot);
            // A no-op still records (and checks) its fence.
            if rest.dry_run || (plan.is_noop() && fence.is_none()) {
                drop(definitions);
                let mut response = plan_response(plan, rest.dry_run);
                response.revision = base_revision;
                return Ok(response);
            }
            let writing = std::time::Instant::now();
            match backend
                .store
                .apply_sync(&plan, base_revision, &actor, fence.as_ref())
                .await
            {
                Ok(revision) => {
                    backend.feed.committed();
                    // Where the time went: checking the definitions, reading the catalogue
                    // and planning (the last attempt's), writing and committing.
                    tracing::info!(
                        created = plan.creates.len(),
                        adopted = plan.adopts.len(),
                        updated = plan.updates.len(),
                        deleted = plan.deletes.len(),
                        unchanged = plan.unchanged.len(),
                        revision,
                        checked_ms = checked.as_millis() as u64,
                        planned_ms = planned_in.as_millis() as u64,
                        written_ms = writing.elapsed().as_millis() as u64,
                        "applied the declarative environments"
                    );
                    // Made once the plan is applied, from the plan alone.
                    drop(definitions);
                    let mut response = plan_response(plan, false);
                    response.revision = revision;
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
        let drafts = req.definitions.into_iter().map(EnvironmentDraft::from);
        let definitions = sync::validate_definitions(drafts, prefix)?;
        let mut fresh = ascending_guids(definitions.iter().filter(|d| d.guid.is_none()).count());
        let environments: Vec<_> = definitions
            .into_iter()
            .map(|d| {
                let guid = d.guid.unwrap_or_else(&mut fresh);
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

/// The definitions of a request, decoded and validated one at a time. They are first copied
/// out of the received message, which then goes back at once; each copy goes as its definition
/// is decoded, converted and checked, so the request is never held as messages, drafts and
/// definitions at once. A definition that cannot be decoded is reported at its place.
fn decoded_and_validated(
    definitions: Vec<Bytes>,
    prefix: &str,
) -> Result<Vec<sync::Definition>, Error> {
    let definitions: Vec<Bytes> = definitions
        .into_iter()
        .map(|d| Bytes::copy_from_slice(&d))
        .collect();
    let mut undecodable = Vec::new();
    let drafts =
        definitions
            .into_iter()
            .enumerate()
            .filter_map(|(i, bytes)| match decode_definition(bytes) {
                Ok(spec) => Some(EnvironmentDraft::from(spec)),
                Err(e) => {
                    let field = format!("{prefix}[{i}]");
                    let message = format!("{field} is not an EnvironmentSpec message: {e}");
                    undecodable.push(FieldViolation::new(field, message));
                    None
                }
            });
    let validated = sync::validate_definitions(drafts, prefix);
    if !undecodable.is_empty() {
        return Err(Error::invalid(undecodable));
    }
    validated
}

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

/// The wire form of a plan, taken apart as it is written: each entry goes as its line is made,
/// its image name moved out of its spec when nothing else holds the spec. Given the plan once
/// the request's definitions are dropped, the specs go back while the answer grows (at 100,000
/// creates, 13 MB) instead of both being held at once (heaptrack).
fn plan_response(plan: sync::SyncPlan, dry_run: bool) -> reg::ApplyManagedSetResponse {
    fn name(spec: Arc<EnvironmentSpec>) -> String {
        Arc::try_unwrap(spec).map_or_else(|shared| shared.name.clone(), |spec| spec.name)
    }
    fn line(guid: &Uuid, name: String, changed_fields: Vec<String>) -> reg::PlannedChange {
        reg::PlannedChange {
            guid: guid.to_string(),
            name,
            changed_fields,
        }
    }
    let sync::SyncPlan {
        creates,
        adopts,
        updates,
        deletes,
        unchanged,
    } = plan;
    reg::ApplyManagedSetResponse {
        created: (creates.into_iter())
            .map(|c| line(&c.guid, name(c.spec), Vec::new()))
            .collect(),
        adopted: (adopts.into_iter())
            .map(|a| line(&a.guid, name(a.spec), a.changed_fields))
            .collect(),
        updated: (updates.into_iter())
            .map(|u| line(&u.guid, name(u.spec), u.changed_fields))
            .collect(),
        deleted: (deletes.into_iter())
            .map(|d| line(&d.guid, d.name, Vec::new()))
            .collect(),
        unchanged: unchanged.iter().map(ToString::to_string).collect(),
        revision: 0,
        dry_run,
    }
}
