import { expect, test } from '@playwright/test';
import { checkA11y, createEnv, deleteEnv, keyApi, keys, screenshots, signIn, unique } from './helpers';

test('the audit trail, filtered by environment and time', async ({ page }) => {
  const api = await keyApi();
  const title = unique('Audited');
  const created = await createEnv(api, { name: `ghcr.io/acme/audited:${Date.now()}`, title });
  const put = await api.put(`/__api__/v1/environments/${created.guid}`, { data: { title: `${title} v2`, matching: 'none' } });
  expect(put.status(), await put.text()).toBe(200);
  try {
    await signIn(page, keys.admin());
    await page.getByRole('link', { name: 'Activity' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Activity' })).toBeVisible();
    await page.getByLabel('Environment guid').fill(created.guid);
    const changes = page.getByRole('list', { name: 'Changes' });
    await expect(changes.getByRole('listitem')).toHaveCount(2);
    const update = changes.getByRole('listitem').first();
    await expect(update).toContainText('changed');
    await expect(update.getByRole('row', { name: /title/ })).toContainText(`${title} v2`);
    await expect(changes.getByRole('listitem').last()).toContainText('created');
    await checkA11y(page, 'the activity page');
    await screenshots(page, 'activity');

    // A time window after both changes: nothing.
    await page.getByLabel('From').fill('2999-01-01T00:00');
    await expect(changes.getByRole('listitem')).toHaveCount(0);
    await page.getByLabel('From').fill('');
    await expect(changes.getByRole('listitem')).toHaveCount(2);
  } finally {
    await deleteEnv(api, created.guid);
    await api.dispose();
  }
});
