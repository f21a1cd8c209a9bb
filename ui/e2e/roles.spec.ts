import { expect, test } from '@playwright/test';
import { checkA11y, envRow, envTable, keyApi, keys, screenshots, signIn } from './helpers';

test('a publisher sees only the environments they may use, read-only', async ({ page }) => {
  await signIn(page, keys.publisher());
  await expect(page.getByText('Publisher')).toBeVisible();
  const table = envTable(page);
  await expect(envRow(page, 'Team Python 3.11')).toBeVisible();
  await expect(envRow(page, 'Host Python')).toBeVisible();
  await expect(envRow(page, 'Open Quarto')).toBeVisible();
  await expect(envRow(page, 'Admins only R')).toHaveCount(0);

  // What the page shows is what the API lets pat use.
  const api = await keyApi(keys.publisher());
  const body = (await (await api.get('/__api__/execenv/v1/environments?page_size=1000')).json()) as { total: number };
  await expect(page.getByText(`${body.total} environment`)).toBeVisible();
  await api.dispose();

  await expect(page.getByRole('button', { name: 'New environment' })).toHaveCount(0);
  await expect(table.getByRole('button', { name: /^(Edit|Delete|Access)/ })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Activity' })).toHaveCount(0);
  // Expanding still works.
  await envRow(page, 'Team Python 3.11').getByRole('button', { name: 'Details of Team Python 3.11' }).click();
  await expect(page.locator('.details-row')).toContainText('GUID');
  // pat cannot list users and groups: the access list is summed up, not shown as guids.
  const access = page.locator('.details-row dt:text-is("Access") + dd');
  await expect(access).toHaveText('Restricted: 0 users, 1 group — you through a group');
  await expect(access).not.toContainText(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i);
  await checkA11y(page, 'the environments page of a publisher');
});

test('a viewer is refused with a page that says so', async ({ page }) => {
  await signIn(page, keys.viewer());
  await expect(page.getByRole('heading', { name: 'No access' })).toBeVisible();
  await expect(page.getByText('Viewers cannot see or use execution environments')).toBeVisible();
  await expect(page.getByRole('table')).toHaveCount(0);
  await expect(page.getByRole('navigation', { name: 'Main' })).toHaveCount(0);
  await checkA11y(page, 'the viewer page');
  await screenshots(page, 'viewer');
  await page.goto('/launches');
  await expect(page.getByRole('heading', { name: 'No access' })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
});
