import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { EnvironmentDialog } from './pages/EnvironmentDialog';
import { setCsrfToken } from './api';

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

describe('EnvironmentDialog', () => {
  it('shows the API violations next to their fields and keeps the dialog open', async () => {
    setCsrfToken('csrf');
    const fetch = vi.fn(async () =>
      new Response(
        JSON.stringify({
          code: 173,
          error: 'invalid input',
          payload: { violations: [{ field: 'python.installations[0].path', description: 'must be an absolute path' }] },
        }),
        { status: 400 },
      ),
    );
    vi.stubGlobal('fetch', fetch);
    const onSaved = vi.fn();
    const onClose = vi.fn();
    render(<EnvironmentDialog onClose={onClose} onSaved={onSaved} />);

    fireEvent.change(screen.getByLabelText('Image'), { target: { value: 'ghcr.io/acme/py:3.11' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add Python installation' }));
    fireEvent.change(screen.getByLabelText('Version of Python installation 1'), { target: { value: '3.11.9' } });
    fireEvent.change(screen.getByLabelText('Path of Python installation 1'), { target: { value: 'python3' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));

    const path = screen.getByLabelText('Path of Python installation 1');
    await waitFor(() => expect(path.getAttribute('aria-invalid')).toBe('true'));
    const describedBy = path.getAttribute('aria-describedby')!;
    expect(document.getElementById(describedBy)!.textContent).toBe('must be an absolute path');
    expect(screen.getByRole('alert').textContent).toContain('nothing was saved');
    expect(onSaved).not.toHaveBeenCalled();
    expect(onClose).not.toHaveBeenCalled();

    const [, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>)['X-CSRF-Token']).toBe('csrf');
    const body = JSON.parse(init.body as string);
    expect(body.name).toBe('ghcr.io/acme/py:3.11');
    expect(body.python).toEqual({ installations: [{ version: '3.11.9', path: 'python3' }] });
    expect(body.volume_mounts).toEqual([]);
  });

  it('does not send the image when editing (it cannot change)', async () => {
    const fetch = vi.fn(async (_url: string, init: RequestInit) => new Response(init.body as string, { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    const env = {
      id: '1', guid: 'g-1', created_time: null, updated_time: null, title: 'T', description: null, cluster_name: 'Kubernetes', name: 'img:1',
      environment_type: 'Kubernetes', matching: 'any' as const, supervisor: null, managed_by: null,
      python: { installations: [] }, r: { installations: [] }, quarto: { installations: [] }, tensorflow: { installations: [] }, volume_mounts: [],
    };
    const onSaved = vi.fn();
    render(<EnvironmentDialog env={env} onClose={() => undefined} onSaved={onSaved} />);
    expect((screen.getByLabelText('Image') as HTMLInputElement).disabled).toBe(true);
    fireEvent.change(screen.getByLabelText('Title'), { target: { value: 'New title' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/__api__/v1/environments/g-1');
    expect(init.method).toBe('PUT');
    const body = JSON.parse(init.body as string);
    expect(body.name).toBeUndefined();
    expect(body.title).toBe('New title');
  });
});
