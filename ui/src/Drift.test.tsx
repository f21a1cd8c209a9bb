import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Environments } from './pages/Environments';
import { EnvironmentDialog } from './pages/EnvironmentDialog';
import { setCsrfToken } from './api';
import type { Environment, EnvironmentCheck, ImageExamination, User } from './types';

// jsdom has no <dialog> modality
HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
  this.setAttribute('open', '');
};
HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) {
  this.removeAttribute('open');
};

afterEach(() => {
  vi.unstubAllGlobals();
  setCsrfToken(null);
});

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const admin: User = { guid: 'u0', username: 'admin', email: null, first_name: null, last_name: null, user_role: 'administrator' };

function env(guid: string, title: string, name: string): Environment {
  return {
    id: guid, guid, created_time: null, updated_time: null, title, description: null, cluster_name: 'Kubernetes', name,
    environment_type: 'Kubernetes', matching: 'any', supervisor: null, managed_by: null,
    python: { installations: [{ version: '3.12.4', path: '/opt/python/3.12.4/bin/python3' }] }, r: { installations: [] }, quarto: { installations: [] }, tensorflow: { installations: [] }, volume_mounts: [], permissions: [], revision: 1,
  };
}

function check(guid: string, state: EnvironmentCheck['state'], findings: EnvironmentCheck['findings'] = []): EnvironmentCheck {
  return { guid, image: '', title: null, state, digest: 'sha256:4f2a9c0e11d8b7a6c5d4', previous_digest: null, findings, unreadable: null, checked_time: '2026-12-06T12:00:00Z', state_changed_time: '2026-12-06T12:00:00Z', revision: 1 };
}

const mismatch = { kind: 'version_mismatch' as const, drift: true, language: 'python', path: '/opt/python/3.12.4/bin/python3', declared_version: '3.12.4', found_version: '3.11.2', message: 'Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.2' };

