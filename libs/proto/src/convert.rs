//! Translation between wire messages and execenv-core types. Wire → core produces *drafts*
//! (unvalidated input) or, for stored objects, parses ids and times; core → wire is total.

use chrono::{DateTime, Utc};
use execenv_core::validate::{EnvironmentDraft, VolumeMountDraft};
use execenv_core::{
    Change, Environment, EnvironmentSpec, Error, Installation, ManagedBy, Matching, Permission,
    Principal, VolumeMount, VolumeSource,
};
use uuid::Uuid;

use crate::environments::v1 as pb;
use crate::registry::v1 as reg;

mod accounts;
pub mod connect;
pub mod examine;

/// A core timestamp as a protobuf one.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf timestamp as a core one (`None` when out of range).
pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

fn installations(list: &[Installation]) -> Option<pb::Installations> {
    Some(pb::Installations {
        installations: list
            .iter()
            .map(|i| pb::Installation {
                version: i.version.clone(),
                path: i.path.clone(),
            })
            .collect(),
    })
}

fn from_installations(list: Option<pb::Installations>) -> Vec<Installation> {
    list.map(|l| {
        let mut installations: Vec<Installation> = l
            .installations
            .into_iter()
            .map(|i| Installation {
                version: i.version,
                path: i.path,
            })
            .collect();
        // The decoder grew the list one push at a time (room for 4 from the first), and the
        // collect above reuses that allocation: without this, an environment with one Python
        // and one R installation holds 288 bytes it never uses — 29 MB in a selector holding
        // 100,000 (heaptrack).
        installations.shrink_to_fit();
        installations
    })
    .unwrap_or_default()
}

fn volume_source(source: &VolumeSource) -> pb::volume_mount::Source {
    match source {
        VolumeSource::Nfs { host, export_path } => pb::volume_mount::Source::Nfs(pb::NfsSource {
            host: host.clone(),
            export_path: export_path.clone(),
        }),
        VolumeSource::Pvc { claim_name } => pb::volume_mount::Source::Pvc(pb::PvcSource {
            claim_name: claim_name.clone(),
        }),
    }
}

impl From<&VolumeMount> for pb::VolumeMount {
    fn from(m: &VolumeMount) -> Self {
        pb::VolumeMount {
            source: Some(volume_source(&m.source)),
            target_path: m.target_path.clone(),
            read_only: m.read_only,
        }
    }
}

impl From<pb::VolumeMount> for VolumeMountDraft {
    fn from(m: pb::VolumeMount) -> Self {
        VolumeMountDraft {
            source: m.source.map(|s| match s {
                pb::volume_mount::Source::Nfs(n) => VolumeSource::Nfs {
                    host: n.host,
                    export_path: n.export_path,
                },
                pb::volume_mount::Source::Pvc(p) => VolumeSource::Pvc {
                    claim_name: p.claim_name,
                },
            }),
            target_path: m.target_path,
            read_only: m.read_only,
        }
    }
}

impl From<&VolumeMountDraft> for pb::VolumeMount {
    fn from(m: &VolumeMountDraft) -> Self {
        pb::VolumeMount {
            source: m.source.as_ref().map(volume_source),
            target_path: m.target_path.clone(),
            read_only: m.read_only,
        }
    }
}

