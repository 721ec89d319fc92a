/**
 * The dashboard, end to end in a real headless browser (playwright-core driving the system's
 * chromium) over a real tree: faults injected from the page and from outside are seen in the page
 * as the instance going crashed → backoff → ready.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createObservabilityServer, type Manager, type ObservabilityServer } from 'umdkit';
import { dashboardCommand } from '../../src/cli/dashboard.js';
import { failure, fixtureDriver, gone, pidsOf, until, useManagers } from '../manager/harness.js';
import { needs, onPath, tool } from '../fixtures/requires.js';
import { useConfigFiles } from './config-files.js';

// Found on PATH, as .ci/run looks for it (and installs it when missing).
const CHROMIUM = onPath('chromium');
const browserNeed = needs('the dashboard browser tests', [tool('chromium')]);

describe.runIf(browserNeed.run)(`the dashboard in a browser${browserNeed.note}`, () => {
  const env = useManagers();
  const configs = useConfigFiles();
  let profile = '';
  let browser: BrowserContext;
  const servers: ObservabilityServer[] = [];
  const pages: Page[] = [];

  beforeAll(async () => {
    profile = await mkdtemp(join(tmpdir(), 'umdkit-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await rm(profile, { recursive: true, force: true });
  });
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((p) => p.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function open(manager: Manager): Promise<{ page: Page; server: ObservabilityServer }> {
    const server = await createObservabilityServer(manager, { snapshotIntervalMs: 200 });
    servers.push(server);
    const page = await browser.newPage();
    pages.push(page);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(server.url);
    await page.locator('#conn').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 });
    expect(errors).toEqual([]);
    return { page, server };
  }

  const row = (page: Page, id: string) => page.locator(`[data-instance="${id}"]`);
  const history = (page: Page, id: string) => row(page, id).locator('.history .h').allTextContents();

  /** Waits until the page shows the instance crashed, backed off, and was ready again afterwards. */
  async function seesRecovery(page: Page, id: string, generation: number): Promise<string[]> {
    await page.waitForFunction(
      ({ id, generation }) => {
        // Runs in the page; the test's compiler has no DOM types, so the little used is typed here.
        interface El { textContent: string | null; querySelector(s: string): El | null; querySelectorAll(s: string): Iterable<El> }
        const box = (globalThis as unknown as { document: El }).document.querySelector(`[data-instance="${id}"]`);
        const states = [...(box?.querySelectorAll('.history .h') ?? [])].map((e) => e.textContent);
        const crashed = states.lastIndexOf('crashed');
        const backoff = states.indexOf('backoff', crashed);
        return crashed >= 0 && backoff > crashed && states.indexOf('ready', backoff) > backoff
          && box?.querySelector('.gen')?.textContent === `gen ${generation}`;
      },
      { id, generation },
      { timeout: 10_000 },
    );
    return history(page, id);
  }

  it('shows the tree live and a kill clicked in the page as crashed → backoff → ready', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox', { instances: 2 })] });
    const { page } = await open(manager);
    const [first, second] = manager.snapshot().children![0]!.children!;
    for (const instance of [first!, second!]) {
      await expect.poll(() => row(page, instance.id!).locator('.state').textContent()).toBe('ready');
      expect(await row(page, instance.id!).locator('.pid').textContent()).toBe(`pid ${instance.pid}`);
    }
    expect(await page.locator('[data-supervisor="root"] > .line .state').textContent()).toBe('running');
    expect(await page.locator('#instance-diagram svg [data-state]').count()).toBeGreaterThanOrEqual(10);

    await row(page, first!.id!).locator('button.kill').click();
    const states = await seesRecovery(page, first!.id!, 2);
    expect(states.slice(states.lastIndexOf('crashed'))).toEqual(['crashed', 'backoff', 'extracting', 'spawning', 'ready']);

    // What the page shows is what happened: the old process was SIGKILLed, a new one serves.
    expect(env.of('exit')).toEqual([expect.objectContaining({ pid: first!.pid, signal: 'SIGKILL' })]);
    const newPid = pidsOf(manager, 'toolbox')[0]!;
    expect(newPid).not.toBe(first!.pid);
    await expect.poll(() => row(page, first!.id!).locator('.pid').textContent()).toBe(`pid ${newPid}`);
    await expect.poll(() => row(page, first!.id!).locator('.last-exit').textContent()).toBe('last: killed by SIGKILL');
    expect(await history(page, second!.id!)).not.toContain('crashed');
    // The lifecycle diagram highlights the selected instance's state.
    await expect.poll(() => page.locator('#instance-diagram g.current').getAttribute('data-state')).toBe('ready');
    expect(await page.locator('#events li').filter({ hasText: 'exited (SIGKILL)' }).count()).toBe(1);
  });

  it('shows a kill from outside the page (process.kill) the same way', async () => {
    const manager = await env.start({ children: [await fixtureDriver('echo')] });
    const { page } = await open(manager);
    const instance = manager.snapshot().children![0]!.children![0]!;
    await expect.poll(() => row(page, instance.id!).locator('.state').textContent()).toBe('ready');
    process.kill(instance.pid!, 'SIGKILL');
    const states = await seesRecovery(page, instance.id!, 2);
    expect(states.at(-1)).toBe('ready');
    expect(env.of('restart')).toEqual([expect.objectContaining({ child: 'echo', reason: 'killed by SIGKILL' })]);
    await expect.poll(() => row(page, instance.id!).locator('.restarts').textContent()).toBe('restarts 1');
  });

  // A hang is found by the heartbeat (liveness), not by the request's deadline (the caller's
  // patience, which fails that caller alone and never restarts a handler).
  it('hangs a handler (SIGSTOP); a request sent from the page finds it through the heartbeat; the hung process is replaced', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { heartbeatMs: 200 })] });
    const { page } = await open(manager);
    const instance = manager.snapshot().children![0]!.children![0]!;
    await row(page, instance.id!).locator('button.hang').click();
    await until(() => readState(instance.pid!) === 'T', 'the handler to be stopped');
    const driver = page.locator('[data-driver="rogue"]');
    await driver.locator('input.timeout').fill('20000');
    await driver.locator('button.send').click();
    await expect.poll(() => driver.locator('.result').textContent(), { timeout: 10_000 }).toMatch(/^HANDLER_CRASHED: .*heartbeat: no pong within 200 ms/);
    await seesRecovery(page, instance.id!, 2);
    expect(env.of('fault')).toEqual([expect.objectContaining({ reason: 'heartbeat: no pong within 200 ms' })]);
    expect(await gone(instance.pid!, 2000)).toBe(true);
    // The new process answers requests sent from the page.
    await driver.locator('input.payload').fill('{"n":7}');
    await driver.locator('button.send').click();
    await expect.poll(() => driver.locator('.result').textContent()).toBe('OK {"n":7}');
  });

  // Regression (looked at, at 1400 x 900): the lifecycle diagram was scaled to under half its size
  // (labels 6 px and less), the Events panel was empty on load even after restarts, the payload and
  // timeout boxes had no label, and the fault buttons wrapped onto the next line.
  it('at 1400 x 900: readable diagram labels, the history on load, every input labelled, the fault buttons on one line', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox', { instances: 2 }), await fixtureDriver('echo')] });
    const server = await createObservabilityServer(manager, { snapshotIntervalMs: 200 });
    servers.push(server);
    // Things happen before anyone looks: a crash and its restart, a request that fails.
    const killed = manager.snapshot().children![0]!.children![0]!;
    process.kill(killed.pid!, 'SIGKILL');
    await until(() => env.of('state').some((e) => e.instance === killed.id && e.to === 'ready' && e.generation === 2), 'the killed instance to be back');
    const failed = await failure(manager.request('toolbox', 'no', { method: 'fail' }));

    const page = await browser.newPage();
    pages.push(page);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.goto(server.url);
    await page.locator('#conn').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 });
    const shot = process.env.UMDKIT_DASHBOARD_SCREENSHOT ?? join(profile, 'dashboard.png');
    await page.screenshot({ path: shot });
    const png = readFileSync(shot);
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1400, 900]); // IHDR width, height

    // The history, on load: what happened before the page opened is listed, newest first.
    const events = await page.locator('#events li').allTextContents();
    expect(events.some((e) => e.includes(`${killed.id} g1: pid ${killed.pid} exited (SIGKILL)`))).toBe(true);
    expect(events.some((e) => e.includes('restarts toolbox'))).toBe(true);
    // Newest first: the failed request (with its reason) comes before the crash.
    const failedAt = events.findIndex((e) => e.includes('HANDLER_ERROR in') && e.endsWith(failed.message));
    expect(failedAt).toBeGreaterThanOrEqual(0);
    expect(failedAt).toBeLessThan(events.findIndex((e) => e.includes('exited (SIGKILL)')));
    expect(await history(page, killed.id!)).toEqual(expect.arrayContaining(['crashed', 'backoff', 'ready']));
    await expect.poll(() => page.locator('#events li').filter({ hasText: 'exited (SIGKILL)' }).isVisible()).toBe(true);

    // Labels a person can read: every text of the lifecycle diagram, and the supervisor's state names,
    // at 11 px or more on screen (font size times the scale the page draws the SVG at).
    const sizes = await page.evaluate(() => {
      // Runs in the page; typed loosely (the test's compiler has no DOM types).
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ textContent: string | null; closest(s: string): { getScreenCTM(): { a: number } } }> } }).document;
      const view = globalThis as unknown as { getComputedStyle(e: unknown): { fontSize: string } };
      const onScreen = (selector: string) => [...doc.querySelectorAll(selector)].map((t) => ({
        text: t.textContent, px: parseFloat(view.getComputedStyle(t).fontSize) * t.closest('svg').getScreenCTM().a,
      }));
      return { instance: onScreen('#instance-diagram svg text'), supervisor: onScreen('#supervisor-diagram svg .state text') };
    });
    expect(sizes.instance.length).toBeGreaterThanOrEqual(20);
    expect(sizes.instance.filter((t) => t.px < 11)).toEqual([]);
    expect(sizes.supervisor.length).toBeGreaterThanOrEqual(4);
    expect(sizes.supervisor.filter((t) => t.px < 11)).toEqual([]);

    // Every input has a label with words in it, and the words say what goes in.
    const inputs = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ className: string; labels: Iterable<{ textContent: string | null }> }> } }).document;
      return [...doc.querySelectorAll('input, select, textarea')].map((i) => ({ cls: i.className, labels: [...i.labels].map((l) => (l.textContent ?? '').trim()) }));
    });
    expect(inputs).toHaveLength(2 * 3);
    for (const input of inputs) expect(input.labels.length, input.cls).toBe(1);
    expect(inputs.slice(0, 3).map((i) => i.labels[0])).toEqual(['method', 'payload (JSON)', 'timeout (ms)']);

    // The fault buttons of each instance sit together on the instance's own line.
    for (const instance of manager.snapshot().children![0]!.children!) {
      const box = row(page, instance.id!);
      const name = (await box.locator('.line .name').boundingBox())!;
      const buttons = await Promise.all(['kill', 'hang', 'resume'].map(async (b) => (await box.locator(`button.${b}`).boundingBox())!));
      for (const b of buttons) {
        expect(Math.abs(b.y + b.height / 2 - (name.y + name.height / 2))).toBeLessThan(4);
        expect(b.x + b.width).toBeLessThanOrEqual(1400);
      }
      expect(buttons[0]!.x).toBeLessThan(buttons[1]!.x);
      expect(buttons[1]!.x).toBeLessThan(buttons[2]!.x);
    }
  });

  it('is what `umdkit dashboard <config>` serves, on an ephemeral port it prints, until stopped', async () => {
    const config = await configs.write(env.root, [{ fixture: 'echo' }]);
    const stop = new AbortController();
    let out = '';
    const exited = dashboardCommand([config], { out: (t) => (out += t), err: (t) => (out += t), signal: stop.signal });
    await until(() => out.includes('http://'), 'the URL to be printed');
    const url = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![0];
    expect(Number(/:(\d+)\//.exec(url)![1])).toBeGreaterThan(0);
    const page = await browser.newPage();
    pages.push(page);
    await page.goto(url);
    const instance = page.locator('[data-driver="echo"] .instance');
    await expect.poll(() => instance.locator('.state').textContent()).toBe('ready');
    const pid = Number((await instance.locator('.pid').textContent())!.replace('pid ', ''));
    expect((await fetch(new URL('/readyz', url))).status).toBe(200);
    stop.abort();
    expect(await exited).toBe(0);
    expect(await gone(pid, 2000)).toBe(true);
    await expect.poll(() => page.locator('#conn').textContent()).toMatch(/manager stopped|reconnecting/);
  });
});

/** The process state letter from /proc (T = stopped). */
function readState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

describe('umdkit dashboard, before any browser', () => {
  const env = useManagers();

  it('exits 78 for a config that does not load and 2 for a bad command line, one line each', async () => {
    let err = '';
    const io = { out: () => {}, err: (t: string) => void (err += t) };
    expect(await dashboardCommand([`${env.root}/missing.config.mjs`], io)).toBe(78);
    expect(err).toMatch(/^umdkit dashboard: bad config: .*missing\.config\.mjs[^\n]*\n$/);
    err = '';
    expect(await dashboardCommand(['--host', '0.0.0.0'], io)).toBe(2);
    expect(err).toBe('umdkit dashboard: --host must be a loopback address (the dashboard can kill handlers), got "0.0.0.0" (see umdkit dashboard --help)\n');
  });
});
