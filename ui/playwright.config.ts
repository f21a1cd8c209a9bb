import { defineConfig } from '@playwright/test';

// Run by e2e/tests/console.rs against the real services (see /e2e in the repository), or by hand:
//   EXECENV_CONSOLE_URL=http://127.0.0.1:3939 EXECENV_CHROMIUM=/usr/bin/chromium EXECENV_ADMIN_KEY=… npm run e2e
// Playwright's own browsers are never downloaded: Debian's Chromium is driven through executablePath.
export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.ts',
  workers: 1,
  retries: 0,
  fullyParallel: false,
  reporter: 'list',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  outputDir: process.env.EXECENV_PLAYWRIGHT_OUTPUT ?? 'test-results',
  use: {
    baseURL: process.env.EXECENV_CONSOLE_URL ?? 'http://127.0.0.1:3939',
    browserName: 'chromium',
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: process.env.EXECENV_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    },
    permissions: ['clipboard-read', 'clipboard-write'],
    trace: 'off',
    screenshot: 'only-on-failure',
  },
});
