/**
 * A real headless Chromium for the tests that look at a page as a person would (issue 26): Debian's
 * `chromium` (test-support/tools.sh installs it), driven by playwright-core from npm, never a
 * browser download. Each launch gets a fresh profile directory and the flags this machine needs
 * (no sandbox as root, no GPU, and nothing that phones home: the network is closed).
 */
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** CHROMIUM is the Debian package's binary. */
export const CHROMIUM = '/usr/bin/chromium';

/** CHROMIUM_FLAGS: headless, as root, and no background connections (refused here, and noisy). */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** PageWatch is what a page did: console errors, uncaught exceptions, every URL it requested. */
export interface PageWatch {
  page: Page;
  errors: string[];
  requests: string[];
}

/** Browser is one Chromium with its own profile; `open` makes a watched page. */
export interface Browser {
  context: BrowserContext;
  open(opts?: { width?: number; height?: number; dark?: boolean }): Promise<PageWatch>;
  close(): Promise<void>;
}

/** launchBrowser starts Chromium with a fresh profile in `profileDir` (a test dir). */
export async function launchBrowser(profileDir: string): Promise<Browser> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
    timeout: 30_000,
  });
  return {
    context,
    async open(opts = {}) {
      const page = await context.newPage();
      await page.setViewportSize({ width: opts.width ?? 1280, height: opts.height ?? 800 });
      await page.emulateMedia({ colorScheme: opts.dark ? 'dark' : 'light' });
      const watch: PageWatch = { page, errors: [], requests: [] };
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') watch.errors.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (err) => watch.errors.push(`page error: ${err.message}`));
      page.on('request', (r) => watch.requests.push(r.url()));
      return watch;
    },
    close: () => context.close(),
  };
}
