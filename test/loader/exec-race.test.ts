// Regression test: the image was hashed, then run again by path, so a writer racing the spawn got
// its own code run (6 of 10 spawns). A real writer process rewrites the extracted file in a loop
// while the loader spawns again and again; every handler that runs must be the genuine one.
import { spawn } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { UmdError } from '../../src/errors.js';
import { loadImage } from '../../src/loader/extract.js';
import { spawnHandler } from '../../src/loader/spawn.js';
import { spawnOptions, useCleanSlate } from '../fixtures/harness.js';
import { HELLO_JS, inlineImage, STAY_ALIVE_JS } from '../fixtures/inline.js';

/** A handler that names itself on stderr, then says hello and waits. */
const handlerSource = (who: string) => `${HELLO_JS}\nprocess.stderr.write('${who}\\n');\nprocess.stdout.write(hello());\n${STAY_ALIVE_JS}\n`;

/**
 * Runs until killed: `file` holds the tampered source for 5 ms, then the genuine one for 5 ms, so
 * about half the checks of the extracted file pass, and a run by path half a moment later finds
 * the tampered bytes about half the time.
 */
const WRITER = `
const { writeFileSync } = require('node:fs');
const [file, genuine, tampered] = process.argv.slice(1);
const pause = new Int32Array(new SharedArrayBuffer(4));
process.stdout.write('writing\\n');
for (;;) {
  try { writeFileSync(file, tampered); } catch {}
  Atomics.wait(pause, 0, 0, 5);
  try { writeFileSync(file, genuine); } catch {}
  Atomics.wait(pause, 0, 0, 5);
}`;

describe('a writer racing the spawn', () => {
  const slate = useCleanSlate();

  it('never gets its bytes run: every handler that starts is the genuine one', async () => {
    const genuine = handlerSource('genuine');
    const tampered = handlerSource('tampered');
    const loaded = await loadImage('raced', inlineImage(genuine), { root: slate.root });
    await chmod(loaded.file, 0o600); // writable for the writer even without root's override
    const writer = spawn(process.execPath, ['-e', WRITER, loaded.file, genuine, tampered], { stdio: ['ignore', 'pipe', 'inherit'] });
    slate.trackPid(writer.pid!);
    const writerClosed = new Promise((resolve) => writer.once('close', resolve));
    await new Promise((resolve) => writer.stdout.once('data', resolve));

    const ran: string[] = [];
    let refused = 0;
    try {
      for (let attempt = 0; attempt < 60 && ran.length < 12; attempt++) {
        const started = await spawnHandler(loaded, spawnOptions('raced', { generation: attempt + 1 })).catch((err: unknown) => err);
        if (started instanceof UmdError) {
          expect(started.code).toBe('INTEGRITY'); // the tripwire on the extracted file saw the writer
          refused++;
          continue;
        }
        if (started instanceof Error) throw started;
        const handler = started as Awaited<ReturnType<typeof spawnHandler>>;
        slate.track(handler);
        handler.kill('SIGKILL');
        const exit = await handler.exited;
        ran.push(exit.stderrTail.join(' '));
      }
    } finally {
      writer.kill('SIGKILL');
      await writerClosed;
    }
    expect(ran.length, `${refused} spawns refused with INTEGRITY`).toBeGreaterThan(0);
    expect(ran.filter((who) => who !== 'genuine')).toEqual([]);
    await loaded.unload();
  });
});
