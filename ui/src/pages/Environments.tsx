import { Fragment, useCallback, useEffect, useRef, useState, type Dispatch, type InputHTMLAttributes, type SetStateAction } from 'react';
import { api, ApiError, EXECENV, V1, enc, getChecks, refreshChecks } from '../api';
import { byGuid } from '../checks';
import { accessForMe, accessSummary, envTitle, formatTime, versions } from '../format';
import { environmentsQuery, type EnvQuery, type SortKey } from '../query';
import { useLive } from '../live';
import { useDebounced } from '../useDebounced';
import { directory } from '../directory';
import { LANGUAGES, LANGUAGE_LABELS, type Environment, type EnvironmentCheck, type EnvironmentPage, type Group, type Language, type User } from '../types';
import { CheckBadge, CheckDetails } from '../components/ImageCheck';
import { CopyButton } from '../components/CopyButton';
import { Dialog } from '../components/Dialog';
import { EnvironmentDialog } from './EnvironmentDialog';
import { AccessDialog } from './AccessDialog';

const COLUMNS: { key: SortKey | null; label: string }[] = [
  { key: 'title', label: 'Title' },
  { key: 'name', label: 'Image' },
  { key: null, label: 'Check' },
  { key: 'python', label: 'Python' },
  { key: 'r', label: 'R' },
  { key: 'quarto', label: 'Quarto' },
  { key: 'matching', label: 'Matching' },
  { key: null, label: 'Access' },
  { key: 'updated', label: 'Last change' },
];

/** How often the page reads the checks again: the examiner checks on its own schedule. */
const CHECKS_POLL_MS = 30_000;

export const FILE_MANAGED_REASON =
  'Managed by the declarative file: change it in the file (config-sync). Its access list can still be changed here.';

type Open = { kind: 'new' } | { kind: 'edit'; env: Environment } | { kind: 'delete'; env: Environment } | { kind: 'access'; env: Environment } | null;

