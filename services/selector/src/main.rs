//! `execenv-selector`: configuration → service → serve, through the kit's bootstrap.

use std::process::ExitCode;

use execenv_kit::bootstrap;
use execenv_selector::start;

fn main() -> anyhow::Result<ExitCode> {
    Ok(bootstrap::serve(start)?)
}
