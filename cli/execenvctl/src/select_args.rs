//! The flags of `select` and `explain`, which `launch` takes too: what the content asks for.

use std::path::PathBuf;

use clap::Args;

/// `execenvctl select …` and `execenvctl explain …`: what the content asks for and its settings.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    /// Read the requirements from the bundle's manifest.json instead of the requirement flags.
    // Named one by one (not the group) so clap's message names only the flags actually given.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = [
            "python", "python_requires", "r", "r_requires", "quarto", "quarto_requires",
            "environment", "image",
        ]
    )]
    pub manifest: Option<PathBuf>,
    /// What the content asks for.
    #[command(flatten)]
    pub requirements: RequirementArgs,
    /// The content's default environment (used when nothing is targeted).
    #[arg(long, value_name = "GUID")]
    pub default_environment: Option<String>,
    /// The content's default image (used when nothing is targeted and no default environment).
    #[arg(long, value_name = "NAME")]
    pub default_image: Option<String>,
    /// Answer from a catalogue at this registry revision or newer (read-your-writes: the
    /// revision a catalogue write answered with); a selector behind waits for it briefly, then
    /// refuses (retry). 0: any revision.
    #[arg(long, value_name = "REVISION", default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    pub min_revision: i64,
}

/// The requirements as flags, the manifest.json fields one by one.
#[derive(Debug, Clone, Default, Args)]
pub struct RequirementArgs {
    /// The Python version the content was written with (python.version), e.g. 3.11.4.
    #[arg(long, value_name = "VERSION")]
    pub python: Option<String>,
    /// A PEP 440 specifier set (environment.python.requires), e.g. '>=3.8,<4.0'.
    #[arg(long, value_name = "SPEC")]
    pub python_requires: Option<String>,
    /// The R version the content was written with (platform), e.g. 4.4.1.
    #[arg(long, value_name = "VERSION")]
    pub r: Option<String>,
    /// Comma-separated comparisons (environment.r.requires), e.g. '>= 4.1, < 5'.
    #[arg(long, value_name = "SPEC")]
    pub r_requires: Option<String>,
    /// The Quarto version the content was written with (quarto.version).
    #[arg(long, value_name = "VERSION")]
    pub quarto: Option<String>,
    /// Comma-separated comparisons (environment.quarto.requires), e.g. '>= 1.4'.
    #[arg(long, value_name = "SPEC")]
    pub quarto_requires: Option<String>,
    /// Target this environment (environment.identifier).
    #[arg(long, value_name = "GUID")]
    pub environment: Option<String>,
    /// Target this image (environment.image).
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
}
