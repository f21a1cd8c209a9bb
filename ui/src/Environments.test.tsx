import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { Environments } from './pages/Environments';
import type { User } from './types';

const publisher: User = { guid: 'u1', username: 'pat', email: null, first_name: null, last_name: null, user_role: 'publisher' };

afterEach(() => vi.unstubAllGlobals());

describe('the environments filter bar', () => {
  it('keeps each field’s id, label and role, and each change asks again from the first page', async () => {
    const fetch = vi.fn(async (_url: string) => new Response(JSON.stringify({ environments: [], total: 0, next_page_token: '' }), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    vi.stubGlobal('EventSource', undefined);
    render(<Environments user={publisher} />);
    expect(screen.getByRole('search', { name: 'Filter environments' })).toBeTruthy();
    expect(screen.getByRole('searchbox', { name: 'Search environments' }).id).toBe('env-search');
    expect(screen.getByRole('combobox', { name: 'Language' }).id).toBe('env-language');
    expect(screen.getByRole('textbox', { name: 'Version' })).toHaveProperty('disabled', true);
    expect(screen.getByRole('combobox', { name: 'Matching' }).id).toBe('env-matching');
    expect(screen.getByRole('combobox', { name: 'Managed by' }).id).toBe('env-managed');

    fireEvent.change(screen.getByRole('combobox', { name: 'Language' }), { target: { value: 'python' } });
    const version = screen.getByRole('textbox', { name: 'Version' });
    expect(version.id).toBe('env-version');
    expect(version).toHaveProperty('disabled', false);
    fireEvent.change(screen.getByRole('combobox', { name: 'Managed by' }), { target: { value: 'true' } });
    await waitFor(() => expect(fetch.mock.calls.map((c) => String(c[0])).some((u) => /language=python/.test(u) && /managed=true/.test(u))).toBe(true));
  });
});
