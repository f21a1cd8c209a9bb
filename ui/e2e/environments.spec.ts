import { expect, test } from '@playwright/test';
import { checkA11y, createEnv, deleteEnv, envRow, envTable, keyApi, keys, screenshots, searchFor, signIn, unique } from './helpers';

test('search, sort, filter and expand the environments', async ({ page }) => {
  const api = await keyApi();
  const tag = unique('Sortable');
  const a = await createEnv(api, { name: `ghcr.io/acme/sort-a:${Date.now()}`, title: `${tag} A`, python: { installations: [{ version: '3.10.4', path: '/opt/python/3.10.4/bin/python3' }] }, matching: 'exact' });
  const b = await createEnv(api, {
    name: `ghcr.io/acme/sort-b:${Date.now()}`,
    title: `${tag} B`,
    description: 'the second one',
    python: { installations: [{ version: '3.12.1', path: '/opt/python/3.12.1/bin/python3' }] },
    r: { installations: [{ version: '4.3.2', path: '/opt/R/4.3.2/bin/R' }] },
    volume_mounts: [{ source: { volume_type: 'pvc', pvc_name: 'cache' }, target: { path: '/data', read_only: true } }],
  });
  try {
    await signIn(page, keys.admin());
    const table = envTable(page);
    await expect(table).toBeVisible();
    await expect(envRow(page, 'Team Python 3.11')).toBeVisible();
    await expect(page.getByRole('status').filter({ hasText: /\d+ environments?/ })).toBeVisible();
    await screenshots(page, 'environments');
    await checkA11y(page, 'the environments page');

    // Search (debounced, server-side).
    await searchFor(page, tag);
    await expect(table.getByRole('rowheader')).toHaveText([`${tag} A`, `${tag} B`]);
    await expect(page.getByText('2 environments')).toBeVisible();

    // Sort by title, descending then ascending; aria-sort follows.
    const titleHeader = table.getByRole('columnheader', { name: 'Title' });
    await expect(titleHeader).toHaveAttribute('aria-sort', 'ascending');
    await titleHeader.getByRole('button').click();
    await expect(titleHeader).toHaveAttribute('aria-sort', 'descending');
    await expect(table.getByRole('rowheader')).toHaveText([`${tag} B`, `${tag} A`]);
    // Sort by Python version.
    const pyHeader = table.getByRole('columnheader', { name: 'Python' });
    await pyHeader.getByRole('button').click();
    await expect(pyHeader).toHaveAttribute('aria-sort', 'ascending');
    await expect(titleHeader).not.toHaveAttribute('aria-sort', /.+/);
    await expect(table.getByRole('rowheader')).toHaveText([`${tag} A`, `${tag} B`]);

    // Filters: language + version, matching.
    await page.getByLabel('Language').selectOption('python');
    await page.getByLabel('Version').fill('3.12');
    await expect(table.getByRole('rowheader')).toHaveText([`${tag} B`]);
    await page.getByLabel('Version').fill('');
    await page.getByLabel('Language').selectOption('');
    await page.getByLabel('Matching').selectOption('exact');
    await expect(table.getByRole('rowheader')).toHaveText([`${tag} A`]);
    await page.getByLabel('Matching').selectOption('');
    await expect(table.getByRole('rowheader')).toHaveCount(2);

    // Filter: managed by the file shows only file-managed ones.
    await searchFor(page, '');
    await page.getByLabel('Managed by').selectOption('true');
    await expect(envRow(page, 'Host Python')).toBeVisible();
    await expect(envRow(page, 'Team Python 3.11')).toHaveCount(0);
    await page.getByLabel('Managed by').selectOption('');

    // Expand a row: every field, the guid with a copy button, the access list.
    await searchFor(page, tag);
    const row = envRow(page, `${tag} B`);
    const expand = row.getByRole('button', { name: `Details of ${tag} B` });
    await expect(expand).toHaveAttribute('aria-expanded', 'false');
    await expand.click();
    await expect(expand).toHaveAttribute('aria-expanded', 'true');
    const details = page.locator(`#env-details-${b.guid}`);
    await expect(details).toContainText(b.guid);
    await expect(details).toContainText('the second one');
    await expect(details).toContainText('/opt/R/4.3.2/bin/R');
    await expect(details).toContainText('PVC cache → /data (read-only)');
    await expect(details).toContainText('Everyone');
    await details.getByRole('button', { name: /Copy the guid/ }).click();
    await expect(details.getByText('Copied')).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(b.guid);
    await screenshots(page, 'environments-expanded');
    await checkA11y(page, 'an expanded row');
  } finally {
    await deleteEnv(api, a.guid);
    await deleteEnv(api, b.guid);
    await api.dispose();
  }
});

test('paging with Next page and Previous page', async ({ page }) => {
  const api = await keyApi();
  const tag = unique('Paged');
  const made = [];
  // 55 environments: two pages of 50.
  for (let i = 0; i < 55; i++) made.push(await createEnv(api, { name: `ghcr.io/acme/paged:${i}-${Date.now()}`, title: `${tag} ${String(i).padStart(2, '0')}` }));
  try {
    await signIn(page, keys.admin());
    await searchFor(page, tag);
    await expect(page.getByText('55 environments')).toBeVisible();
    const rows = envTable(page).getByRole('rowheader');
    await expect(rows).toHaveCount(50);
    await expect(rows.first()).toHaveText(`${tag} 00`);
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect(rows).toHaveCount(5);
    await expect(rows.first()).toHaveText(`${tag} 50`);
    await expect(page.getByRole('button', { name: 'Next page' })).toBeDisabled();
    await page.getByRole('button', { name: 'Previous page' }).click();
    await expect(rows).toHaveCount(50);
    await expect(page.getByRole('button', { name: 'Previous page' })).toBeDisabled();
  } finally {
    for (const e of made) await deleteEnv(api, e.guid);
    await api.dispose();
  }
});
