//! The images `e2e/infra/images` builds without a container engine, read as the OCI layouts it
//! caches (the paths `e2e/infra/images list` prints, after `e2e/infra/images build`): each
//! service image agrees with ./Dockerfile on entrypoint, user and exposed ports, the runtime
//! image with runtime/Dockerfile on entrypoint and cmd, and every image carries the reference
//! the tests and the testbed load it under. ./Dockerfile's ports are checked against the
//! services' default listen addresses in docs/configuration.md (which `docs.rs` checks against
//! the binaries). Expected values come from the Dockerfiles, parsed here, or are literals.
//!
//! Building the images needs root and the Debian mirror (mmdebstrap) the first time; they are
//! cached under ~/.cache/execenv/images by the digest of their inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

const SERVICES: [&str; 6] = [
    "environment-registry",
    "config-sync",
    "selector",
    "launcher",
    "gateway",
    "image-examiner",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One image of `e2e/infra/images list`.
#[derive(Debug, Clone)]
struct Listed {
    reference: String,
    path: PathBuf,
}

/// Builds (or reuses) the images these tests read, once per test binary, and returns what
/// `e2e/infra/images list` says of every image, by name.
fn images() -> Result<&'static BTreeMap<String, Listed>> {
    static IMAGES: OnceLock<Result<BTreeMap<String, Listed>, String>> = OnceLock::new();
    IMAGES
        .get_or_init(|| build_and_list().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn build_and_list() -> Result<BTreeMap<String, Listed>> {
    let script = repo().join("e2e/infra/images");
    let mut build = Command::new(&script);
    build.arg("build").args(["pause", "runtime"]).args(SERVICES);
    // Progress (cargo, mmdebstrap) goes to the test's stderr; stdout must stay empty.
    let out = build
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run e2e/infra/images build")?;
    ensure!(
        out.status.success(),
        "e2e/infra/images build failed ({})",
        out.status
    );
    ensure!(
        out.stdout.is_empty(),
        "e2e/infra/images build printed on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new(&script)
        .arg("list")
        .stdin(Stdio::null())
        .output()
        .context("cannot run e2e/infra/images list")?;
    ensure!(
        out.status.success(),
        "e2e/infra/images list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut images = BTreeMap::new();
    for line in String::from_utf8(out.stdout)?.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, reference, path] = fields[..] else {
            bail!("e2e/infra/images list printed {line:?}, not NAME<TAB>REFERENCE<TAB>PATH");
        };
        images.insert(
            name.to_owned(),
            Listed {
                reference: reference.to_owned(),
                path: PathBuf::from(path),
            },
        );
    }
    Ok(images)
}

/// A built image of the list: its folder must be a complete OCI layout.
fn built(name: &str) -> Result<&'static Listed> {
    let listed = images()?
        .get(name)
        .with_context(|| format!("e2e/infra/images list has no {name}"))?;
    ensure!(
        listed.path.join(".complete").is_file(),
        "{} has no .complete marker after e2e/infra/images build",
        listed.path.display()
    );
    Ok(listed)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is no JSON", path.display()))
}

fn blob(layout: &Path, digest: &Value) -> Result<Value> {
    let digest = digest.as_str().context("a digest that is no string")?;
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("digest {digest} is not sha256"))?;
    read_json(&layout.join("blobs/sha256").join(hex))
}

/// An OCI layout's only manifest's descriptor in index.json, and the image's configuration.
fn oci_image(layout: &Path) -> Result<(Value, Value)> {
    let index = read_json(&layout.join("index.json"))?;
    let manifests = index["manifests"]
        .as_array()
        .context("index.json has no manifests")?;
    ensure!(
        manifests.len() == 1,
        "{} has {} manifests, not one",
        layout.display(),
        manifests.len()
    );
    let manifest = blob(layout, &manifests[0]["digest"])?;
    let config = blob(layout, &manifest["config"]["digest"])?;
    Ok((manifests[0].clone(), config))
}

/// One build stage of a Dockerfile: what its FROM names, its own name, its instructions
/// (keyword in capitals, arguments) with continuation lines joined.
#[derive(Debug)]
struct Stage {
    from: String,
    name: Option<String>,
    instructions: Vec<(String, String)>,
}

impl Stage {
    /// The arguments of the stage's last `keyword` instruction.
    fn last(&self, keyword: &str) -> Option<&str> {
        self.instructions
            .iter()
            .rev()
            .find(|(k, _)| k == keyword)
            .map(|(_, args)| args.as_str())
    }
}

