import { useEffect, useState } from 'react';
import { api, ApiError, V1, enc } from '../api';
import { Dialog } from '../components/Dialog';
import { directory, searchGroups, searchUsers } from '../directory';
import { envTitle, userLabel } from '../format';
import { useDebounced } from '../useDebounced';
import type { Environment, Group, Permission, User } from '../types';

interface Props {
  env: Environment;
  onClose(): void;
  onChanged(): void;
}

/** The access list of an environment: who may use it (everyone when empty); add users and groups found by prefix. */
export function AccessDialog({ env, onClose, onChanged }: Props) {
  const base = `${V1}/environments/${enc(env.guid)}/permissions`;
  const [perms, setPerms] = useState<Permission[] | null>(null);
  const [names, setNames] = useState<{ users: Map<string, User>; groups: Map<string, Group> } | null>(null);
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<{ users: User[]; groups: Group[] } | null>(null);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const q = useDebounced(query.trim(), 200);

  const load = () =>
    api
      .get<Permission[]>(base)
      .then(setPerms)
      .catch((e: Error) => setError(e.message));

  useEffect(() => {
    void load();
    directory().then(setNames, () => undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [env.guid]);

  useEffect(() => {
    if (!q) {
      setResults(null);
      return;
    }
    const ctl = new AbortController();
    Promise.all([searchUsers(q, ctl.signal), searchGroups(q, ctl.signal)])
      .then(([users, groups]) => setResults({ users, groups }))
      .catch((e: unknown) => {
        if (!(e instanceof DOMException)) setError((e as Error).message);
      });
    return () => ctl.abort();
  }, [q]);

  const change = async (what: () => Promise<unknown>, done: string) => {
    setBusy(true);
    setError('');
    try {
      await what();
      await load();
      setStatus(done);
      onChanged();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const has = (kind: 'user' | 'group', guid: string) => (perms ?? []).some((p) => (kind === 'user' ? p.user_guid : p.group_guid) === guid);
  const nameOf = (p: Permission) =>
    p.user_guid
      ? { kind: 'User', name: names?.users.get(p.user_guid) ? userLabel(names.users.get(p.user_guid)!) : p.user_guid }
      : { kind: 'Group', name: names?.groups.get(p.group_guid ?? '')?.name ?? p.group_guid ?? '' };

  return (
    <Dialog
      title={`Access to ${envTitle(env)}`}
      onClose={onClose}
      footer={
        <button type="button" className="btn primary" onClick={onClose}>
          Done
        </button>
      }
    >
      {env.managed_by === 'config-file' && <p className="note">This environment is managed by the declarative file; its access list can still be changed here.</p>}
      <h3>Who may use it</h3>
      {perms === null ? (
        <p role="status">Loading…</p>
      ) : perms.length === 0 ? (
        <p>Everyone: no restriction. Add a user or a group to restrict it to them.</p>
      ) : (
        <ul className="access-list" aria-label="Access list">
          {perms.map((p) => {
            const n = nameOf(p);
            return (
              <li key={p.guid}>
                <span>
                  <span className="badge plain">{n.kind}</span> {n.name}
                </span>
                <button type="button" className="btn small" disabled={busy} onClick={() => change(() => api.del(`${base}/${enc(p.guid)}`), `Removed ${n.kind.toLowerCase()} ${n.name}.`)}>
                  Remove<span className="sr-only"> {n.kind.toLowerCase()} {n.name}</span>
                </button>
              </li>
            );
          })}
        </ul>
      )}

      <h3>Add a user or group</h3>
      <div className="field">
        <label htmlFor="access-search">Search users and groups</label>
        <input id="access-search" type="search" value={query} autoComplete="off" placeholder="Name, username or email prefix" onChange={(e) => setQuery(e.target.value)} />
      </div>
      {results && (
        <div className="results">
          {results.users.length === 0 && results.groups.length === 0 && <p className="muted">No user or group starts with “{q}”.</p>}
          <ul className="access-list" aria-label="Search results">
            {results.users.map((u) => (
              <li key={`u-${u.guid}`}>
                <span>
                  <span className="badge plain">User</span> {userLabel(u)}
                </span>
                <button
                  type="button"
                  className="btn small"
                  disabled={busy || has('user', u.guid)}
                  onClick={() => change(() => api.post(base, { user_guid: u.guid }), `Added user ${u.username}.`)}
                >
                  {has('user', u.guid) ? 'Added' : 'Add'}
                  <span className="sr-only"> user {u.username}</span>
                </button>
              </li>
            ))}
            {results.groups.map((g) => (
              <li key={`g-${g.guid}`}>
                <span>
                  <span className="badge plain">Group</span> {g.name}
                </span>
                <button
                  type="button"
                  className="btn small"
                  disabled={busy || has('group', g.guid)}
                  onClick={() => change(() => api.post(base, { group_guid: g.guid }), `Added group ${g.name}.`)}
                >
                  {has('group', g.guid) ? 'Added' : 'Add'}
                  <span className="sr-only"> group {g.name}</span>
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
      <p role="status" className="muted">
        {status}
      </p>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </Dialog>
  );
}