describe('the environments page and the image checks', () => {
  it('shows a badge per environment, drift standing out, and the findings in the details', async () => {
    const envs = [env('g-drift', 'Drifting Python', 'reg/python:3.12'), env('g-ok', 'Fine R', 'reg/r:4.2'), env('g-new', 'New one', 'reg/new:1')];
    const fetch = vi.fn(async (url: string) => {
      if (url.startsWith('/__api__/execenv/v1/checks')) return json(200, { checks: [check('g-drift', 'drift', [mismatch]), check('g-ok', 'ok')], interval_seconds: 300 });
      if (url.startsWith('/__api__/execenv/v1/environments')) return json(200, { environments: envs, total: 3, next_page_token: '' });
      return json(200, []);
    });
    vi.stubGlobal('fetch', fetch);
    vi.stubGlobal('EventSource', undefined);
    render(<Environments user={admin} />);
    const row = async (title: string) => (await screen.findByRole('rowheader', { name: new RegExp(title) })).closest('tr')!;
    const drifting = await row('Drifting Python');
    await waitFor(() => expect(drifting.querySelector('[data-check]')?.getAttribute('data-check')).toBe('drift'));
    expect(drifting.querySelector('.pill.check-drift')!.textContent).toContain('drift');
    expect(drifting.querySelector('.pill.check-drift')!.getAttribute('title')).toBe(mismatch.message);
    expect((await row('Fine R')).querySelector('[data-check]')!.getAttribute('data-check')).toBe('ok');
    expect((await row('New one')).querySelector('[data-check]')!.getAttribute('data-check')).toBe('pending');
    expect(screen.getByRole('columnheader', { name: 'Check' })).toBeTruthy();

    fireEvent.click(screen.getByRole('button', { name: 'Details of Drifting Python' }));
    const findings = await screen.findByRole('list', { name: 'Findings' });
    expect(within(findings).getByText(/is declared as 3.12.4 but the image has 3.11.2/)).toBeTruthy();
    expect(screen.getByText('4f2a9c0e11d8')).toBeTruthy();
  });

  it('shows no badges and no check button when the gateway has no image examiner', async () => {
    const fetch = vi.fn(async (url: string) => {
      if (url.startsWith('/__api__/execenv/v1/checks')) return json(503, { code: 1, error: 'this gateway has no image examiner', payload: null });
      if (url.startsWith('/__api__/execenv/v1/environments')) return json(200, { environments: [env('g-1', 'Only one', 'reg/a:1')], total: 1, next_page_token: '' });
      return json(200, []);
    });
    vi.stubGlobal('fetch', fetch);
    vi.stubGlobal('EventSource', undefined);
    render(<Environments user={admin} />);
    const cell = (await screen.findByRole('rowheader', { name: /Only one/ })).closest('tr')!;
    await waitFor(() => expect(fetch.mock.calls.some((c) => String(c[0]).includes('/checks'))).toBe(true));
    expect(cell.querySelector('[data-check]')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Check images now' })).toBeNull();
  });

  it('checks every image now on request and says how many need attention', async () => {
    setCsrfToken('tok');
    let round = 0;
    const fetch = vi.fn(async (url: string, init?: RequestInit) => {
      if (url.endsWith('/checks/refresh') && init?.method === 'POST') {
        round += 1;
        return json(200, { checks: [check('g-1', 'drift', [mismatch])] });
      }
      if (url.startsWith('/__api__/execenv/v1/checks')) return json(200, { checks: [check('g-1', 'pending')], interval_seconds: 300 });
      if (url.startsWith('/__api__/execenv/v1/environments')) return json(200, { environments: [env('g-1', 'Only one', 'reg/a:1')], total: 1, next_page_token: '' });
      return json(200, []);
    });
    vi.stubGlobal('fetch', fetch);
    vi.stubGlobal('EventSource', undefined);
    render(<Environments user={admin} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Check images now' }));
    await waitFor(() => expect(screen.getByText('Checked 1 environment: 1 needs attention.')).toBeTruthy());
    expect(round).toBe(1);
    const row = screen.getByRole('rowheader', { name: /Only one/ }).closest('tr')!;
    expect(row.querySelector('[data-check]')!.getAttribute('data-check')).toBe('drift');
  });
});

const examination: ImageExamination = {
  examination: {
    image: '127.0.0.1:5000/python:3.11',
    digest: 'sha256:4f2a9c0e11d8b7a6c5d4e3f2a1b0',
    platform: 'linux/amd64',
    installations: [
      { language: 'python', path: '/opt/python/3.11.2/bin/python3', version: '3.11.2', version_file: '/usr/include/python3.11/patchlevel.h', problem: null },
      { language: 'r', path: '/opt/R/4.2.2/bin/R', version: null, version_file: null, problem: 'no Rversion.h' },
    ],
    notes: ['R /opt/R/4.2.2/bin/R: no Rversion.h'],
    examined_time: '2026-12-06T12:00:00Z',
    cached: false,
    layers: 3,
    layer_bytes: 1000,
  },
  definition: {
    name: '127.0.0.1:5000/python:3.11',
    title: 'python:3.11 (Python 3.11.2)',
    python: { installations: [{ version: '3.11.2', path: '/opt/python/3.11.2/bin/python3' }] },
    r: { installations: [] },
    quarto: { installations: [] },
  },
};

describe('Fill from image', () => {
  it('examines the typed image and fills the title and installations without saving', async () => {
    setCsrfToken('csrf');
    const fetch = vi.fn(async () => json(200, examination));
    vi.stubGlobal('fetch', fetch);
    const onSaved = vi.fn();
    render(<EnvironmentDialog onClose={() => undefined} onSaved={onSaved} />);
    const fill = screen.getByRole('button', { name: 'Fill from image' }) as HTMLButtonElement;
    expect(fill.disabled).toBe(true);
    fireEvent.change(screen.getByLabelText('Image'), { target: { value: ' 127.0.0.1:5000/python:3.11 ' } });
    fireEvent.click(fill);
    await waitFor(() => expect((screen.getByLabelText('Title') as HTMLInputElement).value).toBe('python:3.11 (Python 3.11.2)'));
    expect((screen.getByLabelText('Version of Python installation 1') as HTMLInputElement).value).toBe('3.11.2');
    expect((screen.getByLabelText('Path of Python installation 1') as HTMLInputElement).value).toBe('/opt/python/3.11.2/bin/python3');
    expect(screen.getByRole('status').textContent).toContain('1 installation filled in');
    expect(within(screen.getByRole('list', { name: 'What the image examiner noted' })).getByText('R /opt/R/4.2.2/bin/R: no Rversion.h')).toBeTruthy();
    expect(onSaved).not.toHaveBeenCalled();
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/__api__/execenv/v1/images/examine');
    expect(init.body).toBe('{"image":"127.0.0.1:5000/python:3.11"}');
  });

  it('says why the image could not be read and keeps what was typed', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(502, { code: 1, error: "the image's registry refused the examiner: the registry 127.0.0.1:5000 requires credentials", payload: null })));
    render(<EnvironmentDialog onClose={() => undefined} onSaved={() => undefined} />);
    fireEvent.change(screen.getByLabelText('Image'), { target: { value: '127.0.0.1:5000/private:1' } });
    fireEvent.change(screen.getByLabelText('Title'), { target: { value: 'Mine' } });
    fireEvent.click(screen.getByRole('button', { name: 'Fill from image' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe("Could not read the image: the image's registry refused the examiner: the registry 127.0.0.1:5000 requires credentials");
    expect((screen.getByLabelText('Title') as HTMLInputElement).value).toBe('Mine');
  });

  it('is only offered when creating (the image of an environment cannot change)', () => {
    vi.stubGlobal('fetch', vi.fn());
    const e = env('g', 'T', 'img:1');
    render(<EnvironmentDialog env={e} onClose={() => undefined} onSaved={() => undefined} />);
    expect(screen.queryByRole('button', { name: 'Fill from image' })).toBeNull();
  });
});
