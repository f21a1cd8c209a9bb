//! The images the gateway's, execenvctl's and the console's drift tests examine, in a real OCI
//! registry ([`crate::oci_registry`]), and the image examiner started to read them:
//!
//! - `python:3.12` holds Python 3.11.2 at `/opt/python/default` — an environment declaring
//!   3.12.4 there is in drift (a version mismatch);
//! - `r:4.2` holds R 4.2.2 at `/opt/R/4.2.2` — declared as it is, it is ok;
//! - `quarto:1.5` holds Quarto 1.5.57 at `/opt/quarto/1.5.57`, in no environment: what "Fill
//!   from image" and `image examine` are shown;
//! - `python:fixed` holds Python 3.12.4 at `/opt/python/default`: what the drift image's tag is
//!   moved to, to see the drift clear (and moved back by its digest).

use std::path::Path;

use anyhow::Result;

use crate::oci_images::{Compression, Image, Layer, push, write_layout};
use crate::oci_registry::OciRegistry;
use crate::{RegistryProcess, ServiceProcess};

/// The Python an environment in drift declares, and where.
pub const DECLARED_PYTHON: (&str, &str) = ("3.12.4", "/opt/python/default/bin/python3");
/// The R the ok environment declares.
pub const DECLARED_R: (&str, &str) = ("4.2.2", "/opt/R/4.2.2/bin/R");

/// The drift finding of an environment declaring [`DECLARED_PYTHON`] on the drift image.
pub const DRIFT_MESSAGE: &str =
    "Python at /opt/python/default/bin/python3 is declared as 3.12.4 but the image has 3.11.2";

/// The images pushed, and the registry holding them (stopped when dropped).
pub struct DriftImages {
    /// The registry (plain HTTP, no authentication).
    pub oci: OciRegistry,
    /// `HOST/python:3.12`: Python 3.11.2.
    pub drift: String,
    /// `HOST/r:4.2`: R 4.2.2.
    pub ok: String,
    /// `HOST/quarto:1.5`: Quarto 1.5.57.
    pub fill: String,
    /// `HOST/python:fixed`: Python 3.12.4 where the drift image has 3.11.2.
    pub fixed: String,
    /// The manifest digest of the drift, ok and fill images, in that order.
    pub digests: [String; 3],
}

impl DriftImages {
    /// Starts a registry and pushes the four images (built as OCI layouts in `dir`).
    pub fn push(dir: &Path) -> Result<DriftImages> {
        let oci = OciRegistry::start()?;
        let mut pushed = Vec::new();
        for (name, layer) in [
            (
                "python:3.12",
                Layer::new(Compression::GZIP).python("/opt/python/default", "3.11.2"),
            ),
            (
                "r:4.2",
                Layer::new(Compression::Zstd).r("/opt/R/4.2.2", "4.2.2"),
            ),
            (
                "quarto:1.5",
                Layer::new(Compression::GZIP).quarto("/opt/quarto/1.5.57", "1.5.57"),
            ),
            (
                "python:fixed",
                Layer::new(Compression::GZIP).python("/opt/python/default", "3.12.4"),
            ),
        ] {
            let base = Layer::new(Compression::GZIP)
                .dir("/usr/bin")
                .file("/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
            let image = Image::new("linux/amd64").layer(base).layer(layer);
            let folder = dir.join(name.replace(':', "-"));
            let layout = write_layout(&folder, "latest", &[image])?;
            pushed.push((push(&layout, &oci, name)?, layout.digest));
        }
        let [(drift, d0), (ok, d1), (fill, d2), (fixed, _)]: [(String, String); 4] = pushed
            .try_into()
            .map_err(|_| anyhow::anyhow!("four images were pushed"))?;
        Ok(DriftImages {
            oci,
            drift,
            ok,
            fill,
            fixed,
            digests: [d0, d1, d2],
        })
    }

    /// Starts the image examiner on `registry`'s catalogue, reading this registry over plain
    /// HTTP; `env` adds settings. Images elsewhere (the other environments' `ghcr.io/…`) fail
    /// fast: no network, and a short request timeout.
    pub fn examiner(
        &self,
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        let mut settings = vec![
            (
                "EXECENV_EXAMINER__INSECURE_REGISTRIES",
                self.oci.host().to_owned(),
            ),
            ("EXECENV_EXAMINER__REQUEST_TIMEOUT_S", "5".to_owned()),
        ];
        settings.extend(env.iter().cloned());
        ServiceProcess::image_examiner(registry, dir, &settings)
    }
}
