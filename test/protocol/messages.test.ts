import { describe, expect, test } from 'vitest';
import {
  encodeFrame,
  FrameDecoder,
  MAX_MESSAGE_ID,
  parseHandlerMessage,
  parseHello,
  parseManagerMessage,
  type HandlerMessage,
  type ManagerMessage,
} from '../../src/protocol/index.js';
import { concat, expectReason, plainBytes } from './helpers.js';

/** Sends `message` through the wire: encodeFrame, then a fresh FrameDecoder. */
function overTheWire(message: unknown): unknown {
  const decoder = new FrameDecoder();
  const values = decoder.push(encodeFrame(message));
  decoder.end();
  expect(values).toHaveLength(1);
  return values[0];
}

describe('every v1 message survives encodeFrame -> FrameDecoder -> its validator', () => {
  const payload = { text: 'héllo', n: -42, big: 2n ** 60n, list: [1.5, null, true, undefined], bytes: new Uint8Array([0, 1, 255]) };

  const fromHandler: Array<[string, HandlerMessage, (value: unknown) => unknown]> = [
    ['hello', { t: 'hello', v: 1, pid: 4242 }, parseHello],
    ['res ok', { t: 'res', id: 7, ok: true, p: payload }, parseHandlerMessage],
    ['res ok with an empty payload', { t: 'res', id: 0, ok: true, p: null }, parseHandlerMessage],
    ['res err', { t: 'res', id: 8, ok: false, e: { code: 'E_PARSE', message: 'bad input at 3' } }, parseHandlerMessage],
    ['pong', { t: 'pong', id: MAX_MESSAGE_ID }, parseHandlerMessage],
  ];
  const fromManager: Array<[string, ManagerMessage, (value: unknown) => unknown]> = [
    ['req with m', { t: 'req', id: 1, m: 'offset', p: 1024 }, parseManagerMessage],
    ['req without m', { t: 'req', id: 2, p: payload }, parseManagerMessage],
    ['ping', { t: 'ping', id: 3 }, parseManagerMessage],
    ['cancel', { t: 'cancel', id: 2 }, parseManagerMessage],
    ['bye', { t: 'bye' }, parseManagerMessage],
  ];

  test.each([...fromHandler, ...fromManager])('%s', (_name, message, parse) => {
    expect(plainBytes(parse(overTheWire(message)))).toEqual(plainBytes(message));
  });

  test('req without m parses to a message without an m field', () => {
    const parsed = parseManagerMessage(overTheWire({ t: 'req', id: 2, p: 'x' }));
    expect(Object.keys(parsed).sort()).toEqual(['id', 'p', 't']);
  });

  test('all of them pipelined in one stream come out in order', () => {
    const all = [...fromHandler, ...fromManager];
    const decoder = new FrameDecoder();
    const values = decoder.push(concat(all.map(([, message]) => encodeFrame(message))));
    expect(values.map((value, i) => plainBytes(all[i]![2](value)))).toEqual(all.map(([, message]) => plainBytes(message)));
  });
});

type Parser = (value: unknown) => unknown;

