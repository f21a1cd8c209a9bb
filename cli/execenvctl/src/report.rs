//! What a command hands back to `main` to print: the result, a note for people, the exit code;
//! and the two ways a result is shown, as a table for people or a document for scripts.

use execenv_core::Error;
use serde::Serialize;

use crate::args::OutputFormat;
use crate::render;

/// What a command prints: its result on stdout and an optional note (counts, next page) on stderr,
/// and how the process exits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The result.
    pub stdout: String,
    /// A line for people, kept off stdout so scripts can parse the result.
    pub note: Option<String>,
    /// The process exit code: 0, or 1 when the command worked but what it waited for failed
    /// (`launch --wait`), or 3 when `env drift` found an environment in drift.
    pub exit_code: u8,
}

impl Report {
    /// Just a result, exit code 0.
    pub fn text(stdout: impl Into<String>) -> Self {
        Report {
            stdout: stdout.into(),
            ..Report::default()
        }
    }

    /// One object: `table` shows it to people, json and yaml print it whole.
    pub fn one<T: Serialize>(
        item: &T,
        format: OutputFormat,
        table: impl FnOnce(&T) -> String,
    ) -> Result<Self, Error> {
        Ok(Report::text(match format {
            OutputFormat::Table => table(item),
            _ => render::document(item, format)?,
        }))
    }

    /// A list: as a table, `rows` with `footer` (how many, the next page) as the note; json and
    /// yaml print the list whole.
    pub fn list<T: Serialize>(
        items: &[T],
        format: OutputFormat,
        rows: impl FnOnce(&[T]) -> String,
        footer: impl FnOnce() -> String,
    ) -> Result<Self, Error> {
        match format {
            OutputFormat::Table => Ok(Report {
                stdout: rows(items),
                note: Some(footer()),
                exit_code: 0,
            }),
            _ => Ok(Report::text(render::document(&items, format)?)),
        }
    }
}
