//! [`StartError`]: the one reason type for a service that could not start, shared by every
//! service so `main` prints them all the same way (`error: …`, exit 1).

use crate::listen::BindError;

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The proto descriptors could not be registered for reflection (a build defect).
    #[error("cannot serve gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The configuration cannot work (a combination the loader cannot check alone).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// What the service needs could not be had: its database, its backend, the first sync of
    /// its file. `what` names the thing and the fix; a file may have several `problems`, shown one
    /// per line under it.
    #[error("{}", failed(.what, .problems))]
    Failed {
        /// What could not be done (`cannot sync /etc/execenv/environments.yaml`).
        what: String,
        /// Every problem, when there are several to list.
        problems: Vec<String>,
    },
}

impl StartError {
    /// The service could not start because of `problem`.
    pub fn failed(problem: impl Into<String>) -> Self {
        StartError::Failed {
            what: problem.into(),
            problems: vec![],
        }
    }

    /// `what` could not be done because of every one of `problems`.
    pub fn with_problems(what: impl Into<String>, problems: Vec<String>) -> Self {
        StartError::Failed {
            what: what.into(),
            problems,
        }
    }

    /// Every problem, one line each.
    pub fn problems(&self) -> Vec<String> {
        match self {
            StartError::Failed { problems, .. } if !problems.is_empty() => problems.clone(),
            other => vec![other.to_string()],
        }
    }
}

/// `what: N problems` and each problem on its own indented line; `what` alone without problems.
fn failed(what: &str, problems: &[String]) -> String {
    if problems.is_empty() {
        return what.to_owned();
    }
    let n = problems.len();
    let mut text = format!("{what}: {n} problem{}", if n == 1 { "" } else { "s" });
    for p in problems {
        text.push_str("\n  ");
        text.push_str(p);
    }
    text
}

impl From<execenv_client::TlsError> for StartError {
    fn from(e: execenv_client::TlsError) -> Self {
        StartError::Config(e.0)
    }
}

impl From<execenv_core::Error> for StartError {
    /// An invalid argument is a configuration problem; anything else a failure to start.
    fn from(e: execenv_core::Error) -> Self {
        if e.kind == execenv_core::ErrorKind::InvalidArgument {
            StartError::Config(e.message)
        } else {
            StartError::failed(e.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_problems_are_listed_one_per_line_under_what_failed() {
        let e = StartError::with_problems(
            "cannot sync f.yaml",
            vec!["a: bad".to_owned(), "b: worse".to_owned()],
        );
        assert_eq!(
            e.to_string(),
            "cannot sync f.yaml: 2 problems\n  a: bad\n  b: worse"
        );
        assert_eq!(e.problems(), ["a: bad", "b: worse"]);
    }

    #[test]
    fn a_single_failure_is_its_message() {
        let e = StartError::failed("database at sqlite://x is read-only");
        assert_eq!(e.to_string(), "database at sqlite://x is read-only");
        assert_eq!(e.problems(), ["database at sqlite://x is read-only"]);
    }

    #[test]
    fn an_invalid_argument_is_an_invalid_configuration() {
        let e = StartError::from(execenv_core::Error::invalid_field(
            "registry.url",
            "\"x y\" is not a URL",
        ));
        assert!(matches!(e, StartError::Config(_)), "{e:?}");
        assert!(e.to_string().starts_with("invalid configuration: "), "{e}");
    }
}
