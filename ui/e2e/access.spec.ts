import { expect, test } from '@playwright/test';
import { checkA11y, createEnv, deleteEnv, envRow, keyApi, keys, searchFor, signIn, unique } from './helpers';

test('edit the access list with user and group search', async ({ page }) => {
  const api = await keyApi();
  const title = unique('Access test');
  const env = await createEnv(api, { name: `ghcr.io/acme/access:${Date.now()}`, title });
  try {
    await signIn(page, keys.admin());
    await searchFor(page, title);
    const row = envRow(page, title);
    await expect(row.getByRole('cell', { name: 'Everyone' })).toBeVisible();
    await row.getByRole('button', { name: `Access to ${title}` }).click();
    const dialog = page.getByRole('dialog', { name: `Access to ${title}` });
    await expect(dialog).toContainText('Everyone');

    const search = dialog.getByLabel('Search users and groups');
    await search.fill('pa');
    await dialog.getByRole('button', { name: 'Add user pat' }).click();
    await expect(dialog.getByRole('list', { name: 'Access list' })).toContainText('pat');
    await search.fill('anal');
    await dialog.getByRole('button', { name: 'Add group analysts' }).click();
    await expect(dialog.getByRole('list', { name: 'Access list' })).toContainText('analysts');
    await expect(dialog.getByRole('button', { name: 'Added group analysts' })).toBeDisabled();
    await checkA11y(page, 'the access dialog');

    const perms = await (await api.get(`/__api__/v1/environments/${env.guid}/permissions`)).json();
    expect(perms).toHaveLength(2);

    // Remove the user again.
    await dialog.getByRole('button', { name: /^Remove user pat/ }).click();
    await expect(dialog.getByRole('list', { name: 'Access list' })).not.toContainText('pat');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect(dialog).toBeHidden();
    await expect(row.getByRole('cell', { name: '0 users, 1 group' })).toBeVisible();
    const after = (await (await api.get(`/__api__/v1/environments/${env.guid}/permissions`)).json()) as { group_guid: string | null }[];
    expect(after).toHaveLength(1);
    expect(after[0].group_guid).toBeTruthy();
  } finally {
    await deleteEnv(api, env.guid);
    await api.dispose();
  }
});

test('a file-managed environment cannot be edited or deleted, but its access can change', async ({ page }) => {
  await signIn(page, keys.admin());
  await searchFor(page, 'Host Python');
  const row = envRow(page, 'Host Python');
  await expect(row).toContainText('managed by file');
  await expect(row.getByRole('button', { name: 'Edit Host Python' })).toBeDisabled();
  await expect(row.getByRole('button', { name: 'Delete Host Python' })).toBeDisabled();
  await expect(row.getByRole('button', { name: 'Edit Host Python' })).toHaveAccessibleDescription(/declarative file/);
  await row.getByRole('button', { name: 'Details of Host Python' }).click();
  await expect(page.getByText(/Managed by the declarative file: change it in the file/).first()).toBeVisible();
  await row.getByRole('button', { name: 'Access to Host Python' }).click();
  const dialog = page.getByRole('dialog', { name: 'Access to Host Python' });
  await expect(dialog).toContainText('access list can still be changed');
  await expect(dialog.getByLabel('Search users and groups')).toBeEnabled();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
});
