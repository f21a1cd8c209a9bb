import { readFileSync, writeFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { createEnv, ctl, deleteEnv, env, envRow, keyApi, keys, searchFor, signIn, unique } from './helpers';

test('an edit through execenvctl appears on an open page without reload', async ({ page }) => {
  const api = await keyApi();
  const title = unique('Live');
  const created = await createEnv(api, { name: `ghcr.io/acme/live:${Date.now()}`, title });
  try {
    await signIn(page, keys.admin());
    await searchFor(page, 'Live ');
    await expect(envRow(page, title)).toBeVisible();
    // A marker that a reload would lose.
    await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));

    const renamed = `${title} renamed`;
    const t0 = Date.now();
    await ctl(['env', 'update', created.guid, '--title', renamed]);
    await expect(envRow(page, renamed)).toBeVisible({ timeout: 5_000 });
    const elapsed = Date.now() - t0;
    expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
    test.info().annotations.push({ type: 'live update', description: `${elapsed} ms from execenvctl to the page` });

    // A new environment made elsewhere appears too.
    const other = await createEnv(api, { name: `ghcr.io/acme/live2:${Date.now()}`, title: `${title} second` });
    await expect(envRow(page, `${title} second`)).toBeVisible({ timeout: 5_000 });
    await deleteEnv(api, other.guid);
    await expect(envRow(page, `${title} second`)).toHaveCount(0, { timeout: 5_000 });
  } finally {
    await deleteEnv(api, created.guid);
    await api.dispose();
  }
});

test('a failed sync of the declarative file shows a banner, which goes when it is fixed', async ({ page }) => {
  const file = env('EXECENV_SYNC_FILE');
  const good = readFileSync(file, 'utf8');
  await signIn(page, keys.admin());
  try {
    writeFileSync(file, 'environments: [ this is: not valid yaml\n');
    const banner = page.getByRole('alert').filter({ hasText: 'failed' });
    await expect(banner).toBeVisible({ timeout: 20_000 });
    await expect(banner).toContainText(file.split('/').pop()!);
  } finally {
    writeFileSync(file, good);
  }
  await expect(page.getByRole('alert').filter({ hasText: 'failed' })).toHaveCount(0, { timeout: 20_000 });
});
