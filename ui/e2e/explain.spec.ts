import { expect, test } from '@playwright/test';
import { checkA11y, env, keyApi, keys, screenshots, signIn } from './helpers';

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
  const row = (title: string) => verdicts.getByRole('row').filter({ has: page.getByRole('rowheader', { name: title, exact: true }) });
  await expect(row('Host Python')).toContainText(/Chosen|Compatible/);
  await expect(verdicts.getByText('Rejected').first()).toBeVisible(); // Open Quarto has no Python

  // A reason that refers to another environment ("ranked below <guid>: …") names it: no reason
  // shows the bare guid of a listed environment, which stays in the name's title.
  const api = await keyApi();
  const answer = await api.post('/__api__/execenv/v1/explain', { data: { manifest } });
  expect(answer.status(), await answer.text()).toBe(200);
  const { verdicts: listed } = (await answer.json()) as { verdicts: { environment_guid: string; reasons: string[] }[] };
  await api.dispose();
  const guids = listed.map((v) => v.environment_guid.toLowerCase());
  const reasons = (await verdicts.locator('tbody td li').allInnerTexts()).join('\n').toLowerCase();
  for (const g of guids) expect(reasons, 'the reasons name environments, not guids').not.toContain(g);
  const referred = guids.filter((g) => listed.some((v) => v.reasons.some((r) => r.toLowerCase().includes(g))));
  await expect(row('Team Python 3.11')).toContainText('ranked below Host Python'); // the seed's Host Python matches exactly
  expect(referred.length, 'a reason refers to another environment').toBeGreaterThan(0);
  for (const g of referred) await expect(verdicts.locator(`abbr[data-guid="${g}" i]`).first()).toHaveAttribute('title', new RegExp(g, 'i'));
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
