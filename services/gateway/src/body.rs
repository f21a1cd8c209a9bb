//! Request bodies: most routes take one JSON object and report what is wrong with it in
//! Connect's error body.

use execenv_core::{Error, ErrorKind};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A request body that must be one JSON object.
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let unparsable = |why: String| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the request body is not a JSON object: {why}"),
        )
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(unparsable(format!("got {other}")).into()),
        Err(e) => Err(unparsable(e.to_string()).into()),
    }
}
