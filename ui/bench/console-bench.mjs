// `make bench` (execenv-bench console): the console with a large catalogue in real Chromium,
// driven by playwright-core. Prints one line per figure; asserts nothing.
//
//   EXECENV_CONSOLE_URL   the gateway serving the console
//   EXECENV_ADMIN_KEY     an administrator's API key (signed in through the page)
//   EXECENV_CHROMIUM      the Chromium executable (Debian's package)
//   EXECENV_ENVIRONMENTS  how many environments the catalogue holds (for the search terms)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const url = process.env.EXECENV_CONSOLE_URL;
const key = process.env.EXECENV_ADMIN_KEY;
const executablePath = process.env.EXECENV_CHROMIUM;
const count = Number(process.env.EXECENV_ENVIRONMENTS ?? '10000');
if (!url || !key || !executablePath) {
  console.error('set EXECENV_CONSOLE_URL, EXECENV_ADMIN_KEY and EXECENV_CHROMIUM');
  process.exit(2);
}
const RUNS = 7;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (xs) =>
  `median ${median(xs).toFixed(0)} ms, min ${Math.min(...xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (${xs.length} runs)`;

function assets(dir) {
  let raw = 0;
  let gzipped = 0;
  const files = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(dir);
  for (const file of files) {
    const bytes = readFileSync(file);
    raw += bytes.length;
    gzipped += gzipSync(bytes, { level: 9 }).length;
  }
  return { files: files.length, raw, gzipped };
}

const browser = await chromium.launch({ executablePath });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const signIn = await context.newPage();
  await signIn.goto(`${url}/sign-in`);
  await signIn.getByLabel('API key').fill(key);
  await signIn.getByRole('button', { name: 'Sign in' }).click();
  await signIn.getByRole('table', { name: 'Environments' }).locator('tbody tr').first().waitFor();
  await signIn.close();

  // A fresh page load of the environments page until its first row is on screen.
  const firstTable = [];
  for (let i = 0; i < RUNS; i++) {
    const page = await context.newPage();
    const started = performance.now();
    await page.goto(`${url}/environments`);
    await page.getByRole('table', { name: 'Environments' }).locator('tbody tr').first().waitFor();
    firstTable.push(performance.now() - started);
    await page.close();
  }
  console.log(`first table (${count} environments): ${summary(firstTable)}`);

  // The last keystroke of a search that narrows the catalogue to one environment, until the
  // table shows exactly that one.
  const page = await context.newPage();
  await page.goto(`${url}/environments`);
  const table = page.getByRole('table', { name: 'Environments' });
  await table.locator('tbody tr').first().waitFor();
  const search = page.getByRole('searchbox', { name: 'Search environments' });
  const rows = table.locator('tbody tr');
  // Polls the table (a CDP round trip each, about a millisecond) until it shows `want` rows.
  const rowsBecome = async (want) => {
    const deadline = performance.now() + 30_000;
    while ((await rows.count()) !== want) {
      if (performance.now() > deadline) throw new Error(`the table never showed ${want} rows`);
    }
  };
  const keystroke = [];
  for (let i = 0; i < RUNS; i++) {
    // Titles are "select N": "select 125" matches 11 of them (125, 1250-1259), "select 1250" one.
    const n = 1000 + Math.floor(((i + 1) * (count - 1000)) / (RUNS + 1) / 10) * 10;
    const term = `select ${n}`;
    await search.fill(term.slice(0, -1));
    await rowsBecome(11);
    const started = performance.now();
    await search.press(term.slice(-1));
    await rowsBecome(1);
    keystroke.push(performance.now() - started);
  }
  console.log(`search keystroke -> updated table: ${summary(keystroke)}`);

  // Paging through the whole catalogue: "Next page" until its first row changes.
  await search.fill('');
  await rowsBecome(50);
  const next = page.getByRole('button', { name: 'Next page' });
  const paging = [];
  for (let i = 0; i < RUNS * 3; i++) {
    const before = await rows.first().textContent();
    const started = performance.now();
    await next.click();
    const deadline = started + 30_000;
    while ((await rows.first().textContent()) === before) {
      if (performance.now() > deadline) throw new Error('the next page never came');
    }
    paging.push(performance.now() - started);
  }
  console.log(`next page: ${summary(paging)}`);
} finally {
  await browser.close();
}

const size = assets(new URL('../dist', import.meta.url).pathname);
console.log(
  `assets: ${size.files} files, ${(size.raw / 1024).toFixed(1)} KiB, ${(size.gzipped / 1024).toFixed(1)} KiB gzipped`,
);
