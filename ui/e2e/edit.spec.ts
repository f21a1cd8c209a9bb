import { expect, test } from '@playwright/test';
import { checkA11y, deleteEnv, envRow, findByTitle, keyApi, keys, screenshots, searchFor, signIn, unique } from './helpers';

test('create with a mistake shows the error by its field and stores nothing; fix, save, edit, delete', async ({ page }) => {
  const api = await keyApi();
  const title = unique('Created in the console');
  const image = `ghcr.io/acme/console:${Date.now()}`;
  try {
    await signIn(page, keys.admin());
    await page.getByRole('button', { name: 'New environment' }).click();
    const dialog = page.getByRole('dialog', { name: 'New environment' });
    await expect(dialog).toBeVisible();
    await checkA11y(page, 'the new environment dialog');

    await dialog.getByLabel('Image').fill(image);
    await dialog.getByLabel('Title').fill(title);
    await dialog.getByLabel('Description').fill('Made by the console test');
    await dialog.getByLabel('Matching').selectOption('exact');
    await dialog.getByRole('button', { name: 'Add Python installation' }).click();
    // The mistake: a version that is not a full semantic version.
    await dialog.getByLabel('Version of Python installation 1').fill('3.11');
    await dialog.getByLabel('Path of Python installation 1').fill('/opt/python/3.11.9/bin/python3');
    await dialog.getByRole('button', { name: 'Add volume mount' }).click();
    await dialog.getByLabel('Claim name of volume mount 1').fill('shared-data');
    await dialog.getByLabel('Target path of volume mount 1').fill('/mnt/shared');
    await dialog.getByLabel('Read-only volume mount 1').check();
    await screenshots(page, 'environment-dialog');
    await dialog.getByRole('button', { name: 'Create' }).click();

    const version = dialog.getByLabel('Version of Python installation 1');
    await expect(version).toHaveAttribute('aria-invalid', 'true');
    const errorId = await version.getAttribute('aria-describedby');
    expect(errorId).toBeTruthy();
    await expect(page.locator(`[id="${errorId}"]`)).toContainText(/version/i);
    await expect(version).toBeFocused();
    await expect(dialog.getByRole('alert')).toContainText('nothing was saved');
    await checkA11y(page, 'the dialog showing an error');
    await screenshots(page, 'environment-dialog-error');
    expect(await findByTitle(api, title), 'nothing stored after the error').toEqual([]);

    // Fix and save.
    await version.fill('3.11.9');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect(dialog).toBeHidden();
    await searchFor(page, title);
    await expect(envRow(page, title)).toBeVisible();
    const [stored] = await findByTitle(api, title);
    expect(stored).toMatchObject({
      name: image,
      matching: 'exact',
      description: 'Made by the console test',
      python: { installations: [{ version: '3.11.9', path: '/opt/python/3.11.9/bin/python3' }] },
      volume_mounts: [{ source: { volume_type: 'pvc', pvc_name: 'shared-data' }, target: { path: '/mnt/shared', read_only: true } }],
    });

    // Edit: the image cannot change; change the title, add an R installation, remove the mount.
    await envRow(page, title).getByRole('button', { name: `Edit ${title}` }).click();
    const edit = page.getByRole('dialog', { name: `Edit ${title}` });
    await expect(edit.getByLabel('Image')).toBeDisabled();
    await expect(edit.getByLabel('Version of Python installation 1')).toHaveValue('3.11.9');
    const renamed = `${title} (edited)`;
    await edit.getByLabel('Title').fill(renamed);
    await edit.getByRole('button', { name: 'Add R installation' }).click();
    await edit.getByLabel('Version of R installation 1').fill('4.3.2');
    await edit.getByLabel('Path of R installation 1').fill('/opt/R/4.3.2/bin/R');
    await edit.getByRole('button', { name: 'Remove volume mount 1' }).click();
    await edit.getByRole('button', { name: 'Save' }).click();
    await expect(edit).toBeHidden();
    await searchFor(page, renamed);
    await expect(envRow(page, renamed)).toBeVisible();
    const [changed] = await findByTitle(api, renamed);
    expect(changed).toMatchObject({ guid: stored.guid, name: image, r: { installations: [{ version: '4.3.2', path: '/opt/R/4.3.2/bin/R' }] }, volume_mounts: [] });

    // Delete.
    await envRow(page, renamed).getByRole('button', { name: `Delete ${renamed}` }).click();
    const confirm = page.getByRole('dialog', { name: `Delete ${renamed}?` });
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await expect(confirm).toBeHidden();
    await expect(envRow(page, renamed)).toHaveCount(0);
    expect(await findByTitle(api, renamed)).toEqual([]);
  } finally {
    for (const e of [...(await findByTitle(api, title)), ...(await findByTitle(api, `${title} (edited)`))]) await deleteEnv(api, e.guid);
    await api.dispose();
  }
});
