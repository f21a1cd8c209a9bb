import { useEffect, useRef, useState } from 'react';
import { launches as launchApi } from '../api';
import { InteractiveSummary, loadInteractive, type InteractiveState } from '../components/InteractiveSummary';
import { OpenLink } from '../components/OpenLink';
import { ScrollTable } from '../components/ScrollTable';
import { coldStart, formatDuration, formatTime, launchDurations, plural } from '../format';
import { Link } from '../router';
import type { Launch } from '../types';

const STATES = ['pending', 'running', 'ready', 'succeeded', 'failed', 'cancelled'];
const KINDS = ['build', 'run', 'interactive'];
const COLUMNS = ['Launch', 'State', 'Reason', 'Kind', 'Content', 'Environment', 'Created', 'Waited', 'Ran'];

export function Launches() {
  const [launches, setLaunches] = useState<Launch[] | null>(null);
  const [state, setState] = useState('');
  const [kind, setKind] = useState('');
  const [content, setContent] = useState('');
  const [error, setError] = useState('');
  const [interactive, setInteractive] = useState<InteractiveState | null>(null);
  const [interactiveError, setInteractiveError] = useState('');
  const [now, setNow] = useState(Date.now());
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => heading.current?.focus({ preventScroll: true }), []);

  useEffect(() => {
    const guid = content.trim();
    const filter = { state, kind, content_guid: /^[0-9a-f-]{36}$/i.test(guid) ? guid.toLowerCase() : '' };
    let stop = false;
    const load = () => {
      launchApi
        .list(filter)
        .then((l) => {
          if (stop) return;
          setLaunches([...l].sort((a, b) => (b.created_time ?? '').localeCompare(a.created_time ?? '')));
          setError('');
          setNow(Date.now());
        })
        .catch((e: Error) => !stop && setError(e.message));
      // The summary follows the same polling; it keeps its last answer when a refresh fails.
      loadInteractive()
        .then((data) => {
          if (stop) return;
          setInteractive(data);
          setInteractiveError('');
        })
        .catch((e: Error) => !stop && setInteractiveError(e.message));
    };
    void load();
    const t = window.setInterval(load, 3000);
    return () => {
      stop = true;
      window.clearInterval(t);
    };
  }, [state, kind, content]);

  return (
    <>
      <h1 ref={heading} tabIndex={-1}>
        Launches
      </h1>
      <p className="muted">Builds, runs and interactive content, newest first; the page refreshes every few seconds.</p>
      {interactive && <InteractiveSummary data={interactive} error={interactiveError} now={now} />}
      <form className="filters" role="search" aria-label="Filter launches" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="launch-state">State</label>
          <select id="launch-state" value={state} onChange={(e) => setState(e.target.value)}>
            <option value="">Any</option>
            <option value="pending,running,ready">Pending, running or ready</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="launch-kind">Kind</label>
          <select id="launch-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
            <option value="">Any</option>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </div>
        <div className="field grow">
          <label htmlFor="launch-content">Content guid</label>
          <input id="launch-content" value={content} spellCheck={false} onChange={(e) => setContent(e.target.value)} />
        </div>
      </form>
      {error && (
        <p className="banner error" role="alert">
          Could not load the launches: {error}
        </p>
      )}
      <p className="count" role="status">
        {launches ? `${launches.length} ${launches.length === 1 ? 'launch' : 'launches'}` : 'Loading…'}
      </p>
      <ScrollTable label="Launches" columns={COLUMNS}>
        {launches?.length === 0 && (
          <tr>
            <td colSpan={COLUMNS.length} className="empty">
              No launches.
            </td>
          </tr>
        )}
        {launches?.map((l) => {
          const d = launchDurations(l, now);
          return (
            <tr key={l.id}>
              <th scope="row" className="mono">
                {/* The whole id is the text, cut short on screen by CSS, so that the name read out
                    contains what is seen however long the id is (app-<guid>-<time>). */}
                <Link to={`/launches/${encodeURIComponent(l.id)}`} className="id-link" title={l.id} aria-label={`Launch ${l.id}`}>
                  {l.id}
                </Link>
              </th>
              <td>
                <span className={`pill ${l.state}`}>{l.state}</span>
                {l.kind === 'interactive' && <Serving launch={l} />}
              </td>
              <td>
                {l.reason}
                {l.message && <span className="muted small-text block">{l.message}</span>}
                {l.restarts > 0 && <span className="small-text block warn-text">{plural(l.restarts, 'restart')}</span>}
              </td>
              <td>{l.kind}</td>
              <td className="mono">
                {l.content_guid.slice(0, 8)}… #{l.bundle}
              </td>
              <td>{l.environment_title || <span className="muted">—</span>}</td>
              <td className="nowrap">{formatTime(l.created_time)}</td>
              <td className="nowrap">{formatDuration(d.waited)}</td>
              <td className="nowrap">{formatDuration(d.ran)}</td>
            </tr>
          );
        })}
      </ScrollTable>
    </>
  );
}

/** Next to an interactive launch's state: Open while it answers, and how long it took to answer. */
function Serving({ launch }: { launch: Launch }) {
  const cold = coldStart(launch);
  return (
    <>
      {launch.state === 'ready' && (
        <>
          {' '}
          <OpenLink guid={launch.content_guid} />
        </>
      )}
      {cold != null && <span className="muted small-text block nowrap">cold start {formatDuration(cold)}</span>}
    </>
  );
}
