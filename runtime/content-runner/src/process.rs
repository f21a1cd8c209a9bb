//! Child processes: SIGTERM/SIGINT forwarding, exit codes, and streaming a child's output to our
//! stderr as it happens while keeping the lines that explain a failure.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use rustix::process::{Pid, Signal as UnixSignal, kill_process};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::Error;

/// The runner's SIGTERM and SIGINT handlers. Installed before a child starts, so a signal that
/// arrives at any time after is forwarded rather than killing the runner.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for `child` to exit, forwarding every SIGTERM and SIGINT the runner receives to it.
    pub async fn wait(&mut self, child: &mut Child) -> std::io::Result<ExitStatus> {
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        loop {
            tokio::select! {
                status = child.wait() => return status,
                Some(()) = self.term.recv() => forward(pid, UnixSignal::TERM),
                Some(()) = self.int.recv() => forward(pid, UnixSignal::INT),
            }
        }
    }
}

fn forward(pid: Option<Pid>, signal: UnixSignal) {
    if let Some(pid) = pid {
        // The child may have exited an instant ago (ESRCH): its exit status arrives next.
        let _ = kill_process(pid, signal);
    }
}

/// The exit code to report for a child's status: its code, or 128 + the signal that ended it.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}

/// Describes how a child ended, e.g. `exited with code 2` or `was ended by signal 15`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (_, Some(signal)) => format!("was ended by signal {signal}"),
        _ => "ended".into(),
    }
}

/// The last lines of a child's output, kept to explain a failure.
#[derive(Debug, Default)]
pub struct Transcript {
    tail: VecDeque<String>,
    errors: VecDeque<String>,
}

/// How many lines a transcript keeps of each kind.
const KEPT_LINES: usize = 20;

impl Transcript {
    /// Adds one line of output.
    pub fn push(&mut self, line: String) {
        if line.contains("ERROR") {
            keep_last(&mut self.errors, line.clone());
        }
        keep_last(&mut self.tail, line);
    }

    /// The lines that explain a failure: the last lines mentioning `ERROR`, else the last lines.
    pub fn reason(&self) -> String {
        let lines = if self.errors.is_empty() {
            &self.tail
        } else {
            &self.errors
        };
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn keep_last(lines: &mut VecDeque<String>, line: String) {
    if lines.len() == KEPT_LINES {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// Runs `command` with stdin closed, copying each line it prints (stdout and stderr) to the
/// runner's stderr as `[label] line` as soon as it is printed, and forwarding signals to it.
pub async fn run_logged(
    command: &mut Command,
    label: &str,
    signals: &mut Signals,
) -> std::io::Result<(ExitStatus, Transcript)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut transcript = Transcript::default();
    let pump = async {
        let mut out = stdout.map(BufReader::new);
        let mut err = stderr.map(BufReader::new);
        let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
        loop {
            tokio::select! {
                line = next_line(&mut out, &mut out_buf), if out.is_some() => match line {
                    Some(line) => echo(&mut transcript, label, line),
                    None => out = None,
                },
                line = next_line(&mut err, &mut err_buf), if err.is_some() => match line {
                    Some(line) => echo(&mut transcript, label, line),
                    None => err = None,
                },
                else => break,
            }
        }
    };
    let (status, ()) = tokio::join!(signals.wait(&mut child), pump);
    Ok((status?, transcript))
}

/// Runs `command` as [`run_logged`] does and requires it to succeed. When it cannot start, the
/// error is `cannot_start` with the I/O error; when it fails, it is `failed`, how the command
/// ended and the lines of its output that explain why.
pub async fn run_to_success(
    command: &mut Command,
    label: &str,
    signals: &mut Signals,
    cannot_start: &str,
    failed: &str,
) -> Result<(), Error> {
    let (status, transcript) = run_logged(command, label, signals)
        .await
        .map_err(|err| Error::io(cannot_start, err))?;
    if status.success() {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "{failed} ({}): {}",
        describe(status),
        transcript.reason()
    )))
}

/// The next line without its newline; `None` at the end (or on a read error).
async fn next_line<R: AsyncRead + Unpin>(
    reader: &mut Option<BufReader<R>>,
    buf: &mut Vec<u8>,
) -> Option<String> {
    let reader = reader.as_mut()?;
    buf.clear();
    match reader.read_until(b'\n', buf).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(
            String::from_utf8_lossy(buf)
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        ),
    }
}

fn echo(transcript: &mut Transcript, label: &str, line: String) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "[{label}] {line}");
    transcript.push(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_prefers_error_lines_and_keeps_the_last_twenty() {
        let mut transcript = Transcript::default();
        for i in 0..30 {
            transcript.push(format!("Collecting package {i}"));
        }
        let tail = transcript.reason();
        assert_eq!(tail.lines().count(), 20);
        assert!(
            tail.starts_with("Collecting package 10") && tail.ends_with("Collecting package 29")
        );
        transcript
            .push("ERROR: Could not find a version that satisfies the requirement nope".into());
        transcript.push("ERROR: No matching distribution found for nope".into());
        transcript.push("trailing".into());
        assert_eq!(
            transcript.reason(),
            "ERROR: Could not find a version that satisfies the requirement nope\nERROR: No matching distribution found for nope"
        );
    }

    #[test]
    fn exit_codes_come_from_the_code_or_the_signal() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(describe(ExitStatus::from_raw(15)), "was ended by signal 15");
        assert_eq!(describe(ExitStatus::from_raw(0)), "exited with code 0");
    }

    #[tokio::test]
    async fn logged_output_is_kept_for_the_reason() {
        let mut signals = Signals::install().expect("signals");
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo 'ERROR: bad' >&2; exit 4"]);
        let (status, transcript) = run_logged(&mut command, "test", &mut signals)
            .await
            .expect("run");
        assert_eq!(exit_code(status), 4);
        assert_eq!(transcript.reason(), "ERROR: bad");
        assert_eq!(transcript.tail.len(), 2);
    }
}