fn dockerfile(path: &str) -> Result<Vec<Stage>> {
    let text = std::fs::read_to_string(repo().join(path)).with_context(|| path.to_owned())?;
    let mut stages: Vec<Stage> = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && logical.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            logical.push_str(head);
            logical.push(' ');
            continue;
        }
        logical.push_str(trimmed);
        let instruction = std::mem::take(&mut logical);
        let (keyword, args) = instruction
            .split_once(char::is_whitespace)
            .with_context(|| format!("{path}: {instruction:?} has no arguments"))?;
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_owned();
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words[..] {
                [_] => None,
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_owned()),
                _ => bail!("{path}: unexpected FROM {args}"),
            };
            stages.push(Stage {
                from: words[0].to_owned(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, args));
        }
    }
    Ok(stages)
}

fn stage<'a>(stages: &'a [Stage], name: &str, path: &str) -> Result<&'a Stage> {
    stages
        .iter()
        .find(|s| s.name.as_deref() == Some(name))
        .with_context(|| format!("{path} has no stage named {name}"))
}

/// A JSON-form (exec form) instruction's arguments.
fn exec_form(args: &str, what: &str) -> Result<Vec<String>> {
    serde_json::from_str(args).with_context(|| format!("{what} {args} is not in JSON form"))
}

/// The ports a stage exposes, as numbers.
fn exposed(stage: &Stage) -> Result<Vec<u16>> {
    let args = stage
        .last("EXPOSE")
        .with_context(|| format!("stage {:?} has no EXPOSE", stage.name))?;
    args.split_whitespace()
        .map(|p| {
            p.trim_end_matches("/tcp")
                .parse()
                .with_context(|| format!("EXPOSE {p}"))
        })
        .collect()
}

/// The ports each service listens on by default: its API address (`server.grpc_addr`, or the
/// gateway's `server.http_addr`), then `server.admin_addr`, from docs/configuration.md.
fn documented_ports() -> Result<BTreeMap<String, Vec<u16>>> {
    let text = std::fs::read_to_string(repo().join("docs/configuration.md"))?;
    let mut ports: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## execenv-") {
            section = Some(heading.trim().to_owned());
            continue;
        }
        let Some(service) = &section else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `key` | `VARIABLE` | `default` | meaning |
        let [_, key, _, default, ..] = cells[..] else {
            continue;
        };
        let key = key.trim_matches('`');
        if !matches!(
            key,
            "server.grpc_addr" | "server.http_addr" | "server.admin_addr"
        ) {
            continue;
        }
        let port = default
            .trim_matches('`')
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .with_context(|| format!("{service}'s {key} default {default} has no port"))?;
        let list = ports.entry(service.clone()).or_default();
        if key == "server.admin_addr" {
            list.push(port);
        } else {
            list.insert(0, port);
        }
    }
    Ok(ports)
}

#[test]
fn images_dockerfile_exposes_each_services_default_ports() -> Result<()> {
    let stages = dockerfile("Dockerfile")?;
    let documented = documented_ports()?;
    for service in SERVICES {
        let stage = stage(&stages, &format!("execenv-{service}"), "Dockerfile")?;
        ensure!(
            stage.from == "service",
            "Dockerfile: the stage execenv-{service} is FROM {}, not FROM service",
            stage.from
        );
        let expected = documented.get(service).with_context(|| {
            format!("docs/configuration.md has no listen addresses of {service}")
        })?;
        ensure!(
            expected.len() == 2,
            "docs/configuration.md: {service} has {expected:?}, not an API and an admin port"
        );
        ensure!(
            &exposed(stage)? == expected,
            "Dockerfile: {service} exposes {:?}, its default listen ports are {expected:?}",
            exposed(stage)?
        );
    }
    // The image `docker build --build-arg SERVICE=…` makes is that service's stage.
    let last = stages.last().context("Dockerfile has no stage")?;
    ensure!(
        last.from == "execenv-${SERVICE}" && last.name.is_none(),
        "Dockerfile's last stage is FROM {}, not FROM execenv-${{SERVICE}}",
        last.from
    );
    Ok(())
}

