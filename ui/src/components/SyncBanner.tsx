import { useEffect, useState } from 'react';
import { api, ApiError, EXECENV } from '../api';
import { formatTime } from '../format';
import { useLive } from '../live';
import type { SyncStatus } from '../types';

/** A banner while config-sync's last sync failed (from GET /sync, then every `sync` event). */
export function SyncBanner() {
  const [status, setStatus] = useState<SyncStatus | null>(null);
  const [unreachable, setUnreachable] = useState('');

  const load = () =>
    api
      .get<SyncStatus>(`${EXECENV}/sync`)
      .then((s) => {
        setStatus(s);
        setUnreachable('');
      })
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 503) setUnreachable(e.message);
      });

  useEffect(() => {
    void load();
  }, []);
  useLive('sync', (data) => {
    if (data && typeof data === 'object') {
      setStatus(data as SyncStatus);
      setUnreachable('');
    }
  });
  useLive('ready', () => void load());

  if (unreachable) {
    return (
      <div className="banner warn" role="status">
        <strong>config-sync cannot be reached:</strong> {unreachable}
      </div>
    );
  }
  if (!status?.configured || status.outcome !== 'failed') return null;
  return (
    <div className="banner error" role="alert" aria-label="Sync failed">
      <strong>The last sync of {status.file || 'the declarative file'} failed</strong>
      {status.last_sync_time ? ` at ${formatTime(status.last_sync_time)}` : ''}: {status.error || 'unknown error'}
      {status.last_success_time && <> (last success {formatTime(status.last_success_time)})</>}
      {status.problems && status.problems.length > 0 && (
        <ul>
          {status.problems.map((p, i) => (
            <li key={i}>{p}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
