//! The web console with 10,000 environments, in real Chromium (`ui/bench/console-bench.mjs`
//! driven by playwright-core): time to the first rendered table, time from a search keystroke to
//! the updated table, from "Next page" to the next page, and the size of the console's assets,
//! gzipped.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use execenv_e2e::console::{chromium, ui_dir};
use execenv_e2e::gateway::user_key;
use execenv_e2e::{RegistryProcess, ServiceProcess};
use execenv_proto::registry::v1::registry_client::RegistryClient;

use super::common::{DEFINITIONS, apply, ms, three_language_catalogue};

/// Starts the registry on SQLite with 10,000 environments and the gateway (serving the console)
/// in front of it, then runs the browser part and prints what it measured.
pub async fn console_bench(dir: &Path) -> Result<()> {
    let registry = RegistryProcess::on_sqlite(dir)?;
    let mut client = RegistryClient::connect(registry.url.clone())
        .await?
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let (took, _) = apply(&mut client, three_language_catalogue()).await?;
    println!(
        "console  catalogue: {DEFINITIONS} environments applied in {:.0} ms",
        ms(took)
    );
    let gateway = ServiceProcess::gateway(&registry, dir, &[])?;
    let key = user_key(&registry, "bench", "administrator")?;
    let ui = ui_dir();
    let script = ui.join("bench/console-bench.mjs");
    let output = Command::new("node")
        .arg(&script)
        .current_dir(&ui)
        .env("EXECENV_CONSOLE_URL", &gateway.url)
        .env("EXECENV_ADMIN_KEY", &key)
        .env("EXECENV_CHROMIUM", chromium()?)
        .env("EXECENV_ENVIRONMENTS", DEFINITIONS.to_string())
        .output()
        .with_context(|| format!("running node {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{} failed ({}):\n{stdout}{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for line in stdout.lines() {
        println!("console  {line}");
    }
    Ok(())
}
