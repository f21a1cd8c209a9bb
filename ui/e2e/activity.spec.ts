import { expect, test } from '@playwright/test';
import { checkA11y, createEnv, deleteEnv, keyApi, keys, screenshots, signIn, unique } from './helpers';

test('the audit trail, by whom, filtered by an environment chosen by title and by time', async ({ page }) => {
  const api = await keyApi();
  const title = unique('Audited');
  const created = await createEnv(api, { name: `ghcr.io/acme/audited:${Date.now()}`, title });
  const put = await api.put(`/__api__/v1/environments/${created.guid}`, { data: { title: `${title} v2`, matching: 'none' } });
  expect(put.status(), await put.text()).toBe(200);
  try {
    await signIn(page, keys.admin());
    await page.getByRole('link', { name: 'Activity' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Activity' })).toBeVisible();
    // Search as you type: the title offers the environment; choosing it filters by its guid.
    const picker = page.getByRole('combobox', { name: 'Environment' });
    await picker.fill(title);
    const option = page.getByRole('listbox', { name: 'Environment suggestions' }).getByRole('option', { name: `${title} v2` });
    await expect(option).toBeVisible();
    await expect(picker).toHaveAttribute('aria-expanded', 'true');
    await checkA11y(page, 'the activity page with the environment picker open');
    await option.click();
    await expect(picker).toHaveValue(`${title} v2`);
    await expect(picker).toHaveAttribute('aria-expanded', 'false');
    const changes = page.getByRole('list', { name: 'Changes' });
    await expect(changes.getByRole('listitem')).toHaveCount(2);
    const update = changes.getByRole('listitem').first();
    await expect(update).toContainText('changed');
    await expect(update.getByRole('row', { name: /title/ })).toContainText(`${title} v2`);
    await expect(changes.getByRole('listitem').last()).toContainText('created');
    // Made with the admin key: its user's name, not its guid.
    for (const item of await changes.getByRole('listitem').all()) {
      await expect(item.getByText('admin', { exact: true })).toBeVisible();
      await expect(item).not.toContainText('unknown user');
    }
    await checkA11y(page, 'the activity page');
    await screenshots(page, 'activity');

    // A time window after both changes: nothing.
    await page.getByLabel('From').fill('2999-01-01T00:00');
    await expect(changes.getByRole('listitem')).toHaveCount(0);
    await page.getByLabel('From').fill('');
    await expect(changes.getByRole('listitem')).toHaveCount(2);

    // Clear, then choose with the keyboard; a pasted guid filters as it is.
    await page.getByRole('button', { name: 'Clear the environment filter' }).click();
    await expect(picker).toHaveValue('');
    await picker.pressSequentially(title);
    await expect(option).toBeVisible();
    await picker.press('ArrowDown');
    await expect(option).toHaveAttribute('aria-selected', 'true');
    await expect(picker).toHaveAttribute('aria-activedescendant', (await option.getAttribute('id')) ?? '');
    await picker.press('Enter');
    await expect(picker).toHaveValue(`${title} v2`);
    await picker.fill(created.guid);
    await expect(changes.getByRole('listitem')).toHaveCount(2);
    await expect(changes.getByRole('listitem').first()).toContainText(`${title} v2`);

    // An access change arrives on the open page, the group by its name.
    const groups = await api.get('/__api__/v1/groups?prefix=analysts');
    const analysts = ((await groups.json()) as { results: { guid: string; name: string }[] }).results.find((g) => g.name === 'analysts');
    expect(analysts, 'the seeded group analysts').toBeTruthy();
    const granted = await api.post(`/__api__/v1/environments/${created.guid}/permissions`, { data: { group_guid: analysts!.guid } });
    expect(granted.status(), await granted.text()).toBeLessThan(300);
    await expect(changes.getByRole('listitem')).toHaveCount(3);
    const allowed = changes.getByRole('listitem').first();
    await expect(allowed).toContainText('allowed');
    await expect(allowed).toContainText('may now be used by group analysts');
    await expect(allowed).not.toContainText(analysts!.guid);
  } finally {
    await deleteEnv(api, created.guid);
    await api.dispose();
  }
});
