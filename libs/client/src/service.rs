//! The services a client can call, and how an error names each one.

/// An execenv gRPC service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// execenv-environment-registry (the `Registry` and `Identity` gRPC services).
    Registry,
    /// execenv-config-sync.
    ConfigSync,
    /// execenv-selector.
    Selector,
    /// execenv-launcher.
    Launcher,
    /// execenv-image-examiner.
    Examiner,
}

impl Service {
    /// How a sentence names it: "the registry".
    pub fn name(self) -> &'static str {
        match self {
            Service::Registry => "the registry",
            Service::ConfigSync => "config-sync",
            Service::Selector => "the selector",
            Service::Launcher => "the launcher",
            Service::Examiner => "the image examiner",
        }
    }

    /// The binary that serves it.
    pub fn binary(self) -> &'static str {
        match self {
            Service::Registry => "execenv-environment-registry",
            Service::ConfigSync => "execenv-config-sync",
            Service::Selector => "execenv-selector",
            Service::Launcher => "execenv-launcher",
            Service::Examiner => "execenv-image-examiner",
        }
    }

    /// The configuration key of its URL in the services that call it (`registry.url`).
    pub fn url_setting(self) -> &'static str {
        match self {
            Service::Registry => "registry.url",
            Service::ConfigSync => "config_sync.url",
            Service::Selector => "selector.url",
            Service::Launcher => "launcher.url",
            Service::Examiner => "examiner.url",
        }
    }

    /// The variable that sets that URL (`EXECENV_REGISTRY__URL`).
    pub fn url_variable(self) -> String {
        format!(
            "EXECENV_{}",
            self.url_setting().replace('.', "__").to_ascii_uppercase()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_names_the_variable_of_its_url() {
        assert_eq!(Service::Registry.url_variable(), "EXECENV_REGISTRY__URL");
        assert_eq!(
            Service::ConfigSync.url_variable(),
            "EXECENV_CONFIG_SYNC__URL"
        );
        assert_eq!(Service::Selector.url_variable(), "EXECENV_SELECTOR__URL");
        assert_eq!(Service::Launcher.url_variable(), "EXECENV_LAUNCHER__URL");
        assert_eq!(Service::Examiner.url_variable(), "EXECENV_EXAMINER__URL");
    }
}
