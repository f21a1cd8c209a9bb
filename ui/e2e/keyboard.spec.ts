import { expect, test, type Page } from '@playwright/test';
import { createEnv, deleteEnv, envRow, envTable, keyApi, keys, signIn, unique } from './helpers';

/** Presses Tab until `predicate` holds for the focused element (at most `max` times). */
async function tabTo(page: Page, predicate: (el: Element) => boolean, max = 60, shift = false): Promise<void> {
  const source = predicate.toString();
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(shift ? 'Shift+Tab' : 'Tab');
    const ok = await page.evaluate((src) => {
      const fn = new Function(`return (${src})`)() as (el: Element) => boolean;
      return document.activeElement ? fn(document.activeElement) : false;
    }, source);
    if (ok) return;
  }
  throw new Error(`no focusable element matched ${source}`);
}

const named = (name: string) => (el: Element) => (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() === name;

test('the environments table and the edit dialog by keyboard only', async ({ page }) => {
  const api = await keyApi();
  const title = unique('Keyboard');
  const created = await createEnv(api, { name: `ghcr.io/acme/keyboard:${Date.now()}`, title });
  try {
    await signIn(page, keys.admin());
    await page.keyboard.press('Tab');
    // Search.
    await tabTo(page, (el) => el.getAttribute('role') === 'searchbox');
    await page.keyboard.type(title);
    await expect(envTable(page).getByRole('rowheader')).toHaveText([title]);

    // Sort by a column header button.
    await tabTo(page, (el) => el.classList.contains('sort') && el.textContent!.startsWith('Image'));
    await page.keyboard.press('Enter');
    await expect(envTable(page).getByRole('columnheader', { name: 'Image' })).toHaveAttribute('aria-sort', 'ascending');
    await page.keyboard.press('Space');
    await expect(envTable(page).getByRole('columnheader', { name: 'Image' })).toHaveAttribute('aria-sort', 'descending');

    // Expand the row.
    const expand = `Details of ${title}`;
    await tabTo(page, new Function('el', `return el.getAttribute('aria-label') === ${JSON.stringify(expand)}`) as (el: Element) => boolean);
    await page.keyboard.press('Enter');
    await expect(envRow(page, title).getByRole('button', { name: expand })).toHaveAttribute('aria-expanded', 'true');
    await expect(page.locator(`#env-details-${created.guid}`)).toBeVisible();

    // Open Edit with the keyboard; focus moves into the dialog and stays there.
    await tabTo(page, new Function('el', `return el.getAttribute('aria-label') === ${JSON.stringify(`Edit ${title}`)}`) as (el: Element) => boolean);
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: `Edit ${title}` });
    await expect(dialog).toBeVisible();
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      expect(await dialog.evaluate((d) => d.contains(document.activeElement)), `focus stays in the dialog (Tab ${i + 1})`).toBe(true);
    }
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Shift+Tab');
      expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
    }
    // Escape closes it and focus returns to the Edit button.
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    await expect(envRow(page, title).getByRole('button', { name: `Edit ${title}` })).toBeFocused();

    // Edit and save by keyboard: the Title field, then Enter submits the form.
    await page.keyboard.press('Enter');
    await expect(dialog).toBeVisible();
    await tabTo(page, (el) => el.id === 'f-title');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(`${title} by keys`);
    await page.keyboard.press('Enter');
    await expect(dialog).toBeHidden();
    await expect(page.getByRole('status').filter({ hasText: /environment/ })).toBeVisible();
    const r = await api.get(`/__api__/v1/environments/${created.guid}`);
    expect(((await r.json()) as { title: string }).title).toBe(`${title} by keys`);

    // New environment by keyboard, cancelled with Escape: focus returns to the button.
    await page.getByRole('button', { name: 'New environment' }).focus();
    await page.keyboard.press('Enter');
    const create = page.getByRole('dialog', { name: 'New environment' });
    await expect(create).toBeVisible();
    await expect(create.getByLabel('Image')).toBeFocused();
    await page.keyboard.press('Escape');
    await expect(create).toBeHidden();
    await expect(page.getByRole('button', { name: 'New environment' })).toBeFocused();
    void named;
  } finally {
    await deleteEnv(api, created.guid);
    await api.dispose();
  }
});
