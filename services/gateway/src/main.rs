//! `execenv-gateway`: configuration → service → serve, through the kit's bootstrap.

use std::process::ExitCode;

use execenv_gateway::start;
use execenv_kit::bootstrap;

fn main() -> anyhow::Result<ExitCode> {
    Ok(bootstrap::serve(start)?)
}
