import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { Launches } from './pages/Launches';
import { LaunchDetail } from './pages/LaunchDetail';
import type { Instances, Launch } from './types';

const APP = '2a4b6c8d-0e1f-4a3b-8c5d-7e9f1a2b3c4d';

function launch(fields: Partial<Launch>): Launch {
  return {
    id: 'l',
    kind: 'interactive',
    content_guid: APP,
    bundle: '1',
    state: 'ready',
    reason: 'Ready',
    message: '',
    exit_code: null,
    environment_guid: '',
    environment_title: 'Host Python',
    image: '',
    installations: [],
    selected_by: '',
    backend: 'local',
    job_name: '',
    namespace: '',
    created_time: '2026-12-06T14:00:00Z',
    started_time: '2026-12-06T14:00:01Z',
    finished_time: null,
    address: '',
    restarts: 0,
    ready_time: null,
    ...fields,
  };
}

const ready = launch({ id: 'app-ready', address: '127.0.0.1:4321', ready_time: '2026-12-06T14:00:02.5Z' });
const crashing = launch({
  id: 'app-crashing',
  content_guid: '7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  state: 'running',
  reason: 'CrashLoopBackOff',
  message: 'the app exited with code 1; restart 3 in 4 s',
  restarts: 3,
  created_time: '2026-12-06T13:00:00Z',
});
const build = launch({ id: 'build-1', kind: 'build', state: 'succeeded', reason: 'Completed', created_time: '2026-12-06T12:00:00Z' });

const instances: Instances = {
  idle_timeout_s: 300,
  instances: [
    {
      content_guid: APP,
      launch_id: 'app-ready',
      bundle: '1',
      state: 'ready',
      address: '127.0.0.1:4321',
      cold_start_ms: 2500,
      requests: 12,
      websockets: 2,
      last_request_time: '2026-12-06T14:00:00Z',
      idle_stop_time: '2026-12-06T14:05:00Z',
    },
  ],
  totals: { cold_starts: 3, idle_stops: 1, requests: 40, request_p50_ms: 3.1, request_p99_ms: 20.5 },
};

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/** The gateway's answers by path; `instancesStatus` 403 is what a viewer gets. */
function gateway(instancesStatus = 200) {
  return vi.fn(async (url: string) => {
    if (url === '/__api__/execenv/v1/instances') return instancesStatus === 200 ? json(200, instances) : json(instancesStatus, { code: 22, error: 'forbidden', payload: null });
    if (url === '/__api__/execenv/v1/launches?kind=interactive') return json(200, [ready, crashing]);
    if (url === '/__api__/execenv/v1/launches') return json(200, [build, crashing, ready]);
    if (url.startsWith('/__api__/execenv/v1/launches/app-ready/logs')) return new Response('Uvicorn running\n', { status: 200 });
    if (url === '/__api__/execenv/v1/launches/app-ready') return json(200, ready);
    if (url === '/__api__/execenv/v1/launches/app-crashing') return json(200, crashing);
    return json(404, { code: 4, error: `no ${url}`, payload: null });
  });
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('the launches page', () => {
  it('summarises interactive content and shows each interactive launch’s Open link, cold start and restarts', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-06T14:01:00Z'));
    vi.stubGlobal('fetch', gateway());
    render(<Launches />);
    const summary = await screen.findByRole('region', { name: 'Interactive content' });
    expect(within(summary).getByTestId('active-instances').textContent).toBe('1');
    expect(within(summary).getByTestId('cold-starts').textContent).toBe('3');
    expect(summary.textContent).toContain('last 2.5 s, median 2.5 s');
    expect(summary.textContent).toContain('after 5 min unused');
    expect(summary.textContent).toContain('p50 3.1 ms, p99 21 ms');
    const row = within(summary).getByTestId('instance');
    expect(within(row).getAllByRole('cell').map((c) => c.textContent)).toEqual(['ready', '12', '2', '2.5 s', '4 min']);
    const open = within(row).getByRole('link', { name: `Open content ${APP} in a new tab` });
    expect(open.getAttribute('href')).toBe(`/content/${APP}/`);

    const table = screen.getByRole('table', { name: 'Launches' });
    const readyRow = (await within(table).findByRole('link', { name: 'Launch app-ready' })).closest('tr')!;
    expect(within(readyRow).getByText('ready').className).toBe('pill ready');
    const rowOpen = within(readyRow).getByRole('link', { name: /^Open content/ });
    expect([rowOpen.getAttribute('href'), rowOpen.getAttribute('target'), rowOpen.getAttribute('rel')]).toEqual([`/content/${APP}/`, '_blank', 'noopener']);
    expect(readyRow.textContent).toContain('cold start 2.5 s');
    const crashRow = within(table).getByRole('link', { name: 'Launch app-crashing' }).closest('tr')!;
    const [, reason] = within(crashRow).getAllByRole('cell');
    expect(within(reason).getByText('CrashLoopBackOff', { exact: false })).toBeTruthy();
    expect(within(reason).getByText('3 restarts')).toBeTruthy();
    expect(within(crashRow).queryByRole('link', { name: /^Open/ })).toBeNull();

    const kinds = within(screen.getByRole('combobox', { name: 'Kind' })).getAllByRole('option').map((o) => o.getAttribute('value'));
    expect(kinds).toEqual(['', 'build', 'run', 'interactive']);
    const states = within(screen.getByRole('combobox', { name: 'State' })).getAllByRole('option').map((o) => o.getAttribute('value'));
    expect(states).toEqual(['', 'pending,running,ready', 'pending', 'running', 'ready', 'succeeded', 'failed', 'cancelled']);
  });

  it('leaves the summary out for someone who may not read the instances', async () => {
    vi.stubGlobal('fetch', gateway(403));
    render(<Launches />);
    await screen.findByRole('link', { name: 'Launch app-ready' });
    expect(screen.queryByRole('region', { name: 'Interactive content' })).toBeNull();
  });
});

describe('an interactive launch’s page', () => {
  it('shows where the app answers, its restarts and cold start, Open, and Stop instead of Cancel', async () => {
    vi.stubGlobal('fetch', gateway());
    render(<LaunchDetail id="app-ready" />);
    expect((await screen.findByTestId('launch-address')).textContent).toBe('127.0.0.1:4321');
    expect(screen.getByTestId('launch-restarts').textContent).toBe('0');
    expect(screen.getByTestId('launch-cold-start').textContent).toBe('(cold start 2.5 s)');
    expect(screen.getByRole('link', { name: `Open content ${APP} in a new tab` }).getAttribute('href')).toBe(`/content/${APP}/`);
    expect(screen.getByRole('button', { name: 'Stop' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
    expect(screen.queryByTestId('launch-notice')).toBeNull();
  });

  it('says first that the app is restarting, and why', async () => {
    vi.stubGlobal('fetch', gateway());
    render(<LaunchDetail id="app-crashing" />);
    expect((await screen.findByTestId('launch-notice')).textContent).toBe('The app is restarting (CrashLoopBackOff): the app exited with code 1; restart 3 in 4 s');
    expect(screen.getByTestId('launch-restarts').textContent).toBe('3');
    expect(screen.getByTestId('launch-address').textContent).toBe('not answering yet');
    expect(screen.queryByTestId('launch-cold-start')).toBeNull();
    expect(screen.queryByRole('link', { name: /^Open/ })).toBeNull();
  });
});
