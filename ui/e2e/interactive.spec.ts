import { expect, test } from '@playwright/test';
import { checkA11y, env, keyApi, keys, screenshots, signIn } from './helpers';

interface LaunchJson {
  id: string;
  kind: string;
  state: string;
}

// The fixture (e2e/src/console.rs) published the FastAPI test app as the publisher and opened it
// once, so an interactive launch of EXECENV_APP_GUID is ready. This spec never stops it.
test('interactive content: the summary, the ready launch and its Open link, the app behind the gateway, the launch page', async ({ page, context }) => {
  test.setTimeout(300_000);
  const guid = env('EXECENV_APP_GUID');
  const api = await keyApi();
  try {
    // Should an idle stop have ended the instance while earlier specs ran, this request starts it
    // again (a cold start takes minutes at most on a busy machine); either way it is ready after.
    const warm = await api.get(`/content/${guid}/`, { timeout: 180_000 });
    expect(warm.status(), await warm.text()).toBe(200);
    let id = '';
    await expect
      .poll(
        async () => {
          const r = await api.get(`/__api__/execenv/v1/launches?content_guid=${guid}`);
          const list = (await r.json()) as LaunchJson[];
          id = list.find((l) => l.kind === 'interactive' && l.state === 'ready')?.id ?? '';
          return id;
        },
        { timeout: 30_000 },
      )
      .not.toBe('');

    await signIn(page, keys.admin());
    await page.getByRole('link', { name: 'Launches' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Launches' })).toBeVisible();

    // The summary: this gateway's one instance of the app, ready, with a way to open it.
    const summary = page.getByRole('region', { name: 'Interactive content', exact: true });
    await expect(summary).toBeVisible({ timeout: 15_000 });
    await expect(summary.getByTestId('active-instances')).toHaveText(/^[1-9]\d*$/);
    const instance = summary.getByTestId('instance').filter({ has: page.getByRole('link', { name: `Open content ${guid}` }) });
    await expect(instance).toHaveCount(1);
    await expect(instance.getByText('ready', { exact: true })).toBeVisible();
    await expect(summary.getByTestId('cold-starts')).toHaveText(/^[1-9][\d,]*$/);

    // The launch serving it: ready, with an Open link to the content in a new tab.
    const row = page
      .getByRole('table', { name: 'Launches', exact: true })
      .getByRole('row')
      .filter({ has: page.getByRole('link', { name: `Launch ${id}`, exact: true }) });
    await expect(row).toHaveCount(1, { timeout: 15_000 });
    await expect(row.getByText('ready', { exact: true })).toBeVisible();
    await expect(row.getByText(/^cold start /)).toBeVisible();
    const open = row.getByRole('link', { name: `Open content ${guid}` });
    await expect(open).toHaveAttribute('href', `/content/${guid}/`);
    await expect(open).toHaveAttribute('target', '_blank');
    await expect(open).toHaveAttribute('rel', 'noopener');
    await checkA11y(page, 'the launches page with interactive content');
    await screenshots(page, 'interactive');

    // Opened from the console, the app answers through the gateway as the signed-in person: the
    // new tab shares the browser context, so the session cookie goes with it.
    const [tab] = await Promise.all([context.waitForEvent('page'), open.click()]);
    await tab.waitForLoadState('domcontentloaded');
    await expect(tab).toHaveURL(new RegExp(`/content/${guid}/$`));
    await expect(tab.locator('body')).toContainText('"app":"fastapi"', { timeout: 60_000 });
    await expect(tab.locator('body')).toContainText('"user":"admin"');
    await tab.close();

    // Its page: where it answers, no restarts, its cold start, Open, and Stop instead of Cancel.
    await row.getByRole('link', { name: `Launch ${id}`, exact: true }).click();
    await expect(page.getByRole('heading', { level: 1 })).toContainText(id);
    await expect(page.getByTestId('launch-state')).toHaveText('ready');
    await expect(page.getByTestId('launch-address')).toHaveText(/^[\w.-]+:\d+$/);
    await expect(page.getByTestId('launch-restarts')).toHaveText('0');
    await expect(page.getByTestId('launch-cold-start')).toHaveText(/^\(cold start \d+(\.\d)? (ms|s|min)/);
    await expect(page.getByRole('link', { name: `Open content ${guid}` })).toHaveAttribute('href', `/content/${guid}/`);
    await expect(page.getByRole('button', { name: 'Stop', exact: true })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Cancel', exact: true })).toHaveCount(0);
    await checkA11y(page, 'an interactive launch page');
    await screenshots(page, 'interactive-launch');
  } finally {
    await api.dispose();
  }
});
