import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { expect, request as pwRequest, type APIRequestContext, type Page } from '@playwright/test';

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (the e2e fixture sets it; see playwright.config.ts)`);
  return v;
}

export const keys = {
  admin: () => env('EXECENV_ADMIN_KEY'),
  publisher: () => env('EXECENV_PUBLISHER_KEY'),
  viewer: () => env('EXECENV_VIEWER_KEY'),
};

export function baseURL(): string {
  return process.env.EXECENV_CONSOLE_URL ?? 'http://127.0.0.1:3939';
}

/** A unique title for what a test creates, so tests do not see each other's environments. */
export function unique(prefix: string): string {
  return `${prefix} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** The REST API with a key (as posit-sdk calls it), for setting up and checking what the page did. */
export async function keyApi(key: string = keys.admin()): Promise<APIRequestContext> {
  return pwRequest.newContext({ baseURL: baseURL(), extraHTTPHeaders: { Authorization: `Key ${key}` } });
}

export interface Env {
  guid: string;
  title: string | null;
  name: string;
  managed_by: string | null;
  permissions?: { guid: string; user_guid: string | null; group_guid: string | null }[];
}

export async function createEnv(api: APIRequestContext, body: Record<string, unknown>): Promise<Env> {
  const r = await api.post('/__api__/v1/environments', { data: body });
  expect([200, 201], await r.text()).toContain(r.status());
  return (await r.json()) as Env;
}

export async function deleteEnv(api: APIRequestContext, guid: string): Promise<void> {
  const r = await api.delete(`/__api__/v1/environments/${guid}`);
  expect([204, 404]).toContain(r.status());
}

/** Every environment the key may use whose title is `title` (through the console's own list route). */
export async function findByTitle(api: APIRequestContext, title: string): Promise<Env[]> {
  const r = await api.get(`/__api__/execenv/v1/environments?search=${encodeURIComponent(title)}&page_size=1000`);
  expect(r.status(), await r.text()).toBe(200);
  const body = (await r.json()) as { environments: Env[] };
  return body.environments.filter((e) => e.title === title);
}

export async function signIn(page: Page, key: string): Promise<void> {
  await page.goto('/sign-in');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
}

export function envTable(page: Page) {
  return page.getByRole('table', { name: 'Environments', exact: true });
}

export function envRow(page: Page, title: string) {
  return envTable(page).getByRole('row').filter({ has: page.getByRole('rowheader', { name: title }) });
}

/** Shows only `title` in the table (through the search box) and waits for its row. */
export async function searchFor(page: Page, text: string): Promise<void> {
  await page.getByRole('searchbox', { name: 'Search environments' }).fill(text);
}

/** axe-core on the page as it is: no serious or critical violations. */
export async function checkA11y(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const summary = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n  ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n  ')}`);
  expect(summary, `accessibility of ${what}`).toEqual([]);
}

/**
 * A full-page screenshot `<name>.png` at 1280 px and `<name>-390.png` at 390 px into
 * EXECENV_SCREENSHOTS (skipped when unset); also checks that nothing overflows the page at 390 px
 * except inside the scrolling table regions.
 */
export async function screenshots(page: Page, name: string): Promise<void> {
  const dir = process.env.EXECENV_SCREENSHOTS;
  const size = page.viewportSize() ?? { width: 1280, height: 900 };
  if (dir) {
    mkdirSync(dir, { recursive: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `${name} fits 390 px without scrolling sideways`).toBeLessThanOrEqual(1);
  if (dir) await page.screenshot({ path: join(dir, `${name}-390.png`), fullPage: true });
  await page.setViewportSize(size);
}

/** Runs `$EXECENV_CTL args…` (a shell command prefix) and answers its output. */
export function ctl(args: string[]): Promise<string> {
  const prefix = env('EXECENV_CTL');
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', `${prefix} ${quoted}`], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${prefix} ${quoted}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
