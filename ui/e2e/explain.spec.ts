import { expect, test } from '@playwright/test';
import { checkA11y, env, keys, screenshots, signIn } from './helpers';

test('explain a manifest: the selection and every verdict', async ({ page }) => {
  const version = env('EXECENV_PYTHON_VERSION');
  await signIn(page, keys.admin());
  await page.getByRole('link', { name: 'Which environment?' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Which environment?' })).toBeVisible();
  const manifest = { version: 1, metadata: { appmode: 'python-script', entrypoint: 'app.py' }, python: { version } };
  await page.getByRole('textbox', { name: 'manifest.json' }).fill(JSON.stringify(manifest, null, 2));
  await page.getByRole('button', { name: 'Explain' }).click();
  await expect(page.getByText(/^Chosen: /)).toBeVisible();
  const verdicts = page.getByRole('table', { name: 'Verdicts' });
  await expect(verdicts.getByRole('row', { name: /Host Python/ })).toContainText(/Chosen|Compatible/);
  await expect(verdicts.getByText('Rejected').first()).toBeVisible(); // Open Quarto has no Python
  await checkA11y(page, 'the explain page');
  await screenshots(page, 'explain');

  // Versions instead of a manifest; a version nothing has → no environment fits, with reasons.
  await page.getByRole('radio', { name: 'the versions it needs' }).check();
  await page.getByLabel('Python version').fill('2.7.18');
  await page.getByRole('button', { name: 'Explain' }).click();
  await expect(page.getByText('No environment fits.')).toBeVisible();

  // Not JSON: said on the page, nothing sent.
  await page.getByRole('radio', { name: 'its manifest.json' }).check();
  await page.getByRole('textbox', { name: 'manifest.json' }).fill('{ not json');
  await page.getByRole('button', { name: 'Explain' }).click();
  await expect(page.getByRole('alert')).toContainText('not valid JSON');
});
