import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { Explain } from './pages/Explain';
import type { Explanation } from './types';

const DRIFTING = '3f0a9c1e-2b4d-4e6f-8a1b-2c3d4e5f6a7b';
const FINE = '9b8a7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d';
const MISMATCH = 'Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.9';

const answer: Explanation = {
  verdicts: [
    {
      environment_guid: DRIFTING,
      name: 'ghcr.io/acme/py:3.12',
      title: 'Python 3.12',
      outcome: 'rejected',
      reasons: [`in drift and selection.skip_drift is on: ${MISMATCH}`],
      installations: [],
      drift: `in drift: ${MISMATCH}`,
    },
    {
      environment_guid: FINE,
      name: 'ghcr.io/acme/py:3.12.1',
      title: 'Python 3.12.1',
      outcome: 'rejected',
      reasons: ['no Python 3.11.x: has 3.12.1'],
      installations: [],
      drift: null,
    },
  ],
  selection: null,
  error: 'Cannot find compatible environment',
  revision: 4,
  catalogue_age_seconds: 0,
};

afterEach(() => vi.unstubAllGlobals());

describe('the explain page', () => {
  it('shows the drift line of an environment whose image is in drift, and none for the others', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response(JSON.stringify(answer), { status: 200, headers: { 'Content-Type': 'application/json' } })),
    );
    render(<Explain />);
    fireEvent.change(screen.getByLabelText('manifest.json'), { target: { value: '{"python": {"version": "3.12.4"}}' } });
    fireEvent.click(screen.getByRole('button', { name: 'Explain' }));
    const table = await screen.findByRole('table', { name: 'Verdicts' });
    const drifting = within(table).getByRole('rowheader', { name: 'Python 3.12' }).closest('tr')!;
    const line = within(drifting).getByText(`in drift: ${MISMATCH}`);
    expect(line.className).toBe('small-text block warn-text');
    expect(drifting.textContent).toContain(`in drift and selection.skip_drift is on: ${MISMATCH}`);
    const fine = within(table).getByRole('rowheader', { name: 'Python 3.12.1' }).closest('tr')!;
    expect(fine.textContent).not.toContain('in drift');
  });
});
