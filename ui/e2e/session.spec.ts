import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { baseURL, checkA11y, keys, screenshots, signIn } from './helpers';

test('sign in with an API key, resume after reload, sign out ends the session', async ({ page, context, playwright }) => {
  const key = keys.admin();
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  const cspErrors: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });

  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByLabel('API key')).toHaveAttribute('type', 'password');
  await checkA11y(page, 'the sign-in page');
  await screenshots(page, 'sign-in');

  // A wrong key is refused on the page.
  await page.getByLabel('API key').fill('not-a-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('not valid');

  await signIn(page, key);
  await expect(page).toHaveURL(/\/environments$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Environments' })).toBeVisible();

  // A reload resumes the session through GET /session.
  await page.reload();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Environments', exact: true })).toBeVisible();

  // The key is nowhere in the page: storage, readable cookies, URLs.
  const stored = await page.evaluate(() => ({
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
    cookie: document.cookie,
    url: location.href,
    html: document.documentElement.outerHTML,
  }));
  expect(stored.local).not.toContain(key);
  expect(stored.session).not.toContain(key);
  expect(stored.cookie).not.toContain(key);
  expect(stored.cookie).not.toContain('execenv_session'); // HttpOnly
  expect(stored.url).not.toContain(key);
  expect(stored.html).not.toContain(key);
  for (const u of urls) expect(u).not.toContain(key);

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'execenv_session');
  expect(session, 'the session cookie').toBeTruthy();
  expect(session!.httpOnly).toBe(true);
  expect(session!.sameSite).toBe('Strict');
  expect(session!.value).not.toContain(key);

  // The cookie works on its own (as a browser sends it) before sign-out…
  const replay = await playwright.request.newContext({ baseURL: baseURL(), extraHTTPHeaders: { Cookie: `execenv_session=${session!.value}` } });
  expect((await replay.get('/__api__/execenv/v1/session')).status()).toBe(200);
  // …a mutating request with the cookie but without the CSRF token is refused…
  expect((await replay.post('/__api__/v1/environments', { data: { name: 'csrf/should-not-exist:1' } })).status()).toBe(403);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByLabel('API key')).toBeVisible();
  await expect(page.getByLabel('API key')).toHaveValue('');

  // …and refused after sign-out.
  expect((await replay.get('/__api__/execenv/v1/session')).status()).toBe(401);
  expect((await replay.get('/__api__/execenv/v1/environments')).status()).toBe(401);
  await replay.dispose();

  // The page itself is signed out after a reload too.
  await page.goto('/environments');
  await expect(page).toHaveURL(/\/sign-in$/);

  // The built app needs nothing the gateway's CSP (default-src 'self') forbids.
  expect(cspErrors).toEqual([]);

  // Neither the key nor the cookie is in the gateway's log.
  const logPath = process.env.EXECENV_GATEWAY_LOG;
  if (logPath) {
    const log = readFileSync(logPath, 'utf8');
    expect(log.includes(key), 'the API key in the gateway log').toBe(false);
    expect(log.includes(session!.value), 'the session cookie in the gateway log').toBe(false);
  }
});
