/**
 * How a handler's types flow to `manager.request`: checked by the compiler (`expectTypeOf`, and
 * `@ts-expect-error` on each misuse: `npm test` type-checks this file before vitest runs it) and
 * at run time against real handler processes, so the types and the answers are seen to agree.
 */
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createManager,
  defineDriver,
  supervisor,
  UmdError,
  type Driver,
  type DriverModule,
  type HandlerApi,
  type HandlerModuleApi,
  type Manager,
  type ManagerOptions,
  type UntypedApi,
} from 'umdkit';
import type { HandlerContext } from 'umdkit/handler';
import { faults } from 'umdkit/testing';
import { pack } from '../../src/loader/pack.js';
import { FIXTURES, useCleanSlate } from '../fixtures/harness.js';
// Types only: these modules call serve() when run, and are run only inside handler processes.
import type * as calcHandler from '../fixtures/consumer/handlers/calc.js';
import type * as offsetHandler from '../fixtures/consumer/handlers/offset.js';
import type * as parserHandler from '../fixtures/consumer/handlers/parser.js';
import type { Methods as CalcMethods } from '../fixtures/consumer/handlers/calc.js';
import type { Summary } from '../fixtures/consumer/handlers/parser.js';

const HANDLERS = join(FIXTURES, 'consumer', 'handlers');

/** A driver module as `umdkit pack` declares it, packed in memory from the consumer fixture's handler. */
async function driverModule<Name extends string, Api>(name: Name): Promise<DriverModule<Name, Api>> {
  const { image } = await pack({ entry: join(HANDLERS, `${name}.ts`), name });
  return { name, image };
}

type ParserApi = HandlerModuleApi<typeof parserHandler>;
type OffsetApi = HandlerModuleApi<typeof offsetHandler>;

describe('the handler side: serve() describes its methods', () => {
  it('a map of methods: name -> (payload) -> answer, promises unwrapped', () => {
    expectTypeOf<ParserApi>().toEqualTypeOf<{
      readonly parse: (payload: Uint8Array) => Summary;
      readonly version: (payload: unknown) => string;
    }>();
  });

  it('one function: (payload) -> answer, no method', () => {
    expectTypeOf<OffsetApi>().toEqualTypeOf<(payload: number) => Uint8Array<ArrayBuffer>>();
  });

  it('an unannotated payload and an `any` answer are unknown to callers; the context is not a payload', () => {
    type Api = HandlerApi<{ echo: (payload: any, context: HandlerContext) => any; ping: () => Promise<'pong'> }>;
    expectTypeOf<Api>().toEqualTypeOf<{ readonly echo: (payload: unknown) => unknown; readonly ping: (payload: unknown) => 'pong' }>();
  });

  it('a hand-written Methods type is read the same way; a module without a handle is untyped', () => {
    expectTypeOf<HandlerApi<CalcMethods>>().toEqualTypeOf<{
      readonly add: (payload: { a: number; b: number }) => number;
      readonly negate: (payload: number) => number;
    }>();
    expectTypeOf<HandlerModuleApi<typeof calcHandler>>().toBeUnknown();
    expectTypeOf<HandlerModuleApi<{ default: number }>>().toBeUnknown();
  });

  it('a CommonJS handler seen from an ES module (its exports under `default` once more) is read too', () => {
    expectTypeOf<HandlerModuleApi<{ default: typeof parserHandler }>>().toEqualTypeOf<ParserApi>();
  });
});

describe('defineDriver keeps the name and the methods', () => {
  const image = { kind: 'node' as const, bytes: new Uint8Array([1]), sha256: '4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a' };
  const parser: DriverModule<'parser', ParserApi> = { name: 'parser', image };

  it('from a packed module, with options added', () => {
    const driver = defineDriver({ ...parser, concurrency: 4 });
    expect(driver.name).toBe('parser');
    expectTypeOf(driver).toEqualTypeOf<Driver<'parser', ParserApi>>();
  });

  it('a Standard Schema as validate makes every answer its output type', () => {
    const driver = defineDriver({ ...parser, validate: z.object({ type: z.string() }).transform((s) => s.type.length) });
    expectTypeOf(driver).toEqualTypeOf<Driver<'parser', { readonly parse: (payload: Uint8Array) => number; readonly version: (payload: unknown) => number }>>();
  });

  it('a type guard as validate narrows; a function gives its return type; an untyped function changes nothing', () => {
    const guarded = defineDriver({ ...parser, validate: (answer): answer is { type: 'object' } => (answer as Summary).type === 'object' });
    expectTypeOf(guarded['~api']).toEqualTypeOf<{ readonly parse: (payload: Uint8Array) => { type: 'object' }; readonly version: (payload: unknown) => { type: 'object' } } | undefined>();
    const returned = defineDriver({ ...parser, validate: (answer: unknown) => String(answer) });
    expectTypeOf(returned['~api']).toEqualTypeOf<{ readonly parse: (payload: Uint8Array) => string; readonly version: (payload: unknown) => string } | undefined>();
    const opaque = defineDriver({ ...parser, validate: (answer: unknown): unknown => answer });
    expectTypeOf(opaque).toEqualTypeOf<Driver<'parser', ParserApi>>();
  });

  it('a driver nobody typed: any method, any payload, answer unknown (zod still types it)', () => {
    expectTypeOf(defineDriver({ name: 'raw', image })).toEqualTypeOf<Driver<'raw', UntypedApi>>();
    expectTypeOf(defineDriver({ name: 'raw', image, validate: z.number() })).toEqualTypeOf<Driver<'raw', (payload: unknown) => number>>();
    const name: string = 'computed';
    expectTypeOf(defineDriver({ name, image })).toEqualTypeOf<Driver<string, UntypedApi>>();
  });
});