export function Environments({ user }: { user: User }) {
  const admin = user.user_role === 'administrator';
  const [search, setSearch] = useState('');
  const [language, setLanguage] = useState<Language | ''>('');
  const [version, setVersion] = useState('');
  const [matching, setMatching] = useState<NonNullable<EnvQuery['matching']>>('');
  const [managed, setManaged] = useState<NonNullable<EnvQuery['managed']>>('');
  const [sort, setSort] = useState<SortKey>('title');
  const [order, setOrder] = useState<'asc' | 'desc'>('asc');
  const [tokens, setTokens] = useState<string[]>(['']); // page tokens; the last is the current page
  const [page, setPage] = useState<EnvironmentPage | null>(null);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(true);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<Open>(null);
  const [reload, setReload] = useState(0);
  const [names, setNames] = useState<{ users: Map<string, User>; groups: Map<string, Group> } | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  // null: no image examiner answers (no badges); a map: each environment's check by guid.
  const [checks, setChecks] = useState<Map<string, EnvironmentCheck> | null>(null);
  const [checking, setChecking] = useState(false);
  const [checkStatus, setCheckStatus] = useState('');

  const debouncedSearch = useDebounced(search, 150);
  const debouncedVersion = useDebounced(version, 150);
  const token = tokens[tokens.length - 1];
  const query = environmentsQuery({ search: debouncedSearch, language, version: debouncedVersion, matching, managed, sort, order, page_token: token });

  // A new search, filter or sort starts at the first page.
  const resetPaging = () => setTokens(['']);
  const filter =
    <T extends string>(set: Dispatch<SetStateAction<T>>) =>
    (v: T) => {
      set(v);
      resetPaging();
    };

  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    api
      .get<EnvironmentPage>(`${EXECENV}/environments${query}`, ctl.signal)
      .then((p) => {
        setPage(p);
        setError('');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        setError((e as Error).message);
      })
      .finally(() => !ctl.signal.aborted && setLoading(false));
    return () => ctl.abort();
  }, [query, reload]);

  useEffect(() => {
    if (admin) directory().then(setNames, () => undefined);
  }, [admin]);

  // The checks: with every reload of the page, and every CHECKS_POLL_MS.
  const [checksTick, setChecksTick] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    getChecks(ctl.signal).then(
      (page) => setChecks(page ? byGuid(page.checks) : null),
      () => undefined, // a failed read keeps the badges shown; the next one may succeed
    );
    return () => ctl.abort();
  }, [reload, checksTick]);
  useEffect(() => {
    const id = window.setInterval(() => setChecksTick((n) => n + 1), CHECKS_POLL_MS);
    return () => window.clearInterval(id);
  }, []);

  const checkNow = async () => {
    setChecking(true);
    setCheckStatus('Checking every image…');
    try {
      const done = await refreshChecks();
      setChecks(byGuid(done));
      const attention = done.filter((c) => c.state === 'drift' || c.state === 'unreadable').length;
      setCheckStatus(`Checked ${done.length} ${done.length === 1 ? 'environment' : 'environments'}${attention ? `: ${attention} need${attention === 1 ? 's' : ''} attention` : ''}.`);
    } catch (e) {
      setCheckStatus(`Could not check the images: ${(e as Error).message}`);
    } finally {
      setChecking(false);
    }
  };

  useEffect(() => headingRef.current?.focus({ preventScroll: true }), []);

  // Live: re-read the current page when the catalogue changes (debounced).
  const timer = useRef<number | undefined>(undefined);
  const refresh = useCallback(() => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setReload((n) => n + 1), 150);
  }, []);
  useLive('catalogue', refresh);
  // After a reconnect the stream starts again with `ready`: changes may have been missed.
  useLive('ready', refresh);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  const toggleSort = (key: SortKey) => {
    if (sort === key) setOrder(order === 'asc' ? 'desc' : 'asc');
    else {
      setSort(key);
      setOrder('asc');
    }
    resetPaging();
  };

  const toggle = (guid: string) => {
    const next = new Set(expanded);
    if (next.has(guid)) next.delete(guid);
    else next.add(guid);
    setExpanded(next);
  };

  const envs = page?.environments ?? [];
  const colCount = COLUMNS.length + 1 + (admin ? 1 : 0);

  return (
    <>
      <div className="page-head">
        <h1 ref={headingRef} tabIndex={-1}>
          Environments
        </h1>
        {admin && (
          <div className="head-actions">
            {checks && (
              <button type="button" className="btn" onClick={checkNow} disabled={checking}>
                Check images now
              </button>
            )}
            <button type="button" className="btn primary" onClick={() => setOpen({ kind: 'new' })}>
              New environment
            </button>
          </div>
        )}
      </div>
      <p className="muted check-status" role="status" aria-live="polite">
        {checkStatus}
      </p>
      {!admin && <p className="muted">The environments you may use. Only administrators can change them.</p>}

      <form className="filters" role="search" aria-label="Filter environments" onSubmit={(e) => e.preventDefault()}>
        <FilterField id="env-search" label="Search environments" grow value={search} onValue={filter(setSearch)} type="search" role="searchbox" placeholder="Title, description, image, guid or version" />
        <FilterField id="env-language" label="Language" value={language} onValue={filter(setLanguage)} options={[['', 'Any'], ...LANGUAGES.map((l) => [l, LANGUAGE_LABELS[l]] as const)]} />
        <FilterField
          id="env-version"
          label="Version"
          value={version}
          onValue={filter(setVersion)}
          disabled={!language}
          placeholder={language ? 'e.g. 3.11' : 'Choose a language'}
          size={10}
        />
        <FilterField id="env-matching" label="Matching" value={matching} onValue={filter(setMatching)} options={[['', 'All'], ['any', 'any'], ['exact', 'exact'], ['none', 'none']]} />
        <FilterField id="env-managed" label="Managed by" value={managed} onValue={filter(setManaged)} options={[['', 'All'], ['true', 'The declarative file'], ['false', 'The API']]} />
      </form>

      {error && (
        <p className="banner error" role="alert">
          Could not load the environments: {error}
        </p>
      )}

      <p className="count" role="status" aria-live="polite">
        {page ? `${page.total} ${page.total === 1 ? 'environment' : 'environments'}` : ''}
        {loading ? <span className="muted"> · loading…</span> : null}
      </p>

      <div className="table-wrap" role="region" aria-label="Environments table" tabIndex={0}>
        <table className="table" aria-label="Environments" aria-busy={loading}>
          <thead>
            <tr>
              <th scope="col" className="narrow-col">
                <span className="sr-only">Details</span>
              </th>
              {COLUMNS.map((c) => (
                <th key={c.label} scope="col" aria-sort={c.key && sort === c.key ? (order === 'asc' ? 'ascending' : 'descending') : undefined}>
                  {c.key ? (
                    <button type="button" className="sort" onClick={() => toggleSort(c.key!)}>
                      {c.label}
                      <span aria-hidden="true" className="sort-mark">
                        {sort === c.key ? (order === 'asc' ? '▲' : '▼') : '↕'}
                      </span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              ))}
              {admin && (
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {page && envs.length === 0 && (
              <tr>
                <td colSpan={colCount} className="empty">
                  No environments match.
                </td>
              </tr>
            )}
            {envs.map((env) => {
              const isOpen = expanded.has(env.guid);
              const title = envTitle(env);
              const fileManaged = env.managed_by === 'config-file';
              const detailsId = `env-details-${env.guid}`;
              return (
                <Fragment key={env.guid}>
                  <tr className={isOpen ? 'open' : undefined} data-guid={env.guid}>
                    <td>
                      <button
                        type="button"
                        className="btn icon expand"
                        aria-expanded={isOpen}
                        aria-controls={detailsId}
                        aria-label={`Details of ${title}`}
                        onClick={() => toggle(env.guid)}
                      >
                        <span aria-hidden="true">{isOpen ? '▾' : '▸'}</span>
                      </button>
                    </td>
                    <th scope="row" className="title-cell">
                      {title}
                      {fileManaged && (
                        <span className="badge" title={FILE_MANAGED_REASON}>
                          managed by file
                        </span>
                      )}
                    </th>
                    <td className="mono">{env.name}</td>
                    <td>
                      <CheckBadge check={checks?.get(env.guid)} known={checks != null} />
                    </td>
                    <td>{versions(env.python) || <span className="muted">—</span>}</td>
                    <td>{versions(env.r) || <span className="muted">—</span>}</td>
                    <td>{versions(env.quarto) || <span className="muted">—</span>}</td>
                    <td>{env.matching}</td>
                    <td>{accessSummary(env.permissions)}</td>
                    <td className="nowrap">{formatTime(env.updated_time)}</td>
                    {admin && (
                      <td className="actions">
                        <button
                          type="button"
                          className="btn small"
                          disabled={fileManaged}
                          aria-label={`Edit ${title}`}
                          aria-describedby={fileManaged ? 'file-managed-reason' : undefined}
                          title={fileManaged ? FILE_MANAGED_REASON : undefined}
                          onClick={() => setOpen({ kind: 'edit', env })}
                        >
                          Edit
                        </button>
                        <button type="button" className="btn small" aria-label={`Access to ${title}`} onClick={() => setOpen({ kind: 'access', env })}>
                          Access
                        </button>
                        <button
                          type="button"
                          className="btn small danger"
                          disabled={fileManaged}
                          aria-label={`Delete ${title}`}
                          aria-describedby={fileManaged ? 'file-managed-reason' : undefined}
                          title={fileManaged ? FILE_MANAGED_REASON : undefined}
                          onClick={() => setOpen({ kind: 'delete', env })}
                        >
                          Delete
                        </button>
                      </td>
                    )}
                  </tr>
                  {isOpen && (
                    <tr className="details-row">
                      <td colSpan={colCount} id={detailsId}>
                        <EnvironmentDetails env={env} names={admin ? names : null} me={admin ? null : user.guid} check={checks ? (checks.get(env.guid) ?? null) : undefined} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      </div>
      <p id="file-managed-reason" className="sr-only">
        {FILE_MANAGED_REASON}
      </p>

      <nav className="pager" aria-label="Pages">
        <button type="button" className="btn" disabled={tokens.length <= 1} onClick={() => setTokens(tokens.slice(0, -1))}>
          Previous page
        </button>
        <span className="muted">Page {tokens.length}</span>
        <button
          type="button"
          className="btn"
          disabled={!page?.next_page_token}
          onClick={() => page?.next_page_token && setTokens([...tokens, page.next_page_token])}
        >
          Next page
        </button>
      </nav>

      {open?.kind === 'new' && <EnvironmentDialog onClose={() => setOpen(null)} onSaved={() => setReload((n) => n + 1)} />}
      {open?.kind === 'edit' && <EnvironmentDialog env={open.env} onClose={() => setOpen(null)} onSaved={() => setReload((n) => n + 1)} />}
      {open?.kind === 'access' && <AccessDialog env={open.env} onClose={() => setOpen(null)} onChanged={() => setReload((n) => n + 1)} />}
      {open?.kind === 'delete' && <DeleteDialog env={open.env} onClose={() => setOpen(null)} onDeleted={() => setReload((n) => n + 1)} />}
    </>
  );
}

/**
 * `names` for administrators (who may list users and groups) names the access list's entries;
 * without (a publisher, `me`, or the names not read yet) it is summed up, never shown as guids.
 */
function EnvironmentDetails({
  env,
  names,
  me,
  check,
}: {
  env: Environment;
  names: { users: Map<string, User>; groups: Map<string, Group> } | null;
  me: string | null;
  /** Its check; null: not checked yet; undefined: no image examiner answers. */
  check: EnvironmentCheck | null | undefined;
}) {
  const mounts = env.volume_mounts ?? [];
  const perms = env.permissions ?? [];
  return (
    <div className="details">
      {env.managed_by === 'config-file' && <p className="note">{FILE_MANAGED_REASON}</p>}
      <dl className="kv">
        <dt>GUID</dt>
        <dd>
          <code>{env.guid}</code> <CopyButton text={env.guid} label={`Copy the guid of ${envTitle(env)}`} />
        </dd>
        <dt>Title</dt>
        <dd>{env.title || <span className="muted">none</span>}</dd>
        <dt>Description</dt>
        <dd className="pre-line">{env.description || <span className="muted">none</span>}</dd>
        <dt>Image</dt>
        <dd>
          <code>{env.name}</code>
        </dd>
        {check !== undefined && (
          <>
            <dt>Image check</dt>
            <dd>
              <CheckDetails check={check ?? undefined} />
            </dd>
          </>
        )}
        <dt>Cluster</dt>
        <dd>{env.cluster_name || <span className="muted">none</span>}</dd>
        <dt>Type</dt>
        <dd>{env.environment_type}</dd>
        <dt>Matching</dt>
        <dd>{env.matching}</dd>
        <dt>Supervisor</dt>
        <dd>{env.supervisor ? <code>{env.supervisor}</code> : <span className="muted">none</span>}</dd>
        <dt>Managed by</dt>
        <dd>{env.managed_by === 'config-file' ? 'the declarative file' : 'the API'}</dd>
        <dt>Created</dt>
        <dd>{formatTime(env.created_time)}</dd>
        <dt>Updated</dt>
        <dd>
          {formatTime(env.updated_time)}
          {env.revision != null && <span className="muted"> (revision {env.revision})</span>}
        </dd>
        {LANGUAGES.map((lang) => {
          const list = env[lang]?.installations ?? [];
          return (
            <Fragment key={lang}>
              <dt>{LANGUAGE_LABELS[lang]}</dt>
              <dd>
                {list.length === 0 ? (
                  <span className="muted">none</span>
                ) : (
                  <ul className="plain">
                    {list.map((i, n) => (
                      <li key={n}>
                        {i.version} <code>{i.path}</code>
                      </li>
                    ))}
                  </ul>
                )}
              </dd>
            </Fragment>
          );
        })}
        <dt>Volume mounts</dt>
        <dd>
          {mounts.length === 0 ? (
            <span className="muted">none</span>
          ) : (
            <ul className="plain">
              {mounts.map((m, n) => (
                <li key={n}>
                  {m.source.volume_type === 'nfs' ? (
                    <>
                      NFS <code>{`${m.source.nfs_host}:${m.source.nfs_export_path}`}</code>
                    </>
                  ) : (
                    <>
                      PVC <code>{m.source.pvc_name}</code>
                    </>
                  )}{' '}
                  → <code>{m.target.path}</code>
                  {m.target.read_only ? ' (read-only)' : ''}
                </li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Access</dt>
        <dd>
          {perms.length === 0 ? (
            'Everyone'
          ) : !names ? (
            me ? accessForMe(perms, me) : `Restricted: ${accessSummary(perms)}`
          ) : (
            <ul className="plain">
              {perms.map((p) => (
                <li key={p.guid}>
                  {p.user_guid
                    ? `User ${names?.users.get(p.user_guid)?.username ?? p.user_guid}`
                    : `Group ${names?.groups.get(p.group_guid ?? '')?.name ?? p.group_guid}`}
                </li>
              ))}
            </ul>
          )}
        </dd>
      </dl>
    </div>
  );
}

/**
 * One field of the filter bar: its label, and a select (`options`: value and label) or an input
 * (any other attribute); `onValue` gets the new value.
 */
function FilterField<T extends string>({
  id,
  label,
  grow,
  value,
  onValue,
  options,
  ...input
}: {
  id: string;
  label: string;
  grow?: boolean;
  value: T;
  onValue(v: T): void;
  options?: readonly (readonly [T, string])[];
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'value' | 'onChange'>) {
  return (
    <div className={grow ? 'field grow' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {options ? (
        <select id={id} value={value} onChange={(e) => onValue(e.target.value as T)}>
          {options.map(([v, text]) => (
            <option key={v} value={v}>
              {text}
            </option>
          ))}
        </select>
      ) : (
        <input id={id} value={value} onChange={(e) => onValue(e.target.value as T)} {...input} />
      )}
    </div>
  );
}

function DeleteDialog({ env, onClose, onDeleted }: { env: Environment; onClose(): void; onDeleted(): void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const del = async () => {
    setBusy(true);
    setError('');
    try {
      await api.del(`${V1}/environments/${enc(env.guid)}`);
      onDeleted();
      onClose();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`Delete ${envTitle(env)}?`}
      onClose={onClose}
      initialFocus=".dialog-foot button"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn danger-solid" onClick={del} disabled={busy}>
            Delete
          </button>
        </>
      }
    >
      <p>
        Content that runs in <code>{env.name}</code> will be given another environment from now on. The audit trail keeps
        the record.
      </p>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </Dialog>
  );
}
