//! `execenvctl bundle …` against the gateway: a folder is packed first (into a temporary file,
//! so a large bundle is streamed, never held in memory), a `.tar.gz` is sent as it is; then the
//! bundle and its manifest summary are printed.

use std::path::Path;

use execenv_core::bundle::Bundle;
use execenv_core::{Error, ErrorKind};

use crate::bundle_args::BundleCommand;
use crate::pack;
use crate::render::{self, NONE, key_values, or_none, table};
use crate::report::Report;
use crate::session::Session;

/// Runs one `bundle` command.
pub async fn bundle(session: &Session, command: BundleCommand) -> Result<Report, Error> {
    let format = session.output();
    match command {
        BundleCommand::Upload { path, content } => {
            let gateway = session.gateway()?;
            let meta = std::fs::metadata(&path).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let bundle = if meta.is_dir() {
                let packed = packed(&path)?;
                gateway.upload(&content, packed.path()).await?
            } else {
                gateway.upload(&content, &path).await?
            };
            Report::one(&bundle, format, bundle_block)
        }
        BundleCommand::List { content } => {
            let bundles = session.gateway()?.bundles(&content).await?;
            let noun = if bundles.len() == 1 {
                "bundle"
            } else {
                "bundles"
            };
            Report::list(&bundles, format, bundles_table, || {
                render::list_footer(bundles.len(), None, noun, "")
            })
        }
        BundleCommand::Delete { id, content } => {
            session.gateway()?.delete_bundle(&content, &id).await?;
            Ok(Report::text(format!(
                "deleted bundle {id} of content {content}\n"
            )))
        }
    }
}

/// `dir` packed into a temporary `.tar.gz`, removed when dropped.
fn packed(dir: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let file = tempfile::Builder::new()
        .prefix("execenv-bundle-")
        .suffix(".tar.gz")
        .tempfile()
        .map_err(|e| Error::internal(format!("cannot make a temporary file: {e}")))?;
    pack::pack(dir, std::io::BufWriter::new(file.as_file()))?;
    Ok(file)
}

/// One bundle as a `key: value` block.
pub fn bundle_block(b: &Bundle) -> String {
    let one = |v: String| vec![v];
    let m = &b.manifest;
    key_values(&[
        ("bundle", one(b.bundle_id.clone())),
        ("content", one(b.content_guid.clone())),
        ("created", one(render::time(&b.created_time))),
        ("size", one(format!("{} bytes", b.size))),
        ("files", one(b.files.to_string())),
        ("appmode", one(or_none(Some(&m.appmode)))),
        ("entrypoint", one(or_none(m.entrypoint.as_deref()))),
        ("python", one(or_none(m.python.as_deref()))),
        ("r", one(or_none(m.r.as_deref()))),
        ("quarto", one(or_none(m.quarto.as_deref()))),
    ])
}

/// The `bundle list` table.
pub fn bundles_table(bundles: &[Bundle]) -> String {
    let rows: Vec<Vec<String>> = bundles
        .iter()
        .map(|b| {
            let m = &b.manifest;
            let languages: Vec<String> =
                [("python", &m.python), ("r", &m.r), ("quarto", &m.quarto)]
                    .into_iter()
                    .filter_map(|(name, version)| version.as_ref().map(|v| format!("{name} {v}")))
                    .collect();
            vec![
                b.bundle_id.clone(),
                render::time(&b.created_time),
                b.size.to_string(),
                b.files.to_string(),
                or_none(Some(&m.appmode)),
                or_none(m.entrypoint.as_deref()),
                if languages.is_empty() {
                    NONE.to_owned()
                } else {
                    languages.join(", ")
                },
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "CREATED",
            "SIZE",
            "FILES",
            "APPMODE",
            "ENTRYPOINT",
            "LANGUAGES",
        ],
        &rows,
    )
}
