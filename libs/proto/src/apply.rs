//! `ApplyManagedSetRequest` with its definitions kept encoded, at both ends of a sync of a large
//! file. config-sync encodes each definition as it reads the file ([`ApplyRequest`]), so the file
//! is never held as messages and as their encoding at once; the registry keeps each definition
//! as its bytes ([`ReceivedApplyRequest`]) and decodes, checks and drops them one at a time, so
//! the request is never held as decoded messages (at 100,000 environments prost's decoding was
//! a 37.8 MB list and two 19.2 MB lists of installations on top of the message itself,
//! heaptrack). The bytes on the wire are those prost writes for the same
//! `ApplyManagedSetRequest`.

use std::fmt;

use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType};

use crate::environments::v1 as pb;
use crate::registry::v1 as reg;

/// The field number of `ApplyManagedSetRequest.definitions`.
const DEFINITIONS: u32 = 1;

/// How a request keeps its definitions, each as the bytes of one `EnvironmentSpec`.
pub trait Definitions: Default + fmt::Debug + Send + Sync {
    /// Appends a definition read from the wire.
    fn merge(&mut self, definition: Bytes) -> Result<(), prost::DecodeError>;
    /// Writes them as the request's field 1, in order.
    fn encode(&self, buf: &mut impl BufMut);
    /// The length of what [`Definitions::encode`] writes.
    fn encoded_len(&self) -> usize;
    /// How many definitions.
    fn count(&self) -> usize;
}

/// config-sync's: one buffer, each definition written into it (tag and length included) as the
/// file is read.
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

impl Definitions for EncodedDefinitions {
    fn merge(&mut self, definition: Bytes) -> Result<(), prost::DecodeError> {
        self.push(&decode_definition(definition)?);
        Ok(())
    }

    fn encode(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.bytes);
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn count(&self) -> usize {
        self.count
    }
}

impl fmt::Debug for EncodedDefinitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (count, bytes) = (self.count, self.bytes.len());
        write!(f, "{count} definitions ({bytes} bytes encoded)")
    }
}

/// The registry's: each definition's bytes, a slice of the received message (tonic's
/// `copy_to_bytes` splits its buffer), not yet decoded.
impl Definitions for Vec<Bytes> {
    fn merge(&mut self, definition: Bytes) -> Result<(), prost::DecodeError> {
        self.push(definition);
        Ok(())
    }

    fn encode(&self, buf: &mut impl BufMut) {
        for definition in self {
            prost::encoding::bytes::encode(DEFINITIONS, definition, buf);
        }
    }

    fn encoded_len(&self) -> usize {
        (self.iter())
            .map(|d| prost::encoding::bytes::encoded_len(DEFINITIONS, d))
            .sum()
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// An `ApplyManagedSetRequest` whose definitions are kept encoded.
#[derive(Clone, Default, PartialEq)]
pub struct EncodedRequest<D> {
    /// The definitions, in request order.
    pub definitions: D,
    /// The other fields (its own `definitions` stays empty).
    pub rest: reg::ApplyManagedSetRequest,
}

/// The request as config-sync sends it.
pub type ApplyRequest = EncodedRequest<EncodedDefinitions>;

/// The request as the registry reads it.
pub type ReceivedApplyRequest = EncodedRequest<Vec<Bytes>>;

impl ApplyRequest {
    /// A request to apply (or with `dry_run`, to plan) `definitions`, whose problems the
    /// registry reports under `field_prefix`.
    pub fn new(
        definitions: EncodedDefinitions,
        dry_run: bool,
        field_prefix: &str,
        fence: Option<reg::SyncFence>,
    ) -> Self {
        EncodedRequest {
            definitions,
            rest: reg::ApplyManagedSetRequest {
                definitions: Vec::new(),
                dry_run,
                field_prefix: field_prefix.to_owned(),
                fence,
            },
        }
    }
}

impl<D: Definitions> EncodedRequest<D> {
    /// How many definitions it carries.
    pub fn len(&self) -> usize {
        self.definitions.count()
    }

    /// True when it carries none (the file declares no environment).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it only plans.
    pub fn dry_run(&self) -> bool {
        self.rest.dry_run
    }

    /// The request as prost decodes it, every definition decoded.
    pub fn decoded(&self) -> Result<reg::ApplyManagedSetRequest, prost::DecodeError> {
        reg::ApplyManagedSetRequest::decode(self.encode_to_vec().as_slice())
    }
}

impl From<reg::ApplyManagedSetRequest> for ReceivedApplyRequest {
    fn from(mut request: reg::ApplyManagedSetRequest) -> Self {
        let definitions = std::mem::take(&mut request.definitions)
            .iter()
            .map(|d| Bytes::from(d.encode_to_vec()))
            .collect();
        EncodedRequest {
            definitions,
            rest: request,
        }
    }
}

impl<D: Definitions> fmt::Debug for EncodedRequest<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedRequest")
            .field("definitions", &self.definitions.count())
            .field("dry_run", &self.rest.dry_run)
            .field("field_prefix", &self.rest.field_prefix)
            .field("fence", &self.rest.fence)
            .finish()
    }
}

