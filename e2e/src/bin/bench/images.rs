//! Image examination on the release binaries: a generated image of 1 GiB in 10 gzip layers
//! (incompressible files, a Python in the last layer) pushed to a real registry (Debian's
//! docker-registry on loopback), examined by `execenv-image-examiner` over gRPC:
//!
//! - the first examination (every layer streamed, decompressed and applied to the merged tree),
//!   and the examiner's peak resident memory before and after it (VmHWM): memory stays bounded
//!   whatever the image size;
//! - the same image again, answered from the cache by manifest digest (median of 5);
//! - side by side, the floor for reading the image at all: `skopeo copy` of it from the same
//!   registry into a folder on disk (the compressed blobs written, nothing decompressed).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::oci_images::{large_image, push};
use execenv_e2e::oci_registry::OciRegistry;
use execenv_e2e::{RegistryProcess, ServiceProcess};
use execenv_proto::examiner::v1 as ex;
use execenv_proto::examiner::v1::image_examiner_client::ImageExaminerClient;
use tonic::transport::Channel;

use super::common::ms;
use super::memory::status_field;

/// The generated image: at least 1 GB in at least 10 layers.
const IMAGE_BYTES: u64 = 1 << 30;
const LAYERS: usize = 10;
const CACHED_RUNS: usize = 5;

/// Generates, pushes and examines the image; prints every figure.
pub async fn images_bench(dir: &Path) -> Result<()> {
    let oci = OciRegistry::start()?;
    let generated = Instant::now();
    let layout = large_image(&dir.join("large"), IMAGE_BYTES, LAYERS)?;
    println!(
        "images   generated a {} MiB image in {LAYERS} gzip layers in {:.1} s",
        IMAGE_BYTES >> 20,
        generated.elapsed().as_secs_f64()
    );
    let pushed = Instant::now();
    let reference = push(&layout, &oci, "large:1")?;
    println!(
        "images   pushed it to the loopback registry with skopeo in {:.1} s",
        pushed.elapsed().as_secs_f64()
    );

    let floor = Instant::now();
    let copy = dir.join("skopeo-copy");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", copy.display()))
        .output()
        .context("cannot run skopeo")?;
    ensure!(
        out.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let floor = floor.elapsed();

    let registry = RegistryProcess::on_sqlite(dir)?;
    let service = ServiceProcess::image_examiner(
        &registry,
        dir,
        &[(
            "EXECENV_EXAMINER__INSECURE_REGISTRIES",
            oci.host().to_owned(),
        )],
    )?;
    let pid = service.process.id();
    let idle = status_field(pid, "VmHWM");
    let channel = Channel::from_shared(service.url.clone())?.connect().await?;
    // No identity headers and no service token configured: the call is the service itself's.
    let mut client = ImageExaminerClient::new(channel).max_decoding_message_size(64 << 20);
    let request = || ex::ExamineRequest {
        image: reference.clone(),
        ..Default::default()
    };

    let first = Instant::now();
    let examination = client
        .examine(request())
        .await?
        .into_inner()
        .examination
        .context("Examine answered no examination")?;
    let first = first.elapsed();
    ensure!(
        !examination.cached,
        "the first examination came from the cache"
    );
    ensure!(
        examination
            .installations
            .iter()
            .any(|i| i.version == "3.12.4"),
        "the large image's Python 3.12.4 was not found: {examination:?}"
    );
    let peak = status_field(pid, "VmHWM");

    let mut cached = Vec::new();
    for _ in 0..CACHED_RUNS {
        let started = Instant::now();
        let again = client.examine(request()).await?.into_inner().examination;
        cached.push(started.elapsed());
        ensure!(
            again.is_some_and(|e| e.cached),
            "a second examination was not answered from the cache"
        );
    }
    cached.sort();
    let median: Duration = cached[CACHED_RUNS / 2];

    let mib = examination.layer_bytes as f64 / f64::from(1 << 20);
    println!(
        "images   examine {mib:.0} MiB in {} layers: {:.1} s ({:.0} MiB/s); skopeo copy of the same image to disk: {:.1} s ({:.0} MiB/s); ratio {:.2}",
        examination.layers,
        first.as_secs_f64(),
        mib / first.as_secs_f64(),
        floor.as_secs_f64(),
        mib / floor.as_secs_f64(),
        first.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "images   examiner peak resident memory (VmHWM): {idle} before, {peak} after the examination"
    );
    println!(
        "images   cached re-examination: median {:.1} ms over {CACHED_RUNS} (min {:.1} ms, max {:.1} ms)",
        ms(median),
        ms(cached[0]),
        ms(cached[CACHED_RUNS - 1])
    );
    Ok(())
}