/** [what is wrong, validator, value, pattern the message must match (it names the field)] */
const REJECTIONS: Array<[string, Parser, unknown, RegExp]> = [
  // not a map at all
  ['an array instead of a map', parseManagerMessage, [1, 2], /must be a map, got an array/],
  ['a byte string instead of a map', parseHandlerMessage, new Uint8Array(1), /must be a map, got a byte string/],
  ['null instead of a map', parseHello, null, /must be a map, got null/],

  // wrong t
  ['hello with t = "pong"', parseHello, { t: 'pong', id: 1 }, /must be "hello", got t = "pong"/],
  ['hello without t', parseHello, { v: 1, pid: 1 }, /must be "hello", got t = undefined/],
  ['a handler sending t = "req"', parseHandlerMessage, { t: 'req', id: 1, p: 1 }, /unknown message type t = "req"/],
  ['a manager sending t = "res"', parseManagerMessage, { t: 'res', id: 1, ok: true, p: 1 }, /unknown message type t = "res"/],
  ['a manager sending t = 1', parseManagerMessage, { t: 1 }, /unknown message type t = 1/],
  ['a handler sending a map without t', parseHandlerMessage, { id: 1 }, /unknown message type t = undefined/],

  // hello fields
  ['hello.v = 2', parseHello, { t: 'hello', v: 2, pid: 1 }, /"hello"\.v must be 1, got 2/],
  ['hello without v', parseHello, { t: 'hello', pid: 1 }, /"hello"\.v must be 1/],
  ['hello.pid missing', parseHello, { t: 'hello', v: 1 }, /"hello"\.pid must be a positive integer/],
  ['hello.pid = 0', parseHello, { t: 'hello', v: 1, pid: 0 }, /"hello"\.pid/],
  ['hello.pid negative', parseHello, { t: 'hello', v: 1, pid: -5 }, /"hello"\.pid/],
  ['hello.pid text', parseHello, { t: 'hello', v: 1, pid: '42' }, /"hello"\.pid .*"42"/],
  ['hello.pid fractional', parseHello, { t: 'hello', v: 1, pid: 1.5 }, /"hello"\.pid/],
  ['hello.pid 1e300', parseHello, { t: 'hello', v: 1, pid: 1e300 }, /"hello"\.pid/],
  ['hello with an unknown field', parseHello, { t: 'hello', v: 1, pid: 1, extra: 1 }, /"hello" has an unknown field "extra"/],
  ['a second hello', parseHandlerMessage, { t: 'hello', v: 1, pid: 1 }, /second "hello"/],

  // ids: missing, ill-typed, negative, fractional, too large for a double
  ['req without id', parseManagerMessage, { t: 'req', p: 1 }, /"req"\.id must be an unsigned integer.*got undefined/],
  ['req.id text', parseManagerMessage, { t: 'req', id: '1', p: 1 }, /"req"\.id .*got "1"/],
  ['req.id negative', parseManagerMessage, { t: 'req', id: -1, p: 1 }, /"req"\.id .*got -1/],
  ['req.id fractional', parseManagerMessage, { t: 'req', id: 0.5, p: 1 }, /"req"\.id .*got 0\.5/],
  ['req.id NaN', parseManagerMessage, { t: 'req', id: Number.NaN, p: 1 }, /"req"\.id .*got NaN/],
  ['req.id a bigint (an 8-byte id past 2^53)', parseManagerMessage, { t: 'req', id: 2n ** 60n, p: 1 }, /"req"\.id/],
  ['req.id past MAX_MESSAGE_ID', parseManagerMessage, { t: 'req', id: 2 ** 53, p: 1 }, /"req"\.id .*got 9007199254740992/],
  ['req.id 1e300 (an integer, but not exact)', parseManagerMessage, { t: 'req', id: 1e300, p: 1 }, /"req"\.id/],
  ['ping without id', parseManagerMessage, { t: 'ping' }, /"ping"\.id/],
  ['ping.id negative', parseManagerMessage, { t: 'ping', id: -3 }, /"ping"\.id .*got -3/],
  ['cancel.id null', parseManagerMessage, { t: 'cancel', id: null }, /"cancel"\.id .*got null/],
  ['res without id', parseHandlerMessage, { t: 'res', ok: true, p: 1 }, /"res"\.id/],
  ['res.id a map', parseHandlerMessage, { t: 'res', id: {}, ok: true, p: 1 }, /"res"\.id .*got a map/],
  ['pong.id negative', parseHandlerMessage, { t: 'pong', id: -1 }, /"pong"\.id .*got -1/],
  ['pong.id true', parseHandlerMessage, { t: 'pong', id: true }, /"pong"\.id .*got true/],

  // req.m
  ['req.m a number', parseManagerMessage, { t: 'req', id: 1, m: 5, p: 1 }, /"req"\.m must be text, got 5/],
  ['req.m a byte string', parseManagerMessage, { t: 'req', id: 1, m: new Uint8Array(2), p: 1 }, /"req"\.m must be text, got a byte string/],

  // unknown fields
  ['req with an unknown field', parseManagerMessage, { t: 'req', id: 1, p: 1, x: 1 }, /"req" has an unknown field "x"/],
  ['ping with an unknown field', parseManagerMessage, { t: 'ping', id: 1, p: 1 }, /"ping" has an unknown field "p"/],
  ['cancel with an unknown field', parseManagerMessage, { t: 'cancel', id: 1, why: 'x' }, /"cancel" has an unknown field "why"/],
  ['bye with an unknown field', parseManagerMessage, { t: 'bye', id: 1 }, /"bye" has an unknown field "id"/],
  ['pong with an unknown field', parseHandlerMessage, { t: 'pong', id: 1, p: 1 }, /"pong" has an unknown field "p"/],
  ['res ok carrying e', parseHandlerMessage, { t: 'res', id: 1, ok: true, p: 1, e: { code: 'x', message: 'y' } }, /"res" has an unknown field "e"/],
  ['res err carrying p', parseHandlerMessage, { t: 'res', id: 1, ok: false, p: 1, e: { code: 'x', message: 'y' } }, /"res" has an unknown field "p"/],

  // res.ok and res.e
  ['res without ok', parseHandlerMessage, { t: 'res', id: 1, p: 1 }, /"res"\.ok must be true or false, got undefined/],
  ['res.ok = 1', parseHandlerMessage, { t: 'res', id: 1, ok: 1, p: 1 }, /"res"\.ok must be true or false, got 1/],
  ['res err without e', parseHandlerMessage, { t: 'res', id: 1, ok: false }, /"res"\.e must be a map .*got undefined/],
  ['res.e text', parseHandlerMessage, { t: 'res', id: 1, ok: false, e: 'boom' }, /"res"\.e must be a map .*got "boom"/],
  ['res.e an array', parseHandlerMessage, { t: 'res', id: 1, ok: false, e: ['C', 'm'] }, /"res"\.e must be a map .*got an array/],
  ['res.e.code missing', parseHandlerMessage, { t: 'res', id: 1, ok: false, e: { message: 'm' } }, /"res"\.e .*code = undefined/],
  ['res.e.code a number', parseHandlerMessage, { t: 'res', id: 1, ok: false, e: { code: 7, message: 'm' } }, /"res"\.e .*code = 7/],
  ['res.e.message missing', parseHandlerMessage, { t: 'res', id: 1, ok: false, e: { code: 'C' } }, /"res"\.e .*message = undefined/],
];

