import { useEffect, useRef, useState } from 'react';
import { api, EXECENV } from '../api';
import { diffFields, permissionChanges } from '../activity';
import { EnvironmentPicker } from '../components/EnvironmentPicker';
import { directory } from '../directory';
import { envTitle, formatTime } from '../format';
import { isGuid } from '../guids';
import { useLive } from '../live';
import { changesQuery } from '../query';
import type { Change, ChangesPage, Group, User } from '../types';

/** Users and groups by lower-case guid. */
interface Names {
  users: Map<string, User>;
  groups: Map<string, Group>;
}

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
  // What the environment field shows, and the environment whose changes are shown (its guid).
  const [envText, setEnvText] = useState('');
  const [env, setEnv] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [changes, setChanges] = useState<Change[] | null>(null);
  const [next, setNext] = useState('');
  const [error, setError] = useState('');
  const [reload, setReload] = useState(0);
  const [names, setNames] = useState<Names | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => heading.current?.focus({ preventScroll: true }), []);

  // Actors and access-list entries are guids: name them (the page is for administrators, who
  // may list users and groups).
  useEffect(() => {
    directory(true).then(
      (d) =>
        setNames({
          users: new Map([...d.users.values()].map((u) => [u.guid.toLowerCase(), u])),
          groups: new Map([...d.groups.values()].map((g) => [g.guid.toLowerCase(), g])),
        }),
      () => undefined,
    );
  }, []);

  const query = (token = '') => changesQuery({ environment_guid: env, since, until, page_size: 100, page_token: token });

  // The field: a chosen environment, a pasted guid, or text being typed (no filter until chosen).
  const typed = (text: string) => {
    setEnvText(text);
    setEnv(isGuid(text) ? text.trim().toLowerCase() : '');
  };
  const only = (guid: string, label: string) => {
    setEnvText(label);
    setEnv(guid.toLowerCase());
  };

  useEffect(() => {
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
        <EnvironmentPicker
          id="act-env"
          label="Environment"
          hint="Type a title or an image and choose, or paste a guid."
          text={envText}
          onText={typed}
          onChoose={(e) => only(e.guid, envTitle(e))}
          onClear={() => only('', '')}
        />
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
                <span className="nowrap muted">{formatTime(c.time)}</span> <Actor actor={c.actor} users={names?.users ?? null} /> {ACTION_LABEL[c.action] ?? c.action}{' '}
                <button type="button" className="linkish" onClick={() => only(c.environment_guid, nameOf(c))} aria-label={`Show only changes of ${nameOf(c)}`}>
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
              {c.action.startsWith('permission') && <PermissionDiff c={c} names={names} />}
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

/** Who made a change: the username of a user guid; a guid no user has (a deleted user) with a note; else as recorded (`config-sync`). */
function Actor({ actor, users }: { actor: string; users: Map<string, User> | null }) {
  const id = actor.replace(/^user:/, '');
  if (!isGuid(id)) return <strong>{actor}</strong>;
  const user = users?.get(id.toLowerCase());
  if (user) return <strong title={`user ${user.guid}`}>{user.username}</strong>;
  return (
    <>
      <strong className="mono">{id}</strong>
      {users && <span className="badge plain actor-note">unknown user, perhaps deleted</span>}
    </>
  );
}

/** What a permission change did to the access list, with users and groups by name. */
function PermissionDiff({ c, names }: { c: Change; names: Names | null }) {
  const changes = permissionChanges(c.before, c.after);
  if (!changes.length) return null;
  return (
    <p className="small-text permission-changes">
      {changes.map((p) => {
        const known = p.kind === 'user' ? names?.users.get(p.guid.toLowerCase())?.username : names?.groups.get(p.guid.toLowerCase())?.name;
        return (
          <span className="block" key={`${p.change}-${p.kind}-${p.guid}`}>
            {p.change === 'added' ? 'may now be used by' : 'may no longer be used by'} {p.kind}{' '}
            {known ? <strong title={`${p.kind} ${p.guid}`}>{known}</strong> : <span className="mono">{p.guid}</span>}
          </span>
        );
      })}
    </p>
  );
}
