//! `execenv-image-examiner`: configuration → service → serve, through the kit's bootstrap.

use std::process::ExitCode;

use execenv_image_examiner::start;
use execenv_kit::bootstrap;

fn main() -> anyhow::Result<ExitCode> {
    Ok(bootstrap::serve(start)?)
}