describe('validators reject what is not a v1 message with BAD_MESSAGE naming the field', () => {
  test.each(REJECTIONS)('%s', (_what, parse, value, message) => {
    expectReason(() => parse(value), 'BAD_MESSAGE', message);
  });

  test('a rejected message arrives the same way over the wire', () => {
    // The validator sees exactly what the decoder produced: the wire adds no leniency.
    expectReason(() => parseManagerMessage(overTheWire({ t: 'req', id: -1, p: 1 })), 'BAD_MESSAGE', /"req"\.id/);
    expectReason(() => parseHandlerMessage(overTheWire({ t: 'res', id: 1, ok: false, e: 'boom' })), 'BAD_MESSAGE', /"res"\.e/);
  });

  test('ids at the edges are accepted: 0 and MAX_MESSAGE_ID', () => {
    expect(parseManagerMessage({ t: 'ping', id: 0 })).toEqual({ t: 'ping', id: 0 });
    expect(parseManagerMessage(overTheWire({ t: 'cancel', id: MAX_MESSAGE_ID }))).toEqual({ t: 'cancel', id: MAX_MESSAGE_ID });
  });

  test('validated messages are fresh objects holding only the known fields', () => {
    const raw = { t: 'res', id: 1, ok: false, e: { code: 'C', message: 'm', detail: 'dropped' } };
    const parsed = parseHandlerMessage(raw);
    expect(parsed).toEqual({ t: 'res', id: 1, ok: false, e: { code: 'C', message: 'm' } });
    expect(parsed).not.toBe(raw);
  });
});
