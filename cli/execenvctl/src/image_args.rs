//! The flags of `image …` and `env drift`: what the image examiner is asked. Parsing is pure.

use clap::{Args, Subcommand};

/// `execenvctl image …`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Read an image from its registry (through the image examiner, without running it) and show
    /// the Python, R and Quarto installations it holds. `-o yaml` prints a definition ready for
    /// the declarative file, `-o json` the examination and the definition.
    Examine(ExamineArgs),
}

/// `execenvctl image examine REF …`
#[derive(Debug, Clone, Args)]
pub struct ExamineArgs {
    /// The image reference, e.g. ghcr.io/rstudio/content-base:r4.4.1-py3.12.4-ubuntu2204.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// os/arch[/variant] to pick from a multi-platform image (default: the examiner's,
    /// linux/amd64).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Read the image's layers again even when its digest was examined before.
    #[arg(long)]
    pub refresh: bool,
}

/// `execenvctl env drift [GUID|NAME]`
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Exit status: 0 when every environment shown is pending or ok; 3 when one is in drift or its \
image could not be read; 1 and 2 as for every command (a failure, invalid input).")]
pub struct DriftArgs {
    /// One environment, by guid or by image name; without it, a table of every environment.
    #[arg(value_name = "GUID|NAME")]
    pub environment: Option<String>,
    /// Check every environment against its image now (administrators), instead of showing the
    /// examiner's last scheduled checks.
    #[arg(long)]
    pub now: bool,
}