#[test]
fn images_service_images_agree_with_the_dockerfile() -> Result<()> {
    let stages = dockerfile("Dockerfile")?;
    let base = stage(&stages, "service", "Dockerfile")?;
    let entrypoint = exec_form(
        base.last("ENTRYPOINT")
            .context("the service stage has no ENTRYPOINT")?,
        "ENTRYPOINT",
    )?;
    let user = base.last("USER").context("the service stage has no USER")?;
    for service in SERVICES {
        let listed = built(service)?;
        let (_, config) = oci_image(&listed.path)?;
        let config = &config["config"];
        let got_entrypoint: Vec<String> = serde_json::from_value(config["Entrypoint"].clone())
            .with_context(|| format!("{service}: Entrypoint {}", config["Entrypoint"]))?;
        ensure!(
            got_entrypoint == entrypoint,
            "{service}: the image's entrypoint is {got_entrypoint:?}, the Dockerfile's {entrypoint:?}"
        );
        ensure!(
            config["User"] == user,
            "{service}: the image's user is {}, the Dockerfile's {user}",
            config["User"]
        );
        let ports: BTreeSet<String> = config["ExposedPorts"]
            .as_object()
            .with_context(|| format!("{service}: the image exposes no ports"))?
            .keys()
            .cloned()
            .collect();
        let expected: BTreeSet<String> =
            exposed(stage(&stages, &format!("execenv-{service}"), "Dockerfile")?)?
                .iter()
                .map(|p| format!("{p}/tcp"))
                .collect();
        ensure!(
            ports == expected,
            "{service}: the image exposes {ports:?}, the Dockerfile {expected:?}"
        );
    }
    Ok(())
}

#[test]
fn images_runtime_image_agrees_with_runtime_dockerfile() -> Result<()> {
    let stages = dockerfile("runtime/Dockerfile")?;
    let last = stages.last().context("runtime/Dockerfile has no stage")?;
    let entrypoint = exec_form(
        last.last("ENTRYPOINT")
            .context("runtime/Dockerfile has no ENTRYPOINT")?,
        "ENTRYPOINT",
    )?;
    let cmd = exec_form(
        last.last("CMD").context("runtime/Dockerfile has no CMD")?,
        "CMD",
    )?;
    let (_, config) = oci_image(&built("runtime")?.path)?;
    let config = &config["config"];
    let got_entrypoint: Vec<String> = serde_json::from_value(config["Entrypoint"].clone())?;
    let got_cmd: Vec<String> = serde_json::from_value(config["Cmd"].clone())?;
    ensure!(
        got_entrypoint == entrypoint,
        "the runtime image's entrypoint is {got_entrypoint:?}, runtime/Dockerfile's {entrypoint:?}"
    );
    ensure!(
        got_cmd == cmd,
        "the runtime image's cmd is {got_cmd:?}, runtime/Dockerfile's {cmd:?}"
    );
    Ok(())
}

#[test]
fn images_carry_the_references_tests_load_them_under() -> Result<()> {
    let mut expected = BTreeMap::from([
        (
            "pause".to_owned(),
            "registry.k8s.io/pause:3.10.1".to_owned(),
        ),
        ("runtime".to_owned(), "execenv.test/runtime:dev".to_owned()),
        ("python".to_owned(), "execenv.test/python:3.11".to_owned()),
        ("r".to_owned(), "execenv.test/r:4.2".to_owned()),
    ]);
    for service in SERVICES {
        expected.insert(service.to_owned(), format!("execenv.test/{service}:dev"));
    }
    let listed: BTreeMap<String, String> = images()?
        .iter()
        .map(|(name, l)| (name.clone(), l.reference.clone()))
        .collect();
    ensure!(
        listed == expected,
        "e2e/infra/images list: {listed:?}, expected {expected:?}"
    );
    // The built ones name their manifest with the full reference (`ctr images import` uses it)
    // and the tag.
    for name in ["pause", "runtime"].into_iter().chain(SERVICES) {
        let (descriptor, _) = oci_image(&built(name)?.path)?;
        let annotations = &descriptor["annotations"];
        ensure!(
            annotations["io.containerd.image.name"] == expected[name].as_str(),
            "{name}: index.json names it {}",
            annotations["io.containerd.image.name"]
        );
        let tag = expected[name].rsplit_once(':').map(|(_, tag)| tag);
        ensure!(
            annotations["org.opencontainers.image.ref.name"].as_str() == tag,
            "{name}: index.json tags it {}",
            annotations["org.opencontainers.image.ref.name"]
        );
    }
    Ok(())
}

#[test]
fn images_pause_is_kubernetes_pause_alone() -> Result<()> {
    // kubernetes' build/pause/Dockerfile: FROM scratch, ADD pause, USER 65535:65535,
    // ENTRYPOINT ["/pause"].
    let (_, config) = oci_image(&built("pause")?.path)?;
    ensure!(
        config["config"]["Entrypoint"] == serde_json::json!(["/pause"]),
        "pause: entrypoint {}",
        config["config"]["Entrypoint"]
    );
    ensure!(
        config["config"]["User"] == "65535:65535",
        "pause: user {}",
        config["config"]["User"]
    );
    ensure!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len) == Some(1),
        "pause: not one layer: {}",
        config["rootfs"]
    );
    Ok(())
}
