import { expect, test } from '@playwright/test';
import { checkA11y, env, keyApi, keys, screenshots, signIn } from './helpers';

test("follow a launch's logs while it runs, and cancel another", async ({ page }) => {
  const api = await keyApi();
  const content = { guid: env('EXECENV_CONTENT_GUID'), bundle: env('EXECENV_BUNDLE_ID') };
  const manifest = { version: 1, metadata: { appmode: 'python-script', entrypoint: 'app.py' }, python: { version: env('EXECENV_PYTHON_VERSION') } };
  // A run needs its bundle built first (the content runner refuses otherwise); a build is idempotent.
  const build = await api.post('/__api__/execenv/v1/launches', { data: { kind: 'build', content: { ...content, manifest }, command: [] } });
  expect(build.status(), await build.text()).toBe(200);
  const buildId = ((await build.json()) as { id: string }).id;
  await expect
    .poll(async () => ((await (await api.get(`/__api__/execenv/v1/launches/${buildId}`)).json()) as { state: string }).state, { timeout: 120_000 })
    .toMatch(/succeeded|failed|cancelled/);
  const script = "import time\nfor i in range(6):\n    print('tick', i, flush=True)\n    time.sleep(0.7)\nprint('done ticking', flush=True)";
  const started = await api.post('/__api__/execenv/v1/launches', {
    data: { kind: 'run', content: { ...content, manifest }, command: ['python', '-c', script] },
  });
  expect(started.status(), await started.text()).toBe(200);
  const launch = (await started.json()) as { id: string };
  try {
    await signIn(page, keys.admin());
    await page.getByRole('link', { name: 'Launches' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Launches' })).toBeVisible();
    const link = page.getByRole('link', { name: `Launch ${launch.id}` });
    await expect(link).toBeVisible();
    await checkA11y(page, 'the launches page');
    await screenshots(page, 'launches');
    await link.click();

    await expect(page.getByRole('heading', { level: 1 })).toContainText(launch.id);
    const log = page.getByRole('log');
    // The output arrives while the launch runs, before it ends.
    await expect(log).toContainText('tick 0', { timeout: 30_000 });
    await expect(page.getByTestId('launch-state')).toHaveText(/running|pending/);
    await expect(log).toContainText('done ticking', { timeout: 30_000 });
    await expect(page.getByText('End of output.')).toBeVisible({ timeout: 30_000 });
    await expect(page.getByTestId('launch-state')).toHaveText(/succeeded|failed/, { timeout: 30_000 });
    await checkA11y(page, 'a launch page');
    await screenshots(page, 'launch');

    // Cancel a long run from its page.
    const long = await api.post('/__api__/execenv/v1/launches', {
      data: { kind: 'run', content: { ...content, manifest }, command: ['python', '-c', 'import time; print("sleeping", flush=True); time.sleep(120)'] },
    });
    expect(long.status(), await long.text()).toBe(200);
    const longId = ((await long.json()) as { id: string }).id;
    await page.goto(`/launches/${longId}`);
    await expect(page.getByRole('log')).toContainText('sleeping', { timeout: 30_000 });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.getByTestId('launch-state')).toHaveText('cancelled', { timeout: 30_000 });
    await expect(page.getByRole('button', { name: 'Cancel' })).toHaveCount(0);
  } finally {
    await api.dispose();
  }
});
