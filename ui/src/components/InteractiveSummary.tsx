import { getInstances, launches } from '../api';
import { coldStartStats, formatDuration, formatLatency, formatUntil } from '../format';
import type { Instances } from '../types';
import { OpenLink } from './OpenLink';
import { ScrollTable } from './ScrollTable';

/** The gateway's instances with the cold starts of the interactive launches the launcher knows. */
export interface InteractiveState extends Instances {
  cold: { last: number | null; median: number | null };
}

/** Reads the summary; null when the caller may not see it (a viewer), so the page leaves it out. */
export async function loadInteractive(signal?: AbortSignal): Promise<InteractiveState | null> {
  const data = await getInstances(signal);
  if (!data) return null;
  const interactive = await launches.list({ kind: 'interactive' }, signal);
  return { ...data, cold: coldStartStats(interactive) };
}

/** The launches page's "Interactive content" region: instances now, cold starts, idle stops, requests. */
export function InteractiveSummary({ data, error, now }: { data: InteractiveState; error: string; now: number }) {
  const { instances, totals } = data;
  return (
    <section className="card summary" aria-labelledby="interactive-heading">
      <h2 id="interactive-heading">Interactive content</h2>
      {error && (
        <p className="field-error" role="alert">
          Could not refresh: {error}
        </p>
      )}
      <dl className="stats">
        <Stat label="Active instances" value={instances.length} testId="active-instances" />
        <Stat
          label="Cold starts"
          value={totals.cold_starts}
          testId="cold-starts"
          detail={data.cold.last != null ? `last ${formatDuration(data.cold.last)}, median ${formatDuration(data.cold.median)}` : ''}
        />
        <Stat
          label="Idle stops"
          value={totals.idle_stops}
          detail={data.idle_timeout_s > 0 ? `after ${formatDuration(data.idle_timeout_s * 1000)} unused` : 'idle instances are kept'}
        />
        <Stat label="Proxied requests" value={totals.requests} detail={`p50 ${formatLatency(totals.request_p50_ms)}, p99 ${formatLatency(totals.request_p99_ms)}`} />
      </dl>
      {instances.length > 0 && (
        <ScrollTable label="Active instances" columns={['Content', 'State', 'Requests', 'Open WebSockets', 'Cold start', 'Idle stop in']}>
          {instances.map((i) => (
            <tr key={i.launch_id || i.content_guid} data-testid="instance">
              <th scope="row">
                <span className="mono" title={i.content_guid}>
                  {i.content_guid.slice(0, 8)}… #{i.bundle}
                </span>{' '}
                {i.state === 'ready' && <OpenLink guid={i.content_guid} />}
              </th>
              <td>
                <span className={`pill ${i.state}`}>{i.state}</span>
              </td>
              <td>{i.requests.toLocaleString('en-US')}</td>
              <td>{i.websockets.toLocaleString('en-US')}</td>
              <td className="nowrap">{formatDuration(i.cold_start_ms)}</td>
              <td className="nowrap">{formatUntil(i.idle_stop_time, now)}</td>
            </tr>
          ))}
        </ScrollTable>
      )}
    </section>
  );
}

/** One figure of the summary, with what qualifies it underneath. */
function Stat({ label, value, detail, testId }: { label: string; value: number; detail?: string; testId?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>
        <span data-testid={testId}>{value.toLocaleString('en-US')}</span>
        {detail && <span className="muted small-text block">{detail}</span>}
      </dd>
    </div>
  );
}