impl From<pb::EnvironmentSpec> for EnvironmentDraft {
    fn from(s: pb::EnvironmentSpec) -> Self {
        EnvironmentDraft {
            guid: Some(s.guid).filter(|g| !g.is_empty()),
            name: Some(s.name).filter(|n| !n.is_empty()),
            title: s.title,
            description: s.description,
            cluster_name: s.cluster_name,
            matching: s.matching,
            supervisor: s.supervisor,
            python: from_installations(s.python),
            r: from_installations(s.r),
            quarto: from_installations(s.quarto),
            tensorflow: from_installations(s.tensorflow),
            volume_mounts: s.volume_mounts.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<&EnvironmentDraft> for pb::EnvironmentSpec {
    fn from(d: &EnvironmentDraft) -> Self {
        pb::EnvironmentSpec {
            guid: d.guid.clone().unwrap_or_default(),
            name: d.name.clone().unwrap_or_default(),
            title: d.title.clone(),
            description: d.description.clone(),
            cluster_name: d.cluster_name.clone(),
            matching: d.matching.clone(),
            supervisor: d.supervisor.clone(),
            python: installations(&d.python),
            r: installations(&d.r),
            quarto: installations(&d.quarto),
            tensorflow: installations(&d.tensorflow),
            volume_mounts: d.volume_mounts.iter().map(Into::into).collect(),
        }
    }
}

impl From<&Permission> for pb::Permission {
    fn from(p: &Permission) -> Self {
        let (user_guid, group_guid) = match &p.principal {
            Principal::User(u) => (Some(u.clone()), None),
            Principal::Group(g) => (None, Some(g.clone())),
        };
        pb::Permission {
            guid: p.guid.to_string(),
            environment_guid: p.environment_guid.to_string(),
            user_guid,
            group_guid,
            revision: 0,
        }
    }
}

impl TryFrom<pb::Permission> for Permission {
    type Error = Error;
    fn try_from(p: pb::Permission) -> Result<Self, Error> {
        let principal = match (p.user_guid, p.group_guid) {
            (Some(u), None) => Principal::User(u),
            (None, Some(g)) => Principal::Group(g),
            _ => {
                return Err(Error::internal(format!(
                    "permission {} names neither exactly one user nor one group",
                    p.guid
                )));
            }
        };
        Ok(Permission {
            guid: wire_uuid("permission guid", &p.guid)?,
            environment_guid: wire_uuid("environment guid", &p.environment_guid)?,
            principal,
        })
    }
}

impl From<&Environment> for pb::Environment {
    fn from(e: &Environment) -> Self {
        let s = &e.spec;
        pb::Environment {
            id: e.id.to_string(),
            guid: e.guid.to_string(),
            name: s.name.clone(),
            title: s.title.clone(),
            description: s.description.clone(),
            cluster_name: s.cluster_name.clone(),
            environment_type: e.environment_type.clone(),
            matching: s.matching.as_str().to_owned(),
            supervisor: s.supervisor.clone(),
            python: installations(&s.python),
            r: installations(&s.r),
            quarto: installations(&s.quarto),
            tensorflow: installations(&s.tensorflow),
            volume_mounts: s.volume_mounts.iter().map(Into::into).collect(),
            managed_by: e.managed_by.map(|m| m.as_str().to_owned()),
            permissions: e.permissions.iter().map(Into::into).collect(),
            created_time: Some(timestamp(e.created_time)),
            updated_time: Some(timestamp(e.updated_time)),
            revision: e.revision,
        }
    }
}

/// Parses a stored environment received from the registry (trusted input: a malformed value is
/// an Internal error, not a validation failure).
impl TryFrom<pb::Environment> for Environment {
    type Error = Error;
    fn try_from(e: pb::Environment) -> Result<Self, Error> {
        let bad = |what: &str| {
            Error::internal(format!(
                "environment {} from the registry has an invalid {what}",
                e.guid
            ))
        };
        let matching = Matching::parse(&e.matching).ok_or_else(|| bad("matching"))?;
        let managed_by = match e.managed_by.as_deref() {
            None | Some("") => None,
            Some(m) => Some(ManagedBy::parse(m).ok_or_else(|| bad("managed_by"))?),
        };
        let time = |t: &Option<prost_types::Timestamp>| t.as_ref().and_then(from_timestamp);
        let created_time = time(&e.created_time).ok_or_else(|| bad("created_time"))?;
        let updated_time = time(&e.updated_time).ok_or_else(|| bad("updated_time"))?;
        let mut volume_mounts = Vec::with_capacity(e.volume_mounts.len());
        for m in e.volume_mounts {
            let d = VolumeMountDraft::from(m);
            volume_mounts.push(VolumeMount {
                source: d.source.ok_or_else(|| bad("volume mount"))?,
                target_path: d.target_path,
                read_only: d.read_only,
            });
        }
        let permissions = e
            .permissions
            .into_iter()
            .map(Permission::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Environment {
            id: e.id.parse().map_err(|_| bad("id"))?,
            guid: wire_uuid("environment guid", &e.guid)?,
            spec: EnvironmentSpec {
                name: e.name,
                title: e.title,
                description: e.description,
                cluster_name: e.cluster_name,
                matching,
                supervisor: e.supervisor,
                python: from_installations(e.python),
                r: from_installations(e.r),
                quarto: from_installations(e.quarto),
                tensorflow: from_installations(e.tensorflow),
                volume_mounts,
            },
            environment_type: e.environment_type,
            managed_by,
            permissions,
            created_time,
            updated_time,
            revision: e.revision,
        })
    }
}

impl From<&Change> for reg::Change {
    fn from(c: &Change) -> Self {
        let json = |e: &Option<Environment>| {
            e.as_ref()
                .and_then(|e| serde_json::to_string(e).ok())
                .unwrap_or_default()
        };
        reg::Change {
            revision: c.revision,
            time: Some(timestamp(c.time)),
            actor: c.actor.clone(),
            source: c.source.as_str().to_owned(),
            action: c.action.as_str().to_owned(),
            environment_guid: c.environment_guid.to_string(),
            before_json: json(&c.before),
            after_json: json(&c.after),
        }
    }
}

fn wire_uuid(what: &str, s: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(s)
        .map_err(|_| Error::internal(format!("{what} {s:?} from the registry is not a UUID")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Environment {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        Environment {
            id: 7,
            guid: Uuid::new_v4(),
            spec: EnvironmentSpec {
                name: "ghcr.io/acme/py:3.11".into(),
                title: Some("Py".into()),
                description: None,
                cluster_name: "Kubernetes".into(),
                matching: Matching::Exact,
                supervisor: Some("/opt/sup.sh".into()),
                python: vec![Installation {
                    version: "3.11.9".into(),
                    path: "/opt/py/bin/python3".into(),
                }],
                r: vec![],
                quarto: vec![],
                tensorflow: vec![],
                volume_mounts: vec![VolumeMount {
                    source: VolumeSource::Nfs {
                        host: "nfs.local".into(),
                        export_path: "/exports/data".into(),
                    },
                    target_path: "/data".into(),
                    read_only: true,
                }],
            },
            environment_type: "Kubernetes".into(),
            managed_by: Some(ManagedBy::ConfigFile),
            permissions: vec![],
            created_time: t,
            updated_time: t,
            revision: 3,
        }
    }

    #[test]
    fn environment_round_trips_through_the_wire() {
        let e = sample();
        let wire = pb::Environment::from(&e);
        assert_eq!(Environment::try_from(wire).unwrap(), e);
    }

    /// Decoded as the selector receives it (from bytes, one push at a time), an environment's
    /// installations hold no room beyond what they list.
    #[test]
    fn decoded_installations_hold_no_spare_room() {
        use prost::Message;
        let bytes = pb::Environment::from(&sample()).encode_to_vec();
        let decoded = pb::Environment::decode(bytes.as_slice()).unwrap();
        let e = Environment::try_from(decoded).unwrap();
        assert_eq!((e.spec.python.len(), e.spec.python.capacity()), (1, 1));
    }

    #[test]
    fn spec_draft_round_trips_through_the_wire() {
        let d = EnvironmentDraft {
            name: Some("img".into()),
            matching: Some("bogus".into()),
            volume_mounts: vec![VolumeMountDraft {
                source: None,
                target_path: "rel".into(),
                read_only: false,
            }],
            ..Default::default()
        };
        assert_eq!(EnvironmentDraft::from(pb::EnvironmentSpec::from(&d)), d);
    }
}
