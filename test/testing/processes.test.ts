/**
 * `survivors()` is the "no process left" check behind every leak assertion in this suite and in
 * runChaos. Everywhere else it is expected to find nothing; here it is shown real leaks — a
 * handler process nobody stopped, a process left in a handler's group after the handler died —
 * and must name them, while a pid that now belongs to someone else is not reported.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { identify, stillRunning, survivors } from 'umdkit/testing';
import { loadImage } from '../../src/loader/extract.js';
import { spawnHandler } from '../../src/loader/spawn.js';
import { gone, spawnOptions, useCleanSlate } from '../fixtures/harness.js';
import { HELLO_JS, inlineImage, STAY_ALIVE_JS } from '../fixtures/inline.js';

/** Polls until `check` holds; throws, naming `what`, after `ms`. */
async function waitUntil(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('survivors() finds what outlived its owner', () => {
  const slate = useCleanSlate();

  it('reports a real handler process left running, and nothing once it is reaped', async () => {
    const loaded = await loadImage('leaky', inlineImage(`${HELLO_JS} process.stdout.write(hello()); ${STAY_ALIVE_JS}`), { root: slate.root });
    const handler = slate.track(await spawnHandler(loaded, spawnOptions('leaky')));
    const who = identify(handler.pid)!;
    expect(who).toMatchObject({ pid: handler.pid });

    // The leak: nobody stopped it. A short grace: it is not going anywhere.
    expect(await survivors([who], 200)).toEqual([handler.pid]);

    await handler.terminate('brutal_kill');
    expect(await survivors([who], 2000)).toEqual([]);
    await loaded.unload();
  });

  it('reports a process left in a dead leader\'s group (what a handler started, after the handler died)', async () => {
    // A group leader, as a handler is, that starts a child in its group and names it. (spawnHandler
    // itself would kill the group when the handler exits: a leak needs a leader nobody cleans up.)
    const leader = spawn(process.execPath, ['-e', `
      const { spawn } = require('node:child_process');
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60000)'], { stdio: 'ignore' });
      process.stdout.write(child.pid + '\\n');
      setInterval(() => {}, 60000);`], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = new Promise((resolve) => leader.once('exit', resolve));
    slate.trackPid(leader.pid!);
    let named = '';
    leader.stdout!.on('data', (chunk: Buffer) => (named += chunk.toString()));
    await waitUntil(() => named.endsWith('\n'), 'the leader names its child');
    const grandchild = Number(named.trim());
    slate.trackPid(grandchild);
    const who = identify(leader.pid!)!;
    expect(who).toBeDefined();

    // Kill the leader alone, not its group; once it is reaped, its pid is free.
    process.kill(leader.pid!, 'SIGKILL');
    await exited;
    expect(stillRunning(who)).toBe(false);
    expect(await survivors([who], 200)).toEqual([grandchild]);

    process.kill(-leader.pid!, 'SIGKILL');
    expect(await gone(grandchild, 2000)).toBe(true);
    expect(await survivors([who], 2000)).toEqual([]);
  });

  it('does not report a pid that now belongs to another process (other start time)', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60000)'], { stdio: 'ignore' });
    slate.trackPid(child.pid!);
    try {
      await waitUntil(() => identify(child.pid!) !== undefined, 'the child runs');
      const now = identify(child.pid!)!;
      // The same pid seen earlier, when an older process held it.
      const older = { pid: now.pid, start: now.start - 1 };
      expect(stillRunning(older)).toBe(false);
      expect(await survivors([older], 100)).toEqual([]);
      expect(await survivors([now], 100)).toEqual([child.pid]);
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
