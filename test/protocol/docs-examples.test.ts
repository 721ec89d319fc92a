import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { encodeFrame, FrameDecoder, parseHandlerMessage, parseHello, parseManagerMessage } from '../../src/protocol/index.js';
import { toHex } from './helpers.js';

/** docs/PROTOCOL.md promises its hex was produced by our encoder: hold it to that. */
const DOC = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
const WORKED = DOC.slice(DOC.indexOf('## 9. Worked examples'), DOC.indexOf('## 10.'));

/** "`{json}` — Full frame: `hex`" (or with the JSON on its own line above). */
const EXAMPLES = [...WORKED.matchAll(/`(\{[^`]*\})`(?:\s*—\s*|\s*\n\s*\n)Full frame: `([0-9a-f]+)`/g)].map((m) => ({
  message: JSON.parse(m[1]!) as { t: string },
  frame: m[2]!,
}));

const PARSE: Record<string, (value: unknown) => unknown> = {
  hello: parseHello,
  res: parseHandlerMessage,
  pong: parseHandlerMessage,
  req: parseManagerMessage,
  ping: parseManagerMessage,
  cancel: parseManagerMessage,
  bye: parseManagerMessage,
};

describe('docs/PROTOCOL.md worked examples', () => {
  test('there is one per message kind the brief asks for', () => {
    expect(EXAMPLES.map((e) => e.message.t)).toEqual(['hello', 'req', 'res', 'res', 'ping', 'pong', 'cancel', 'bye']);
  });

  test.each(EXAMPLES.map((e) => [e.message.t, e] as const))('%s: the full frame is what encodeFrame writes, and it parses back', (_t, { message, frame }) => {
    expect(toHex(encodeFrame(message))).toBe(frame);
    const values = new FrameDecoder().push(Buffer.from(frame, 'hex'));
    expect(values.map(PARSE[message.t]!)).toEqual([message]);
  });

  test('each annotated breakdown spells out the first full frame of its section, byte for byte', () => {
    const sections = WORKED.split('\n### ').slice(1);
    expect(sections).toHaveLength(7);
    for (const section of sections) {
      const frame = /Full frame: `([0-9a-f]+)`/.exec(section)![1]!;
      const block = /```\n([\s\S]*?)```/.exec(section)![1]!;
      const bytes = block
        .split('\n')
        .map((line) => {
          const tokens = line.trim().split(/\s+/);
          const hexTokens: string[] = [];
          for (const token of tokens) {
            if (!/^[0-9a-f]{2}$/.test(token)) break;
            hexTokens.push(token);
          }
          return hexTokens.join('');
        })
        .join('');
      expect(bytes, section.split('\n')[0]).toBe(frame);
    }
  });
});
