import { useEffect, useRef, useState } from 'react';
import { api, EXECENV } from '../api';
import { diffFields } from '../activity';
import { formatTime } from '../format';
import { useLive } from '../live';
import { changesQuery } from '../query';
import type { Change, ChangesPage } from '../types';

const ACTION_LABEL: Record<string, string> = {
  create: 'created',
  update: 'changed',
  delete: 'deleted',
  'permission-add': 'allowed',
  'permission-remove': 'disallowed',
};

function nameOf(c: Change): string {
  const e = (c.after ?? c.before ?? {}) as Record<string, unknown>;
  const t = (e.title as string) || (e.name as string) || (e.image as string) || '';
  return t || c.environment_guid;
}

export function Activity() {
  const [env, setEnv] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [changes, setChanges] = useState<Change[] | null>(null);
  const [next, setNext] = useState('');
  const [error, setError] = useState('');
  const [reload, setReload] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);
  const envValid = !env.trim() || /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(env.trim());

  useEffect(() => heading.current?.focus({ preventScroll: true }), []);

  const query = (token = '') => changesQuery({ environment_guid: envValid ? env.trim().toLowerCase() : '', since, until, page_size: 100, page_token: token });

  useEffect(() => {
    if (!envValid) return;
    let stop = false;
    api
      .get<ChangesPage>(`${EXECENV}/changes${query()}`)
      .then((p) => {
        if (stop) return;
        setChanges(p.changes);
        setNext(p.next_page_token);
        setError('');
      })
      .catch((e: Error) => !stop && setError(e.message));
    return () => {
      stop = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [env, since, until, reload]);

  useLive('catalogue', () => setReload((n) => n + 1));

  const more = async () => {
    try {
      const p = await api.get<ChangesPage>(`${EXECENV}/changes${query(next)}`);
      setChanges((c) => [...(c ?? []), ...p.changes]);
      setNext(p.next_page_token);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  // Newest first.
  const list = [...(changes ?? [])].sort((a, b) => b.revision - a.revision);

  return (
    <>
      <h1 ref={heading} tabIndex={-1}>
        Activity
      </h1>
      <p className="muted">The audit trail: who changed which environment, when, field by field.</p>
      <form className="filters" role="search" aria-label="Filter activity" onSubmit={(e) => e.preventDefault()}>
        <div className="field grow">
          <label htmlFor="act-env">Environment guid</label>
          <input
            id="act-env"
            value={env}
            spellCheck={false}
            aria-invalid={!envValid || undefined}
            aria-describedby={!envValid ? 'act-env-error' : undefined}
            onChange={(e) => setEnv(e.target.value)}
          />
          {!envValid && (
            <span id="act-env-error" className="field-error">
              A guid looks like 6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70.
            </span>
          )}
        </div>
        <div className="field">
          <label htmlFor="act-since">From</label>
          <input id="act-since" type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="act-until">Until</label>
          <input id="act-until" type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        </div>
      </form>
      {error && (
        <p className="banner error" role="alert">
          Could not load the activity: {error}
        </p>
      )}
      <p className="count" role="status">
        {changes ? `${list.length}${next ? '+' : ''} ${list.length === 1 ? 'change' : 'changes'}` : 'Loading…'}
      </p>
      <ol className="changes" aria-label="Changes">
        {list.map((c) => {
          const diff = c.action === 'update' ? diffFields(c.before, c.after) : [];
          return (
            <li key={`${c.revision}-${c.environment_guid}-${c.action}`} className="change">
              <div className="change-head">
                <span className="nowrap muted">{formatTime(c.time)}</span> <strong>{c.actor}</strong> {ACTION_LABEL[c.action] ?? c.action}{' '}
                <button type="button" className="linkish" onClick={() => setEnv(c.environment_guid)} aria-label={`Show only changes of ${nameOf(c)}`}>
                  {nameOf(c)}
                </button>{' '}
                <span className="badge plain">{c.source}</span> <span className="muted small-text">revision {c.revision}</span>
              </div>
              {diff.length > 0 && (
                <table className="diff">
                  <thead>
                    <tr>
                      <th scope="col">Field</th>
                      <th scope="col">Before</th>
                      <th scope="col">After</th>
                    </tr>
                  </thead>
                  <tbody>
                    {diff.map((d) => (
                      <tr key={d.field}>
                        <th scope="row">{d.field}</th>
                        <td className="mono">{d.before || <span className="muted">—</span>}</td>
                        <td className="mono">{d.after || <span className="muted">—</span>}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {c.action.startsWith('permission') && <PermissionDiff c={c} />}
            </li>
          );
        })}
      </ol>
      {next && (
        <button type="button" className="btn" onClick={more}>
          Older changes
        </button>
      )}
    </>
  );
}

function PermissionDiff({ c }: { c: Change }) {
  const d = diffFields(c.before, c.after).filter((x) => /perm|user|group|access/i.test(x.field));
  if (!d.length) return null;
  return (
    <p className="mono small-text">
      {d.map((x) => (
        <span key={x.field} className="block">
          {x.field}: {x.before || '—'} → {x.after || '—'}
        </span>
      ))}
    </p>
  );
}
