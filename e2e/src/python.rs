//! The host's Python for tests that build content offline: the real interpreter and its version,
//! and a tiny wheel made with Python's zipfile for pip to find under `PIP_FIND_LINKS`.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, ensure};

/// The real interpreter behind `python3` (not a pyenv shim).
pub fn host_python() -> Result<String> {
    python3(&["-c", "import sys; print(sys.executable)"])
}

/// The version of `python3`, e.g. `3.11.7`.
pub fn host_python_version() -> Result<String> {
    python3(&[
        "-c",
        "import sys; print('.'.join(map(str, sys.version_info[:3])))",
    ])
}

fn python3(args: &[&str]) -> Result<String> {
    let out = Command::new("python3").args(args).output()?;
    ensure!(out.status.success(), "python3 is needed for these tests");
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// Builds `tinypkg-<version>-py3-none-any.whl` in `dir` with Python's zipfile (no build tools);
/// `import tinypkg; tinypkg.VALUE` is `hello from tinypkg <version>`.
pub fn make_wheel(dir: &Path, version: &str) -> Result<()> {
    let script = r#"
import sys, zipfile
folder, version = sys.argv[1], sys.argv[2]
info = f"tinypkg-{version}.dist-info"
files = {
    "tinypkg/__init__.py": f'VALUE = "hello from tinypkg {version}"\n',
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tinypkg\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: execenv-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
with zipfile.ZipFile(f"{folder}/tinypkg-{version}-py3-none-any.whl", "w") as whl:
    for name, text in files.items():
        whl.writestr(name, text)
"#;
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(version)
        .status()?;
    ensure!(status.success(), "could not build the test wheel");
    Ok(())
}
