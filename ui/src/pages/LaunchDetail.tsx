import { useEffect, useRef, useState } from 'react';
import { ApiError, launches, launchPath, parseError } from '../api';
import { OpenLink } from '../components/OpenLink';
import { coldStart, formatDuration, formatTime, launchDurations, launchNotice } from '../format';
import { Link } from '../router';
import type { Launch } from '../types';

const ACTIVE = new Set(['pending', 'running', 'ready']);

export function LaunchDetail({ id }: { id: string }) {
  const [launch, setLaunch] = useState<Launch | null>(null);
  const [error, setError] = useState('');
  const [log, setLog] = useState('');
  const [logState, setLogState] = useState<'waiting' | 'streaming' | 'ended' | 'failed'>('waiting');
  const [logError, setLogError] = useState('');
  const [cancelMsg, setCancelMsg] = useState('');
  const [now, setNow] = useState(Date.now());
  const heading = useRef<HTMLHeadingElement>(null);
  const logRef = useRef<HTMLPreElement>(null);
  const path = launchPath(id);

  useEffect(() => heading.current?.focus({ preventScroll: true }), []);

  // The launch, re-read every 2 s while it is pending, running or ready.
  useEffect(() => {
    let stop = false;
    let timer: number | undefined;
    const load = async () => {
      try {
        const l = await launches.get(id);
        if (stop) return;
        setLaunch(l);
        setError('');
        setNow(Date.now());
        if (ACTIVE.has(l.state)) timer = window.setTimeout(load, 2000);
      } catch (e) {
        if (!stop) setError((e as Error).message);
      }
    };
    void load();
    return () => {
      stop = true;
      window.clearTimeout(timer);
    };
  }, [id]);

  // The output, streamed with fetch while the launch runs (?follow=true ends when it finishes).
  useEffect(() => {
    const ctl = new AbortController();
    (async () => {
      try {
        const res = await fetch(`${path}/logs?follow=true`, { credentials: 'same-origin', signal: ctl.signal, headers: { Accept: 'text/plain' } });
        if (!res.ok) {
          const err = await parseError(res);
          setLogError(err.message);
          setLogState('failed');
          return;
        }
        setLogState('streaming');
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (value) setLog((l) => l + value);
        }
        setLogState('ended');
        // The launch has finished: show its final state.
        launches.get(id).then(setLaunch, () => undefined);
      } catch (e) {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        setLogError((e as Error).message);
        setLogState('failed');
      }
    })();
    return () => ctl.abort();
  }, [path]);

  // Keep the newest output in view when the reader is at the bottom.
  useEffect(() => {
    const el = logRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [log]);

  // An interactive launch is stopped rather than cancelled: the gateway starts another on the
  // content's next request.
  const interactive = launch?.kind === 'interactive';
  const verb = interactive ? 'Stop' : 'Cancel';
  const cancel = async () => {
    setCancelMsg('');
    try {
      const l = await launches.cancel(id);
      if (l && typeof l === 'object') setLaunch(l);
      setCancelMsg(interactive ? 'Stop requested; the next request to the content starts the app again.' : 'Cancel requested.');
    } catch (e) {
      setCancelMsg(e instanceof ApiError ? `${verb} failed: ${e.message}` : String(e));
    }
  };

  const d = launch ? launchDurations(launch, now) : null;
  const notice = launch ? launchNotice(launch) : null;
  return (
    <>
      <p>
        <Link to="/launches">← All launches</Link>
      </p>
      <div className="page-head">
        <h1 ref={heading} tabIndex={-1}>
          Launch <span className="mono">{id}</span>
        </h1>
        <div className="head-actions">
          {launch?.kind === 'interactive' && launch.state === 'ready' && <OpenLink guid={launch.content_guid} />}
          {launch && ACTIVE.has(launch.state) && (
            <button type="button" className="btn danger" onClick={cancel} aria-describedby={interactive ? 'stop-hint' : undefined}>
              {verb}
            </button>
          )}
        </div>
      </div>
      {interactive && launch && ACTIVE.has(launch.state) && (
        <p id="stop-hint" className="muted small-text">
          Stop ends this instance of the app; the gateway starts a new one on the content&rsquo;s next request.
        </p>
      )}
      <p role="status">{cancelMsg}</p>
      {notice && (
        <p className={`banner ${notice.tone}`} role={notice.tone === 'error' ? 'alert' : 'status'} data-testid="launch-notice">
          {notice.text}
        </p>
      )}
      {error && (
        <p className="banner error" role="alert">
          {error}
        </p>
      )}
      {launch && (
        <dl className="kv card">
          <dt>State</dt>
          <dd>
            <span className={`pill ${launch.state}`} data-testid="launch-state">
              {launch.state}
            </span>{' '}
            {launch.reason}
            {launch.exit_code != null && <> (exit code {launch.exit_code})</>}
          </dd>
          {launch.message && !notice && (
            <>
              <dt>Message</dt>
              <dd>{launch.message}</dd>
            </>
          )}
          <dt>Kind</dt>
          <dd>{launch.kind}</dd>
          {interactive && (
            <>
              <dt>Address</dt>
              <dd data-testid="launch-address">{launch.address ? <code>{launch.address}</code> : <span className="muted">not answering yet</span>}</dd>
              <dt>Restarts</dt>
              <dd data-testid="launch-restarts">{launch.restarts}</dd>
              <dt>Ready</dt>
              <dd>
                {launch.ready_time ? (
                  <>
                    {formatTime(launch.ready_time)}{' '}
                    <span className="muted" data-testid="launch-cold-start">
                      (cold start {formatDuration(coldStart(launch))})
                    </span>
                  </>
                ) : (
                  <span className="muted">not yet</span>
                )}
              </dd>
            </>
          )}
          <dt>Content</dt>
          <dd>
            <code>{launch.content_guid}</code>, bundle {launch.bundle}
          </dd>
          <dt>Environment</dt>
          <dd>
            {launch.environment_title || '—'} {launch.image && <code>{launch.image}</code>}
            {launch.selected_by && <span className="muted"> (selected by {launch.selected_by})</span>}
          </dd>
          {launch.installations.length > 0 && (
            <>
              <dt>Installations</dt>
              <dd>
                {launch.installations.map((i) => (
                  <span key={i.language} className="block">
                    {i.language} {i.version} <code>{i.path}</code>
                  </span>
                ))}
              </dd>
            </>
          )}
          <dt>Backend</dt>
          <dd>
            {launch.backend}
            {launch.job_name && (
              <>
                {' '}
                Job <code>{launch.namespace ? `${launch.namespace}/` : ''}{launch.job_name}</code>
              </>
            )}
          </dd>
          <dt>Created</dt>
          <dd>{formatTime(launch.created_time)}</dd>
          <dt>Started</dt>
          <dd>
            {formatTime(launch.started_time)} <span className="muted">(waited {formatDuration(d?.waited)})</span>
          </dd>
          <dt>Finished</dt>
          <dd>
            {formatTime(launch.finished_time)} <span className="muted">(ran {formatDuration(d?.ran)})</span>
          </dd>
        </dl>
      )}
      <h2 id="log-heading">Output</h2>
      <p className="muted small-text" role="status">
        {logState === 'waiting' ? 'Connecting…' : logState === 'streaming' ? 'Streaming while the launch runs…' : logState === 'ended' ? 'End of output.' : `The output cannot be read: ${logError}`}
      </p>
      <pre className="log" ref={logRef} role="log" aria-labelledby="log-heading" tabIndex={0}>
        {log || (logState === 'ended' ? '(no output)' : '')}
      </pre>
    </>
  );
}