describe('createManager infers the drivers; request checks name, method, payload, answer', () => {
  const slate = useCleanSlate();
  const watch: Pick<ManagerOptions, 'onEvent'> = {
    onEvent: (event) => {
      if (event.type === 'spawn') slate.trackPid(event.pid);
    },
  };

  it('children: answers typed from the handlers and seen at run time; misuse does not compile and is refused', async () => {
    const parser = await driverModule<'parser', ParserApi>('parser');
    const offset = await driverModule<'offset', OffsetApi>('offset');
    const calc = await driverModule<'calc', CalcMethods>('calc');
    const manager = await createManager({
      children: [defineDriver(parser), defineDriver({ ...offset, validate: (a): a is Uint8Array => a instanceof Uint8Array }), defineDriver({ ...calc, validate: z.number().int() })],
      runtimeDir: slate.root,
      ...watch,
    });
    try {
      const summary = await manager.request('parser', new TextEncoder().encode('{"a": 1, "b": [2]}'), { method: 'parse' });
      expectTypeOf(summary).toEqualTypeOf<Summary>();
      expect(summary).toEqual({ type: 'object', keys: 2 });

      const version = await manager.request('parser', null, { method: 'version' });
      expectTypeOf(version).toEqualTypeOf<string>();
      expect(version).toBe('1.0.0');

      // One function: no method; the type guard kept the answer itself (not `true`).
      const reply = await manager.request('offset', 3);
      expectTypeOf(reply).toEqualTypeOf<Uint8Array>();
      expect(reply).toBeInstanceOf(Uint8Array);
      expect([...reply].indexOf(1)).toBe(3);

      const sum = await manager.request('calc', { a: 2, b: 3 }, { method: 'add' });
      expectTypeOf(sum).toEqualTypeOf<number>();
      expect(sum).toBe(5);

      // @ts-expect-error an unknown driver
      await expect(manager.request('parsr', new Uint8Array(), { method: 'parse' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      // @ts-expect-error an unknown method
      await expect(manager.request('parser', new Uint8Array(), { method: 'prase' })).rejects.toMatchObject({ code: 'HANDLER_ERROR' });
      // @ts-expect-error a wrong payload type (the handler's TextDecoder refuses a string)
      await expect(manager.request('parser', 'text', { method: 'parse' })).rejects.toBeInstanceOf(UmdError);
      // @ts-expect-error the answer used as the wrong type
      const wrong: string = await manager.request('calc', 5, { method: 'negate' });
      expect(typeof wrong).toBe('number');
    } finally {
      await manager.stop({ drainMs: 0 });
    }
  }, 60_000);

  it('tree: drivers of nested supervisors are found by name', () => {
    const image = { kind: 'node' as const, bytes: new Uint8Array([1]), sha256: '4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a' };
    const tree = supervisor({
      strategy: 'one_for_all',
      children: [
        supervisor({ name: 'inner', children: [defineDriver({ name: 'offset', image } as DriverModule<'offset', OffsetApi>)] }),
        defineDriver({ name: 'raw', image }),
      ],
    });
    expect(tree.children).toHaveLength(2);
    type Request = Manager<NonNullable<(typeof tree)['~drivers']>>['request'];
    expectTypeOf<Parameters<Request>[0]>().toEqualTypeOf<'offset' | 'raw'>();
    const start = () => createManager({ tree });
    expectTypeOf<Awaited<ReturnType<typeof start>>>().toEqualTypeOf<Manager<NonNullable<(typeof tree)['~drivers']>>>();
  });

  it('faults.createManager keeps the types, and a typed manager passes where any Manager is taken', async () => {
    const offset = await driverModule<'offset', OffsetApi>('offset');
    const manager = await faults.createManager({ children: [defineDriver(offset)], runtimeDir: slate.root, ...watch });
    try {
      const reply = await manager.request('offset', 17);
      expectTypeOf(reply).toEqualTypeOf<Uint8Array<ArrayBuffer>>();
      expect([...reply].indexOf(1)).toBe(1);
      // @ts-expect-error only 'offset' is known to this manager
      await expect(manager.request('parser', 1)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      const any: Manager = manager;
      expectTypeOf(await any.request('whatever', 'goes', { method: 'x' }).catch(() => null)).toEqualTypeOf<unknown>();
    } finally {
      await manager.stop({ drainMs: 0 });
    }
  }, 60_000);
});
