//! The command line as a whole: the top-level commands, their overview and examples. Each group
//! of commands has its own module of flags; parsing is pure and does no I/O.

use clap::{Parser, Subcommand};

use crate::accounts_args::{GroupsCommand, KeysCommand, UsersCommand};
use crate::args::GlobalArgs;
use crate::audit::AuditCommand;
use crate::bundle_args::BundleCommand;
use crate::env_args::{ChangesArgs, EnvCommand};
use crate::image_args::ImageCommand;
use crate::launch_args::{LaunchCommand, LaunchesCommand};
use crate::select_args::SelectArgs;

const OVERVIEW: &str = "\
execenvctl administers the execution environments of execenv: the container images content runs \
in, their Python/R/Quarto installations, volume mounts and who may use them. It talks gRPC to the \
environment-registry, to config-sync for the `sync` commands, to the selector for `select` and \
`explain`, and to the launcher for `launch` (build or run content in its environment) and \
`launches` (list, show, watch, cancel and read the output of launches). `users`, `groups` and \
`keys` manage the people the gateway authenticates with API keys; `audit security` shows who \
created and revoked keys and changed permissions, and which clients failed to sign in too often. `bundle` uploads, lists and \
deletes content bundles through the gateway (HTTP, with an API key). `image examine` asks the \
image examiner what an image holds (read from its registry, nothing run) and `env drift` how every \
environment stands against its image.";

const EXAMPLES: &str = "\
Examples:
  execenvctl env list --language python --language-version 3.11
  execenvctl env create ghcr.io/acme/py:3.11 --title 'Python 3.11' \\
      --python 3.11.9=/opt/python/3.11.9/bin/python3 \\
      --mount type=nfs,nfs_host=nfs.local,nfs_export_path=/exports/data,target=/data,readonly
  execenvctl env create --file env.yaml
  execenvctl env update 0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10 --matching exact --clear supervisor
  execenvctl -o yaml env get 0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10
  execenvctl env permissions add 0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10 --group data-science
  execenvctl --as-user alice --as-groups data-science --as-role publisher env list
  execenvctl sync plan
  execenvctl select --python 3.11.4 --r-requires '>= 4.1, < 5'
  execenvctl explain --manifest bundle/manifest.json --default-image ghcr.io/acme/py:3.11
  execenvctl launch build --content 2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f --bundle 12 \\
      --manifest bundle/manifest.json --wait
  execenvctl launch run --content 2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f --bundle 12 \\
      --python 3.11.4 --env MODE=prod --memory-limit 1Gi -- python app.py
  execenvctl launches list --state running --state pending
  execenvctl launches logs 5f3c9a7e-1d2b-4e8f-9a0b-1c2d3e4f5a6b --follow
  execenvctl users create alice --role publisher --email alice@example.com
  execenvctl groups create data-science && execenvctl groups add-member data-science alice
  execenvctl keys create alice --name laptop
  execenvctl audit security --kind api-key-revoked --since 2026-11-01T00:00:00Z
  execenvctl --api-key $KEY bundle upload examples/bundles/hello-python \\
      --content 2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f
  execenvctl bundle list --content 2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f
  execenvctl -o yaml image examine ghcr.io/rstudio/content-base:r4.4.1-py3.12.4-ubuntu2204
  execenvctl env drift";

/// The admin command line of execenv.
#[derive(Debug, Parser)]
#[command(name = "execenvctl", version, about = OVERVIEW, after_help = EXAMPLES)]
pub struct Cli {
    /// How to reach the registry and whom to act as.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show, create, update and delete environments, and manage who may use them.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Show the audit trail: every change to the catalogue, oldest first.
    Changes(ChangesArgs),
    /// Show the security audit events: API keys created and revoked, permissions added and
    /// removed, clients that failed to sign in too often.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Ask config-sync how the declarative file and the registry compare.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Ask the selector which environment content with these requirements builds and runs in.
    Select(SelectArgs),
    /// Show every environment's verdict for these requirements: chosen, compatible or rejected
    /// (and why).
    Explain(SelectArgs),
    /// Ask the launcher to build (restore the packages of) or run a content bundle in the
    /// environment the selector chooses for it.
    #[command(subcommand)]
    Launch(Box<LaunchCommand>),
    /// List, show, watch, cancel and read the output of launches.
    #[command(subcommand)]
    Launches(LaunchesCommand),
    /// Create, list, show, update, disable, enable and delete users (the people API keys act as).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Create, list and delete groups of users, and manage their members.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Create, list, disable and delete API keys (the secret is shown once, at creation).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Upload, list and delete content bundles, through the gateway with an API key.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Read images from their registries through the image examiner: what they hold, and a
    /// definition for the declarative file.
    #[command(subcommand)]
    Image(ImageCommand),
}

/// `execenvctl sync …`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum SyncCommand {
    /// Show the outcome of the last sync of the declarative file.
    Status,
    /// Show what a sync of the file would change now, without changing anything.
    Plan,
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
