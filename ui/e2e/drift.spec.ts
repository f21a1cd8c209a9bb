import { execFile } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { checkA11y, deleteEnv, env, envRow, findByTitle, keyApi, keys, screenshots, searchFor, signIn } from './helpers';

// The fixture (e2e/src/console.rs) runs the image examiner against a real OCI registry holding
// EXECENV_DRIFT_IMAGE (Python 3.11.2 at /opt/python/default, declared 3.12.4 by "Drifting
// Python"), EXECENV_OK_IMAGE
// (R 4.2.2, declared so by "Checked R") and EXECENV_FILL_IMAGE (Quarto 1.5.57, in no
// environment), and waits until both environments were checked before the specs start. It also
// pushed EXECENV_FIXED_IMAGE (Python 3.12.4 at /opt/python/default): moving the drifting tag
// there clears the drift; the tag is moved back by EXECENV_DRIFT_DIGEST.

/** Copies the image `from` to the reference `to` in the fixture's plain-HTTP registry. */
function retag(from: string, to: string): Promise<void> {
  const args = ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${from}`, `docker://${to}`];
  return new Promise((resolve, reject) => {
    execFile('skopeo', args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`skopeo ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
}

test('drift stands out in the table and its findings are in the details', async ({ page }) => {
  await signIn(page, keys.admin());
  const drifting = envRow(page, 'Drifting Python');
  const fine = envRow(page, 'Checked R');
  await expect(drifting.locator('[data-check]')).toHaveAttribute('data-check', 'drift');
  await expect(drifting.locator('[data-check]')).toContainText('drift');
  await expect(fine.locator('[data-check]')).toHaveAttribute('data-check', 'ok');

  // The badge says why, for people and screen readers alike.
  const why = 'Python at /opt/python/default/bin/python3 is declared as 3.12.4 but the image has 3.11.2';
  await expect(drifting.locator('[data-check]')).toHaveAttribute('title', why);

  await drifting.getByRole('button', { name: 'Details of Drifting Python' }).click();
  const findings = page.getByRole('list', { name: 'Findings' });
  await expect(findings).toBeVisible();
  await expect(findings.getByRole('listitem').first()).toHaveText(`Drift ${why}`);
  await expect(page.getByText('Checked:').first()).toBeVisible();
  await checkA11y(page, 'the environments page with image checks');
  await screenshots(page, 'drift');

  // A round of checks now, on request: every badge is as the round left it.
  await page.getByRole('button', { name: 'Check images now' }).click();
  await expect(page.getByText(/^Checked \d+ environments: \d+ needs? attention\.$/)).toBeVisible({ timeout: 60_000 });
  await expect(drifting.locator('[data-check]')).toHaveAttribute('data-check', 'drift');
  await expect(fine.locator('[data-check]')).toHaveAttribute('data-check', 'ok');

  // The REST API says the same, for scripts.
  const api = await keyApi();
  const answer = await api.get('/__api__/execenv/v1/checks');
  expect(answer.status(), await answer.text()).toBe(200);
  const { checks } = (await answer.json()) as { checks: { title: string | null; state: string; findings: { kind: string }[] }[] };
  await api.dispose();
  expect(checks.find((c) => c.title === 'Drifting Python')?.findings.map((f) => f.kind)).toContain('version_mismatch');
  expect(checks.find((c) => c.title === 'Checked R')?.state).toBe('ok');
});

test('moving the tag to a fixed image clears the drift, and moving it back shows it again', async ({ page }) => {
  const drift = env('EXECENV_DRIFT_IMAGE');
  const original = `${drift.slice(0, drift.lastIndexOf(':'))}@${env('EXECENV_DRIFT_DIGEST')}`;
  await signIn(page, keys.admin());
  const badge = envRow(page, 'Drifting Python').locator('[data-check]');
  await expect(badge).toHaveAttribute('data-check', 'drift');
  try {
    await retag(env('EXECENV_FIXED_IMAGE'), drift);
    await page.getByRole('button', { name: 'Check images now' }).click();
    await expect(badge).toHaveAttribute('data-check', 'ok', { timeout: 60_000 });
    await expect(badge).not.toHaveAttribute('title', /declared as 3\.12\.4/);
    await screenshots(page, 'drift-cleared');
  } finally {
    await retag(original, drift);
  }
  await page.getByRole('button', { name: 'Check images now' }).click();
  await expect(badge).toHaveAttribute('data-check', 'drift', { timeout: 60_000 });
});

test('a publisher sees the checks of the environments they may use', async ({ page }) => {
  await signIn(page, keys.publisher());
  await searchFor(page, 'Open Quarto');
  await expect(envRow(page, 'Open Quarto').locator('[data-check]')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Check images now' })).toHaveCount(0);
});

test('Fill from image fills the new environment from what the image holds', async ({ page }) => {
  const image = env('EXECENV_FILL_IMAGE');
  const api = await keyApi();
  try {
    await signIn(page, keys.admin());
    await page.getByRole('button', { name: 'New environment' }).click();
    const dialog = page.getByRole('dialog', { name: 'New environment' });
    await expect(dialog.getByRole('button', { name: 'Fill from image' })).toBeDisabled();
    await dialog.getByLabel('Image').fill(image);
    await dialog.getByRole('button', { name: 'Fill from image' }).click();
    await expect(dialog.getByRole('status')).toContainText('1 installation filled in', { timeout: 60_000 });
    await expect(dialog.getByLabel('Title')).toHaveValue('quarto:1.5 (Quarto 1.5.57)');
    await expect(dialog.getByLabel('Version of Quarto installation 1')).toHaveValue('1.5.57');
    await expect(dialog.getByLabel('Path of Quarto installation 1')).toHaveValue('/opt/quarto/1.5.57/bin/quarto');
    await checkA11y(page, 'the new environment dialog filled from an image');
    await screenshots(page, 'fill-from-image');

    // Nothing is stored until Create; then the environment is the image's.
    expect(await findByTitle(api, 'quarto:1.5 (Quarto 1.5.57)')).toHaveLength(0);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect(dialog).toBeHidden();
    const [created] = await findByTitle(api, 'quarto:1.5 (Quarto 1.5.57)');
    expect(created.name).toBe(image);

    // An image the registry does not have is said next to the button; what was typed stays.
    await page.getByRole('button', { name: 'New environment' }).click();
    await dialog.getByLabel('Image').fill(`${image}-missing`);
    await dialog.getByLabel('Title').fill('Typed by hand');
    await dialog.getByRole('button', { name: 'Fill from image' }).click();
    await expect(dialog.getByRole('alert')).toContainText('Could not read the image:', { timeout: 60_000 });
    await expect(dialog.getByLabel('Title')).toHaveValue('Typed by hand');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  } finally {
    for (const e of await findByTitle(api, 'quarto:1.5 (Quarto 1.5.57)')) await deleteEnv(api, e.guid);
    await api.dispose();
  }
});
