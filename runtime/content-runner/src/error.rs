//! The runner's error kinds and the exit code each maps to.

/// Why a step did not succeed. Every message names the thing, the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The invocation or the bundle is invalid (exit code 2).
    #[error("{0}")]
    Invalid(String),
    /// `run` found no build matching the bundle (exit code 3).
    #[error(
        "the build for this bundle is missing or out of date ({0}); run `execenv-content-runner build` first"
    )]
    Refused(String),
    /// The build could not complete (exit code 1).
    #[error("{0}")]
    Failed(String),
    /// The content's command could not be started (exit code 127, as a shell reports it).
    #[error("{0}")]
    NotStarted(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) => 2,
            Error::Refused(_) => 3,
            Error::Failed(_) => 1,
            Error::NotStarted(_) => 127,
        }
    }

    /// A failure to read or write `what`, with the underlying I/O error.
    pub fn io(what: impl std::fmt::Display, err: std::io::Error) -> Error {
        Error::Failed(format!("{what}: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_exit_code() {
        assert_eq!(Error::Invalid("x".into()).exit_code(), 2);
        assert_eq!(Error::Refused("x".into()).exit_code(), 3);
        assert_eq!(Error::Failed("x".into()).exit_code(), 1);
    }

    #[test]
    fn refusal_says_to_rebuild() {
        let message = Error::Refused("no build record".into()).to_string();
        assert_eq!(
            message,
            "the build for this bundle is missing or out of date (no build record); run `execenv-content-runner build` first"
        );
    }
}
