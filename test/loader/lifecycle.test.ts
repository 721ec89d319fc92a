import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../src/loader/extract.js';
import { spawnHandler, type LogLine } from '../../src/loader/spawn.js';
import { converse, fixtureImage, spawnOptions, useCleanSlate } from '../fixtures/harness.js';

describe('pack → load → spawn → hello → request → bye → exit → unload', () => {
  const slate = useCleanSlate();

  it('runs a packed handler end to end and leaves nothing behind', async () => {
    const image = await fixtureImage('echo');
    const loaded = await loadImage('echo', image, { root: slate.root });
    expect(basename(loaded.file)).toBe('echo.cjs') // a plain handler packs as CommonJS;
    expect((await stat(loaded.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(loaded.file)).mode & 0o777).toBe(0o500);
    expect(basename(loaded.dir)).toMatch(new RegExp(`^umdkit-${process.pid}-[A-Za-z0-9_-]+$`));

    const handler = slate.track(await spawnHandler(loaded, spawnOptions('echo')));
    expect(handler.hello).toEqual({ t: 'hello', v: 1, pid: handler.pid });
    expect(handler.alive).toBe(true);

    const talk = converse(handler);
    talk.request(1, 'shout', { text: 'hi', bytes: Uint8Array.of(1, 2, 3) });
    const answer = await talk.response(1);
    expect(answer).toMatchObject({ t: 'res', id: 1, ok: true, p: { method: 'shout', payload: { text: 'hi' } } });
    // Byte strings come back as bytes (a Buffer view on this side), not as arrays or objects.
    const bytes = (answer as { p: { payload: { bytes: Uint8Array } } }).p.payload.bytes;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...bytes]).toEqual([1, 2, 3]);

    const exit = await handler.terminate(5000);
    expect(exit).toEqual({ code: 0, signal: null, stderrTail: [] });
    expect(handler.alive).toBe(false);

    await loaded.unload();
    await loaded.unload(); // idempotent
    await expect(stat(loaded.dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('runs the handler in its private directory with a scrubbed environment and argv[0] = driver name', async () => {
    process.env.UMDKIT_TEST_SECRET = 'must-not-leak';
    try {
      const loaded = await loadImage('probe', await fixtureImage('echo'), { root: slate.root });
      const logs: LogLine[] = [];
      // The launch hook sees the plan; wrap the command to print what the handler would see.
      const handler = slate.track(await spawnHandler(loaded, spawnOptions('probe', {
        env: { EXTRA: 'yes' },
        onLog: (line: LogLine) => logs.push(line),
        launch: (plan: { command: string; args: string[]; env: Record<string, string>; cwd: string; argv0: string }) => ({
          ...plan,
          // The image is the handler's fd 3 (the plan's last argument): imported without resolving the link.
          args: ['--preserve-symlinks', '--eval', `process.stderr.write(JSON.stringify({ cwd: process.cwd(), argv0: process.argv0, env: process.env }) + '\\n'); await import(${JSON.stringify(plan.args.at(-1))})`, '--input-type=module'],
        }),
      })));
      await handler.terminate(5000);
      await loaded.unload();
      const seen = JSON.parse(logs[0]!.line) as { cwd: string; argv0: string; env: Record<string, string> };
      expect(seen.cwd).toBe(loaded.dir);
      expect(seen.argv0).toBe('probe');
      expect(seen.env.EXTRA).toBe('yes');
      expect(seen.env.UMDKIT_TEST_SECRET).toBeUndefined();
      expect(Object.keys(seen.env).every((key) => ['PATH', 'LANG', 'LC_ALL', 'TZ', 'EXTRA'].includes(key))).toBe(true);
      expect(logs[0]).toMatchObject({ driver: 'probe', instance: 'test-probe', generation: 1, pid: handler.pid });
    } finally {
      delete process.env.UMDKIT_TEST_SECRET;
    }
  });
});
