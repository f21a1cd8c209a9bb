//! gRPC clients of other execenv services: the endpoint a URL setting (`registry.url`,
//! `selector.url`, …) names.

use std::time::Duration;

use execenv_core::Error;
use tonic::transport::Endpoint;

use crate::config::variable_for_key;

/// How long connecting to another service may take before a call fails UNAVAILABLE.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `url` with a scheme: `host:port` becomes `http://host:port`; a URL with one is kept as is.
pub fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// The endpoint of the service at `url` (`http://host:port`, or `host:port`), the value of the
/// setting `setting` (e.g. `registry.url`), connecting within [`CONNECT_TIMEOUT`]. Does not
/// connect; the caller adds its own request timeout or keep-alive. A URL that does not parse is
/// InvalidArgument naming the setting and its variable, and `flag` too when a command-line flag
/// also sets it (e.g. `--registry`).
pub fn endpoint(url: &str, setting: &str, flag: Option<&str>) -> Result<Endpoint, Error> {
    let url = with_scheme(url);
    let endpoint = Endpoint::from_shared(url.clone()).map_err(|e| {
        let variable = variable_for_key(setting);
        let or_flag = flag.map(|f| format!(" (or {f})")).unwrap_or_default();
        Error::invalid_field(
            setting,
            format!("{url:?} is not a URL: {e}; set {variable}{or_flag} to http://HOST:PORT"),
        )
    })?;
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use execenv_core::ErrorKind;

    #[test]
    fn with_scheme_adds_http_to_host_and_port_only() {
        assert_eq!(with_scheme("registry:50051"), "http://registry:50051");
        assert_eq!(
            with_scheme("http://registry:50051"),
            "http://registry:50051"
        );
        assert_eq!(with_scheme("https://registry:443"), "https://registry:443");
    }

    #[test]
    fn endpoint_accepts_host_and_port_without_a_scheme() {
        let endpoint = endpoint("selector:50053", "selector.url", None).unwrap();
        assert_eq!(endpoint.uri().scheme_str(), Some("http"));
        assert_eq!(
            endpoint.uri().authority().unwrap().as_str(),
            "selector:50053"
        );
    }

    #[test]
    fn an_invalid_url_names_the_setting_and_its_variable() {
        let err = endpoint("http://bad host", "registry.url", None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(err.violations.len(), 1);
        assert_eq!(err.violations[0].field, "registry.url");
        assert_eq!(
            err.violations[0].description,
            "\"http://bad host\" is not a URL: invalid URI; set EXECENV_REGISTRY__URL to http://HOST:PORT"
        );
    }

    #[test]
    fn an_invalid_url_names_the_flag_that_also_sets_it() {
        let err = endpoint("bad host", "registry.url", Some("--registry")).unwrap_err();
        assert!(
            err.message.contains(
                "registry.url: \"http://bad host\" is not a URL: invalid URI; \
                 set EXECENV_REGISTRY__URL (or --registry) to http://HOST:PORT"
            ),
            "{}",
            err.message
        );
    }
}
