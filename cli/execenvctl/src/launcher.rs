//! Running `launch` and `launches` against the launcher: one call each, or a stream whose items
//! (watched changes, log chunks) are written as they arrive instead of being collected into the
//! [`Report`].

use std::io::{ErrorKind as IoErrorKind, Write};

use execenv_core::{Error, ErrorKind};
use execenv_proto::launcher::v1 as pb;

use crate::args::OutputFormat;
use crate::connection::Launcher;
use crate::launch::{self, LaunchView};
use crate::launch_args::{LaunchCommand, LaunchesCommand};
use crate::render;
use crate::report::Report;
use crate::session::Session;

/// Where streamed output goes. A reader that went away (`… | head`) is not an error: the sink
/// closes and later writes are dropped.
pub struct Sink<'a> {
    out: &'a mut dyn Write,
    open: bool,
}

impl<'a> Sink<'a> {
    /// A sink writing to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Sink { out, open: true }
    }

    /// Writes and flushes `bytes`; false once the reader has gone.
    fn write(&mut self, bytes: &[u8]) -> Result<bool, Error> {
        if !self.open {
            return Ok(false);
        }
        match self.out.write_all(bytes).and_then(|()| self.out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == IoErrorKind::BrokenPipe => {
                self.open = false;
                Ok(false)
            }
            Err(e) => Err(Error::internal(format!("cannot write the output: {e}"))),
        }
    }
}

/// `launch build|run`: starts the launch and prints it; with `--wait`, follows it to the end
/// (its changes printed as they happen) and reports failure through the exit code.
pub async fn launch(
    session: &Session,
    command: &LaunchCommand,
    sink: &mut Sink<'_>,
) -> Result<Report, Error> {
    let format = session.output();
    let (kind, args, program) = match command {
        LaunchCommand::Build(a) => (pb::Kind::Build, a, &[][..]),
        LaunchCommand::Run(r) => (pb::Kind::Run, &r.launch, r.command.as_slice()),
    };
    let id = launch::request_id(args.request_id.as_deref());
    let request = launch::launch_request(kind, args, program, id.clone())?;
    let launcher = session.launcher().await?;
    let launched = launcher
        .call(|mut c| async move { c.launch(request).await })
        .await
        .map_err(|e| match args.request_id {
            None => with_request_id(e, &id),
            Some(_) => e,
        })?;
    if !args.wait {
        return launch_report(launched, format);
    }
    if format == OutputFormat::Table {
        sink.write(launch::launch_block(&LaunchView::from(launched.clone())).as_bytes())?;
    }
    let last = if launch::is_finished(&launched) {
        launched
    } else {
        let echo = (format == OutputFormat::Table).then_some(format);
        let watch = Watch {
            id: launched.id.clone(),
            echo,
            stop_when_unread: false,
        };
        watch
            .follow(&launcher, Some(launched), sink)
            .await?
            .filter(launch::is_finished)
            .ok_or_else(|| {
                Error::unavailable(format!(
                    "the launcher stopped reporting launch {id} before it finished; \
                     see `execenvctl launches get {id}`"
                ))
            })?
    };
    let exit_code = if launch::succeeded(&last) { 0 } else { 1 };
    let last = LaunchView::from(last);
    Ok(Report {
        stdout: match format {
            OutputFormat::Table => String::new(),
            _ => render::document(&last, format)?,
        },
        note: Some(launch::outcome_note(&last)),
        exit_code,
    })
}

/// `launches list|get|watch|cancel|logs`.
pub async fn launches(
    session: &Session,
    command: LaunchesCommand,
    sink: &mut Sink<'_>,
) -> Result<Report, Error> {
    let format = session.output();
    let launcher = session.launcher().await?;
    match command {
        LaunchesCommand::List(a) => {
            let request = launch::list_request(&a);
            let listed = launcher
                .call(|mut c| async move { c.list(request).await })
                .await?;
            let list: Vec<LaunchView> = listed.launches.into_iter().map(Into::into).collect();
            Report::list(&list, format, launch::launches_table, || {
                render::list_footer(list.len(), None, "launches", "")
            })
        }
        LaunchesCommand::Get { id } => {
            let request = pb::GetLaunchRequest { id };
            let found = launcher
                .call(|mut c| async move { c.get(request).await })
                .await?;
            launch_report(found, format)
        }
        LaunchesCommand::Cancel { id } => {
            let request = pb::CancelLaunchRequest { id };
            let cancelled = launcher
                .call(|mut c| async move { c.cancel(request).await })
                .await?;
            launch_report(cancelled, format)
        }
        LaunchesCommand::Watch { id } => {
            let watch = Watch {
                id: id.unwrap_or_default(),
                echo: Some(format),
                stop_when_unread: true,
            };
            watch.follow(&launcher, None, sink).await?;
            Ok(Report::default())
        }
        LaunchesCommand::Logs { id, follow } => {
            let request = pb::LogsRequest { id, follow };
            let mut stream = launcher
                .call(|mut c| async move { c.logs(request).await })
                .await?;
            while let Some(chunk) = launcher.next(&mut stream).await? {
                if !sink.write(&chunk.data)? {
                    break;
                }
            }
            Ok(Report::default())
        }
    }
}

/// A `Watch` of one launch (or, with an empty id, of every launch) and how its changes print.
struct Watch {
    id: String,
    /// The format to print each change in; `None` prints nothing.
    echo: Option<OutputFormat>,
    /// Whether to stop once the reader has gone (else keep following, silently).
    stop_when_unread: bool,
}

impl Watch {
    /// Follows the launch until the launcher ends the stream and returns the last state seen.
    /// `shown` is the state already printed: a change equal to the one before is not repeated.
    async fn follow(
        self,
        launcher: &Launcher,
        shown: Option<pb::Launch>,
        sink: &mut Sink<'_>,
    ) -> Result<Option<pb::Launch>, Error> {
        let request = pb::WatchLaunchesRequest { id: self.id };
        let mut stream = launcher
            .call(|mut c| async move { c.watch(request).await })
            .await?;
        let mut last = shown;
        while let Some(event) = launcher.next(&mut stream).await? {
            let Some(current) = event.launch else {
                continue;
            };
            if last.as_ref() == Some(&current) {
                continue;
            }
            if let Some(format) = self.echo {
                let text = launch::event_text(&LaunchView::from(current.clone()), format)?;
                if !sink.write(text.as_bytes())? && self.stop_when_unread {
                    break;
                }
            }
            last = Some(current);
        }
        Ok(last)
    }
}

fn launch_report(l: pb::Launch, format: OutputFormat) -> Result<Report, Error> {
    Report::one(&LaunchView::from(l), format, launch::launch_block)
}

/// A `Launch` whose outcome is unknown (the launcher unreachable or failing inside it) names the
/// generated request id, so the same launch can be asked for again instead of starting another.
fn with_request_id(mut e: Error, id: &str) -> Error {
    if matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal) {
        e.message = format!(
            "{} (request id {id}: repeat with --request-id {id} to get this launch rather than \
             start another)",
            e.message
        );
    }
    e
}
