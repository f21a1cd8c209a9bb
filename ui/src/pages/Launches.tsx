import { useEffect, useRef, useState } from 'react';
import { api, EXECENV } from '../api';
import { formatDuration, formatTime, launchDurations } from '../format';
import { Link } from '../router';
import type { Launch } from '../types';

const STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];

export function Launches() {
  const [launches, setLaunches] = useState<Launch[] | null>(null);
  const [state, setState] = useState('');
  const [kind, setKind] = useState('');
  const [content, setContent] = useState('');
  const [error, setError] = useState('');
  const [now, setNow] = useState(Date.now());
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => heading.current?.focus({ preventScroll: true }), []);

  useEffect(() => {
    const params = new URLSearchParams();
    if (state) params.set('state', state);
    if (kind) params.set('kind', kind);
    if (/^[0-9a-f-]{36}$/i.test(content.trim())) params.set('content_guid', content.trim().toLowerCase());
    const qs = params.toString() ? `?${params}` : '';
    let stop = false;
    const load = () =>
      api
        .get<Launch[]>(`${EXECENV}/launches${qs}`)
        .then((l) => {
          if (stop) return;
          setLaunches([...l].sort((a, b) => (b.created_time ?? '').localeCompare(a.created_time ?? '')));
          setError('');
          setNow(Date.now());
        })
        .catch((e: Error) => !stop && setError(e.message));
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
      <p className="muted">Builds and runs of content, newest first; the list refreshes every few seconds.</p>
      <form className="filters" role="search" aria-label="Filter launches" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="launch-state">State</label>
          <select id="launch-state" value={state} onChange={(e) => setState(e.target.value)}>
            <option value="">Any</option>
            <option value="pending,running">Pending or running</option>
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
            <option value="build">build</option>
            <option value="run">run</option>
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
      <div className="table-wrap" role="region" aria-label="Launches table" tabIndex={0}>
        <table className="table" aria-label="Launches">
          <thead>
            <tr>
              <th scope="col">Launch</th>
              <th scope="col">State</th>
              <th scope="col">Reason</th>
              <th scope="col">Kind</th>
              <th scope="col">Content</th>
              <th scope="col">Environment</th>
              <th scope="col">Created</th>
              <th scope="col">Waited</th>
              <th scope="col">Ran</th>
            </tr>
          </thead>
          <tbody>
            {launches?.length === 0 && (
              <tr>
                <td colSpan={9} className="empty">
                  No launches.
                </td>
              </tr>
            )}
            {launches?.map((l) => {
              const d = launchDurations(l, now);
              return (
                <tr key={l.id}>
                  <th scope="row" className="mono">
                    <Link to={`/launches/${encodeURIComponent(l.id)}`} aria-label={`Launch ${l.id}`}>
                      {l.id.length > 13 ? `${l.id.slice(0, 13)}…` : l.id}
                    </Link>
                  </th>
                  <td>
                    <span className={`pill ${l.state}`}>{l.state}</span>
                  </td>
                  <td>
                    {l.reason}
                    {l.message && <span className="muted small-text block">{l.message}</span>}
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
          </tbody>
        </table>
      </div>
    </>
  );
}
