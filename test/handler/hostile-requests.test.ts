import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../src/loader/extract.js';
import { DEFAULT_MAX_ITEMS, encodeFrame, FrameDecoder } from '../../src/protocol/index.js';
import { fixtureImage, useCleanSlate } from '../fixtures/harness.js';
import { concat, frameOf } from '../protocol/helpers.js';

/**
 * The handler side decodes with the same scanner and builder: the frames the manager would refuse
 * from a handler, a handler refuses from the manager (exit 2, a line on stderr), and the valid
 * frame cbor-x's native path refused is served. The frames are written raw to the handler's stdin.
 */
describe('the handler runtime decodes requests as strictly as the manager decodes answers', () => {
  const slate = useCleanSlate();

  /** Starts the toolbox image as a bare process, writes `frames` after its hello; resolves with its exit and answers. */
  const feed = async (frames: Uint8Array) => {
    const loaded = await loadImage('toolbox', await fixtureImage('toolbox'), { root: slate.root });
    const child = spawn(process.execPath, [loaded.file], { cwd: loaded.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    slate.trackPid(child.pid!);
    const decoder = new FrameDecoder();
    const messages: unknown[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => messages.push(...decoder.push(chunk)));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.on('error', () => {}); // the handler may exit before reading everything
    child.stdin.write(frames);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    await loaded.unload();
    return { code, stderr, messages };
  };
  const bye = encodeFrame({ t: 'bye' });

  it('a request with invalid UTF-8 in a key: exit 2, INVALID_UTF8 named on stderr', async () => {
    // {t: "req", id: 1, m: "echo", p: {"\xff": 1}}
    const { code, stderr, messages } = await feed(frameOf('a4 6174 63726571 626964 01 616d 646563686f 6170 a1 61ff 01'));
    expect(code).toBe(2);
    expect(stderr).toMatch(/bad frame from the manager, exiting: INVALID_UTF8: map key at byte \d+ is not valid UTF-8/);
    expect(messages.filter((m) => (m as { t: string }).t === 'res')).toEqual([]);
  });

  it('a request of more than maxItems items: exit 2, TOO_MANY_ITEMS, counted before anything is built', async () => {
    const maps = DEFAULT_MAX_ITEMS;
    const payload = new Uint8Array(5 + maps).fill(0xa0);
    payload[0] = 0x9a;
    new DataView(payload.buffer).setUint32(1, maps);
    const head = Buffer.from('a4 6174 63726571 626964 01 616d 646563686f 6170'.replace(/\s+/g, ''), 'hex');
    const body = concat([head, payload]);
    const frame = concat([Uint8Array.from([body.length >>> 24, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
    const { code, stderr } = await feed(frame);
    expect(code).toBe(2);
    expect(stderr).toMatch(/TOO_MANY_ITEMS: an array of 262144 items/);
  });

  it('a non-ASCII string, then one whose length uses the 8-byte head: served, then bye exits 0', async () => {
    // {t: "req", id: 1, m: "echo", p: ["é", "a"]} with "a" as 7b 0000000000000001 61
    const { code, messages } = await feed(concat([frameOf('a4 6174 63726571 626964 01 616d 646563686f 6170 82 62c3a9 7b0000000000000001 61'), bye]));
    expect(code).toBe(0);
    expect(messages).toContainEqual({ t: 'res', id: 1, ok: true, p: ['é', 'a'] });
  });
});
