//! The `ApplyManagedSet` request as config-sync sends it: each definition is encoded as the file
//! is read, so that a large file is never held as messages and as their encoding at once. Its
//! bytes are those prost writes for the same `ApplyManagedSetRequest`, so the registry reads an
//! ordinary request.

use std::fmt;

use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};

/// The field number of `ApplyManagedSetRequest.definitions`.
const DEFINITIONS: u32 = 1;

/// The `definitions` of a request, encoded one by one in file order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EncodedDefinitions {
    bytes: Vec<u8>,
    count: usize,
}

impl EncodedDefinitions {
    /// Appends the next definition.
    pub fn push(&mut self, spec: &pb::EnvironmentSpec) {
        prost::encoding::message::encode(DEFINITIONS, spec, &mut self.bytes);
        self.count += 1;
    }

    /// How many definitions.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl fmt::Debug for EncodedDefinitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} definitions ({} bytes encoded)",
            self.count,
            self.bytes.len()
        )
    }
}

/// An `ApplyManagedSetRequest` whose definitions are already encoded.
#[derive(Clone, Default, PartialEq)]
pub struct ApplyRequest {
    definitions: EncodedDefinitions,
    /// The other fields (its own `definitions` stays empty).
    rest: reg::ApplyManagedSetRequest,
}

impl ApplyRequest {
    /// A request to apply (or with `dry_run`, to plan) `definitions`, whose problems the
    /// registry reports under `field_prefix`.
    pub fn new(
        definitions: EncodedDefinitions,
        dry_run: bool,
        field_prefix: &str,
        fence: Option<reg::SyncFence>,
    ) -> Self {
        ApplyRequest {
            definitions,
            rest: reg::ApplyManagedSetRequest {
                definitions: Vec::new(),
                dry_run,
                field_prefix: field_prefix.to_owned(),
                fence,
            },
        }
    }

    /// How many definitions it carries.
    pub fn len(&self) -> usize {
        self.definitions.len()
    }

    /// True when it carries none (the file declares no environment).
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }

    /// Whether it only plans.
    pub fn dry_run(&self) -> bool {
        self.rest.dry_run
    }

    /// The request as the registry decodes it.
    pub fn decoded(&self) -> Result<reg::ApplyManagedSetRequest, prost::DecodeError> {
        reg::ApplyManagedSetRequest::decode(self.encode_to_vec().as_slice())
    }
}

impl fmt::Debug for ApplyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplyRequest")
            .field("definitions", &self.definitions)
            .field("dry_run", &self.rest.dry_run)
            .field("field_prefix", &self.rest.field_prefix)
            .field("fence", &self.rest.fence)
            .finish()
    }
}

impl Message for ApplyRequest {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        // prost writes fields in field-number order: the definitions (1) come first.
        buf.put_slice(&self.definitions.bytes);
        self.rest.encode_raw(buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        if tag == DEFINITIONS {
            let mut spec = pb::EnvironmentSpec::default();
            prost::encoding::message::merge(wire_type, &mut spec, buf, ctx)?;
            self.definitions.push(&spec);
            Ok(())
        } else {
            self.rest.merge_field(tag, wire_type, buf, ctx)
        }
    }

    fn encoded_len(&self) -> usize {
        self.definitions.bytes.len() + self.rest.encoded_len()
    }

    fn clear(&mut self) {
        self.definitions = EncodedDefinitions::default();
        self.rest.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(name: &str, python: &str) -> pb::EnvironmentSpec {
        pb::EnvironmentSpec {
            name: name.to_owned(),
            title: Some("Team".to_owned()),
            python: Some(pb::Installations {
                installations: vec![pb::Installation {
                    version: python.to_owned(),
                    path: "/opt/python/bin/python3".to_owned(),
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn its_bytes_are_those_of_the_same_request_encoded_by_prost() {
        let specs = [
            spec("ghcr.io/a/b:1", "3.11.4"),
            spec("ghcr.io/a/c:1", "3.12.1"),
        ];
        let fence = reg::SyncFence {
            lease: "execenv/execenv-config-sync".to_owned(),
            holder: "config-sync-0".to_owned(),
            term: 3,
        };
        let mut definitions = EncodedDefinitions::default();
        for s in &specs {
            definitions.push(s);
        }
        let ours = ApplyRequest::new(
            definitions,
            true,
            "executionEnvironments",
            Some(fence.clone()),
        );
        let prosts = reg::ApplyManagedSetRequest {
            definitions: specs.to_vec(),
            dry_run: true,
            field_prefix: "executionEnvironments".to_owned(),
            fence: Some(fence),
        };
        assert_eq!(ours.encode_to_vec(), prosts.encode_to_vec());
        assert_eq!(ours.encoded_len(), prosts.encoded_len());
        assert_eq!(ours.decoded().unwrap(), prosts);
        assert_eq!(ours.len(), 2);
    }

    #[test]
    fn a_request_without_definitions_encodes_only_its_other_fields() {
        let ours = ApplyRequest::new(
            EncodedDefinitions::default(),
            false,
            "executionEnvironments",
            None,
        );
        let prosts = reg::ApplyManagedSetRequest {
            field_prefix: "executionEnvironments".to_owned(),
            ..Default::default()
        };
        assert_eq!(ours.encode_to_vec(), prosts.encode_to_vec());
        assert!(ours.is_empty());
    }

    #[test]
    fn decoding_its_bytes_gives_the_same_request() {
        let mut definitions = EncodedDefinitions::default();
        definitions.push(&spec("ghcr.io/a/b:1", "3.11.4"));
        let ours = ApplyRequest::new(definitions, false, "executionEnvironments", None);
        let again = ApplyRequest::decode(ours.encode_to_vec().as_slice()).unwrap();
        assert_eq!(again, ours);
    }
}
