//! The flags of `execenvctl bundle …`: upload a content bundle to the gateway, list a content's
//! bundles, delete one. Parsing is pure; nothing here does I/O.

use std::path::PathBuf;

use clap::Subcommand;

/// `execenvctl bundle …`
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Upload a bundle: a folder with a manifest.json (packed as rsconnect packs it) or a
    /// .tar.gz (sent as it is). Prints the new bundle's id and what its manifest says.
    Upload {
        /// The folder, or the .tar.gz.
        #[arg(value_name = "DIR|FILE")]
        path: PathBuf,
        /// The content's guid.
        #[arg(long, value_name = "GUID")]
        content: String,
    },
    /// List a content's bundles, by id.
    List {
        /// The content's guid.
        #[arg(long, value_name = "GUID")]
        content: String,
    },
    /// Delete a bundle (its files and its work folder).
    Delete {
        /// The bundle id.
        id: String,
        /// The content's guid.
        #[arg(long, value_name = "GUID")]
        content: String,
    },
}