impl<D: Definitions> Message for EncodedRequest<D> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        // prost writes fields in field-number order: the definitions (1) come first.
        self.definitions.encode(buf);
        self.rest.encode_raw(buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        if tag != DEFINITIONS {
            return self.rest.merge_field(tag, wire_type, buf, ctx);
        }
        let mut definition = Bytes::new();
        prost::encoding::bytes::merge(wire_type, &mut definition, buf, ctx)?;
        self.definitions.merge(definition)
    }

    fn encoded_len(&self) -> usize {
        self.definitions.encoded_len() + self.rest.encoded_len()
    }

    fn clear(&mut self) {
        self.definitions = D::default();
        self.rest.clear();
    }
}

/// Decodes one definition of a request.
pub fn decode_definition(bytes: Bytes) -> Result<pb::EnvironmentSpec, prost::DecodeError> {
    pb::EnvironmentSpec::decode(bytes)
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

    fn two_specs() -> [pb::EnvironmentSpec; 2] {
        [
            spec("ghcr.io/a/b:1", "3.11.4"),
            spec("ghcr.io/a/c:1", "3.12.1"),
        ]
    }

    #[test]
    fn its_bytes_are_those_of_the_same_request_encoded_by_prost() {
        let specs = two_specs();
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

    #[test]
    fn a_received_request_is_each_definitions_bytes_and_the_other_fields() {
        let specs = two_specs();
        let sent = reg::ApplyManagedSetRequest {
            definitions: specs.to_vec(),
            dry_run: true,
            field_prefix: "executionEnvironments".to_owned(),
            fence: None,
        };
        let encoded = Bytes::from(sent.encode_to_vec());
        let received = ReceivedApplyRequest::decode(encoded.clone()).unwrap();
        assert_eq!(received.definitions.len(), 2);
        let start = encoded.as_ptr() as usize;
        for (bytes, spec) in received.definitions.iter().zip(&specs) {
            assert_eq!(bytes.as_ref(), spec.encode_to_vec().as_slice());
            assert_eq!(&decode_definition(bytes.clone()).unwrap(), spec);
            // A slice of the received buffer, not a copy.
            assert!((start..start + encoded.len()).contains(&(bytes.as_ptr() as usize)));
        }
        let rest = reg::ApplyManagedSetRequest {
            definitions: Vec::new(),
            ..sent.clone()
        };
        assert_eq!(received.rest, rest);
        assert_eq!(received.encode_to_vec(), sent.encode_to_vec());
        assert_eq!(received.encoded_len(), sent.encoded_len());
        assert_eq!(ReceivedApplyRequest::from(sent), received);
    }
}
