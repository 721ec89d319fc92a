import { describe, expect, it } from 'vitest';
import { loadImage } from '../../src/loader/extract.js';
import { spawnHandler, type LogLine } from '../../src/loader/spawn.js';
import { converse, fixtureImage, spawnOptions, useCleanSlate } from '../fixtures/harness.js';

describe('console output inside a handler', () => {
  const slate = useCleanSlate();

  it('never reaches the frame stream: answers stay intact and the text shows up in the stderr log', async () => {
    const loaded = await loadImage('chatty', await fixtureImage('chatty'), { root: slate.root });
    const lines: string[] = [];
    const handler = slate.track(await spawnHandler(loaded, spawnOptions('chatty', { onLog: (l: LogLine) => lines.push(l.line) })));
    const faults: unknown[] = [];
    handler.onFault = (error) => faults.push(error);
    const talk = converse(handler);
    for (let id = 1; id <= 5; id++) {
      talk.request(id, undefined, `round ${id}`);
      expect(await talk.response(id)).toEqual({ t: 'res', id, ok: true, p: { answered: `round ${id}` } });
    }
    expect((await handler.terminate(5000)).code).toBe(0);
    expect(faults).toEqual([]);
    const log = lines.join('\n');
    for (const text of ['chatty: starting', 'chatty: raw stdout at start', 'chatty: log round 5', 'chatty: info', 'chatty: debug', 'chatty: warn', 'chatty: error', 'chatty: raw stdout']) {
      expect(log).toContain(text);
    }
    expect(log).toContain('round 3'); // console.table went to stderr too
    await loaded.unload();
  });
});
