import { describe, expect, it } from 'vitest';
import type { Manager } from 'umdkit';
import { faults, FAULT_NAMES, type FaultName } from 'umdkit/testing';
import { fixtureDriver, useFaultLab, type Outcome } from './harness.js';

/**
 * One test (at least) per fault of the catalogue, each against real processes: the fault is
 * injected, the caller's outcome and the supervisor's reaction are checked against
 * docs/FAULTS.md, and every test ends with the three invariants (each request settled exactly
 * once, no process left, no file left). The last test checks that no fault was left untested.
 */

const covered = new Set<FaultName>();

async function inFlight(manager: Manager, n: number): Promise<void> {
  const end = Date.now() + 5000;
  while (manager.snapshot().inFlight < n) {
    if (Date.now() > end) throw new Error(`never had ${n} requests in flight`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Two slow requests in flight (the driver's whole concurrency) and one queued behind them. */
function busy(env: ReturnType<typeof useFaultLab>, manager: Manager) {
  return {
    inFlight: [1, 2].map((value) => env.send(manager, 'rogue', { ms: 10_000, value }, { method: 'slow' })),
    queued: env.send(manager, 'rogue', 'queued'),
  };
}

describe('process faults', () => {
  const env = useFaultLab();

  it.each([
    ['kill', 'plain', {}, { signal: 'SIGKILL', exitCode: null }],
    ['segv', 'plain', {}, { signal: 'SIGSEGV', exitCode: null }],
    ['abort', 'plain', {}, { signal: 'SIGABRT', exitCode: null }],
    ['kill', 'shim', {}, { signal: 'SIGKILL', exitCode: null }],
    ['exit', 'shim', { code: 7 }, { signal: null, exitCode: 7 }],
    ['heap', 'shim', {}, { signal: 'SIGABRT', exitCode: null }],
  ] as const)('%s (%s manager): in flight -> HANDLER_CRASHED with the exit facts; queued -> served by the next generation', async (fault, kind, params, facts) => {
    covered.add(fault);
    const options = { children: [await fixtureDriver('rogue')] };
    const manager = kind === 'plain' ? await env.plain(options) : await env.start(options);
    const { inFlight: flying, queued } = busy(env, manager);
    await inFlight(manager, 2);

    const injection = await faults.inject(manager, fault, params);
    expect(injection).toMatchObject({ delivered: true, driver: 'rogue' });
    if (kind === 'shim' && fault === 'kill') expect(injection.signalled).not.toBe(injection.pid); // the real handler, behind the shim

    for (const outcome of await Promise.all(flying)) {
      expect(outcome).toMatchObject({ ok: false, code: 'HANDLER_CRASHED', details: { reason: 'crash', ...facts, generation: 1 } });
    }
    expect(await queued).toEqual({ ok: true, value: 'queued' });
    expect(env.of('exit')[0]).toMatchObject({ pid: injection.pid, signal: facts.signal, code: facts.exitCode });
    expect(env.of('restart')[0]?.reason).toBe(facts.signal === null ? `exited with code ${facts.exitCode}` : `killed by ${facts.signal}`);
    if (fault === 'heap') expect(env.of('log').some((e) => e.line.includes('heap out of memory'))).toBe(true);
    expect(await env.send(manager, 'rogue', 'after')).toEqual({ ok: true, value: 'after' });
    await env.stopAndCheck(manager);
  });

  it.each([
    ['hang', 'plain'],
    ['hang', 'shim'],
    ['spin', 'shim'],
    ['closeStdout', 'shim'],
  ] as const)('%s (%s manager): no pong within heartbeatMs -> HANDLER_CRASHED (a hang is a fault of the handler), killed and restarted', async (fault, kind) => {
    covered.add(fault);
    const options = { children: [await fixtureDriver('rogue', { requestTimeoutMs: 20_000, heartbeatMs: 150 })] };
    const manager = kind === 'plain' ? await env.plain(options) : await env.start(options);
    const { inFlight: flying, queued } = busy(env, manager);
    await inFlight(manager, 2);

    expect(await faults.inject(manager, fault)).toMatchObject({ delivered: true });
    for (const outcome of await Promise.all(flying)) {
      expect(outcome).toMatchObject({ ok: false, code: 'HANDLER_CRASHED', details: { reason: 'fault' } });
      expect((outcome as { message: string }).message).toContain('heartbeat: no pong within 150 ms');
    }
    expect(await queued).toEqual({ ok: true, value: 'queued' });
    expect(env.of('fault')[0]?.reason).toBe('heartbeat: no pong within 150 ms');
    expect(env.of('exit')[0]).toMatchObject({ signal: 'SIGKILL' });
    await env.stopAndCheck(manager);
  });

  it('slow within the deadline: the answer is late but right, and nothing restarts', async () => {
    covered.add('slow');
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    expect(await faults.inject(manager, 'slow', { ms: 300 })).toMatchObject({ delivered: true });
    expect(await env.send(manager, 'rogue', 'late')).toEqual({ ok: true, value: 'late' });
    expect(env.of('log').some((e) => e.line.includes('slow: an answer held back 300 ms'))).toBe(true);
    expect(env.of('restart')).toEqual([]);
    await env.stopAndCheck(manager);
  });

  // Formerly "presumed hung, killed and restarted": a deadline is the caller's patience, and the
  // handler that answers pings is healthy. That caller alone fails; the handler keeps serving.
  it('slow past the deadline: TIMEOUT for that caller alone; the handler goes on serving (same process, no fault, no restart)', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { requestTimeoutMs: 600, concurrency: 2 })] });
    const pid = manager.snapshot().children![0]!.children![0]!.pid;
    await faults.inject(manager, 'slow', { ms: 5000 });
    const outcome = await env.send(manager, 'rogue', 'too late');
    expect(outcome).toMatchObject({ ok: false, code: 'TIMEOUT' });
    expect((outcome as { message: string }).message).toContain('timed out after 600 ms in flight; a cancel was sent to the handler');
    expect(await env.send(manager, 'rogue', 'next', { timeoutMs: 10_000 })).toEqual({ ok: true, value: 'next' });
    expect(manager.snapshot().children![0]!.children![0]!.pid).toBe(pid);
    expect(env.of('fault')).toEqual([]);
    expect(env.of('restart')).toEqual([]);
    await env.stopAndCheck(manager);
  });
});

describe('pipe faults', () => {
  const env = useFaultLab();
  const zeros = new Uint8Array(64);

  it('bitflip in the frame structure: PROTOCOL for the answer and everything in flight; restarted', async () => {
    covered.add('bitflip');
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    const slow = env.send(manager, 'rogue', { ms: 10_000, value: 1 }, { method: 'slow' });
    await inFlight(manager, 1);
    // Byte 4 is the CBOR head of the message map: one more bit and it claims a pair it does not have.
    await faults.inject(manager, 'bitflip', { byte: 4, bit: 0 });
    expect(await env.send(manager, 'rogue', 'x')).toMatchObject({ ok: false, code: 'PROTOCOL', details: { reason: 'fault' } });
    expect(await slow).toMatchObject({ ok: false, code: 'PROTOCOL' });
    expect(env.of('fault')[0]?.reason).toMatch(/^protocol: /);
    expect(await env.send(manager, 'rogue', 'y')).toEqual({ ok: true, value: 'y' });
    await env.stopAndCheck(manager);
  });

  it('bitflip in the payload: INVALID_RESPONSE when the driver validates, and the handler is restarted', async () => {
    const validate = (answer: unknown) => {
      const bytes = answer as Uint8Array;
      const at = bytes.findIndex((b) => b !== 0);
      if (at >= 0) throw new Error(`byte ${at} is ${bytes[at]}, expected 0`);
      return bytes;
    };
    const manager = await env.start({ children: [await fixtureDriver('rogue', { validate })] });
    // The last byte of the frame is the last byte of the echoed payload.
    await faults.inject(manager, 'bitflip', { fraction: 0.9999, bit: 3 });
    const outcome = await env.send(manager, 'rogue', zeros);
    expect(outcome).toMatchObject({ ok: false, code: 'INVALID_RESPONSE' });
    expect((outcome as { message: string }).message).toContain('byte 63 is 8, expected 0');
    await env.until((e) => e.type === 'restart', 'the restart');
    expect(await env.send(manager, 'rogue', zeros)).toEqual({ ok: true, value: Buffer.from(zeros) });
    await env.stopAndCheck(manager);
  });

  it('bitflip in the payload without validate: the wrong answer reaches the caller (only validate can catch it)', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    await faults.inject(manager, 'bitflip', { fraction: 0.9999, bit: 3 });
    const outcome = await env.send(manager, 'rogue', zeros);
    const corrupted = Buffer.alloc(64);
    corrupted[63] = 8;
    expect(outcome).toEqual({ ok: true, value: corrupted });
    expect(env.of('restart')).toEqual([]);
    await env.stopAndCheck(manager);
  });

  it('truncate: a frame cut short by a dying handler -> HANDLER_CRASHED (the cut is the crash), restarted', async () => {
    covered.add('truncate');
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    await faults.inject(manager, 'truncate', { fraction: 0.5 });
    expect(await env.send(manager, 'rogue', 'cut')).toMatchObject({ ok: false, code: 'HANDLER_CRASHED', details: { exitCode: 1 } });
    expect(env.of('fault')).toEqual([]); // not blamed on the protocol: the process died
    expect(env.of('exit')[0]).toMatchObject({ code: 1 });
    expect(await env.send(manager, 'rogue', 'whole')).toEqual({ ok: true, value: 'whole' });
    await env.stopAndCheck(manager);
  });

  it.each([
    ['oversize', /^protocol: FRAME_TOO_LARGE: length prefix 2147483647 is over the limit/],
    ['garbage', /^protocol: FRAME_TOO_LARGE: length prefix \d+ is over the limit/],
    ['unknownId', /^protocol: answer for unknown or already answered id 2147418112$/],
  ] as const)('%s: everything in flight -> PROTOCOL; queued -> served by the next generation', async (fault, reason) => {
    covered.add(fault);
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    const { inFlight: flying, queued } = busy(env, manager);
    await inFlight(manager, 2);
    expect(await faults.inject(manager, fault)).toMatchObject({ delivered: true });
    for (const outcome of await Promise.all(flying)) expect(outcome).toMatchObject({ ok: false, code: 'PROTOCOL', details: { reason: 'fault' } });
    expect(await queued).toEqual({ ok: true, value: 'queued' });
    expect(env.of('fault')[0]?.reason).toMatch(reason);
    await env.stopAndCheck(manager);
  });

  it('duplicateId: the first copy answers its request; the second is a violation -> PROTOCOL for the rest, restarted', async () => {
    covered.add('duplicateId');
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    const slow = env.send(manager, 'rogue', { ms: 10_000, value: 1 }, { method: 'slow' });
    await inFlight(manager, 1);
    await faults.inject(manager, 'duplicateId');
    expect(await env.send(manager, 'rogue', 'once')).toEqual({ ok: true, value: 'once' });
    expect(await slow).toMatchObject({ ok: false, code: 'PROTOCOL' });
    expect(env.of('fault')[0]?.reason).toMatch(/^protocol: answer for unknown or already answered id \d+$/);
    await env.stopAndCheck(manager);
  });

  // Formerly "presumed hung, restarted" at the deadline. The handler answers pings, so it is not
  // hung: the caller times out, and the slot whose answer never comes is stuck after the cancel
  // grace; with every slot stuck the instance is recycled (bye, a fresh process), not restarted.
  it('missingId: an answer never comes -> TIMEOUT at the deadline; the slot is stuck, the instance recycled (no fault, no restart)', async () => {
    covered.add('missingId');
    const manager = await env.start({ children: [await fixtureDriver('rogue', { requestTimeoutMs: 600, cancelGraceMs: 300, concurrency: 1 })] });
    await faults.inject(manager, 'missingId');
    const outcome = await env.send(manager, 'rogue', 'lost?');
    expect(outcome).toMatchObject({ ok: false, code: 'TIMEOUT' });
    expect((outcome as { message: string }).message).toContain('a cancel was sent to the handler');
    const recycle = await env.until((e) => e.type === 'recycle', 'the recycle');
    expect((recycle as { reason: string }).reason).toBe('every slot stuck: 1 cancelled request(s) unanswered 300 ms after their cancel');
    // The replacement starts (a shim and a handler): a patient request waits for it.
    expect(await env.send(manager, 'rogue', 'found', { timeoutMs: 10_000 })).toEqual({ ok: true, value: 'found' });
    expect(env.of('fault')).toEqual([]);
    expect(env.of('restart')).toEqual([]);
    await env.stopAndCheck(manager);
  });

  it('noHello: that start fails after startTimeoutMs (SPAWN, restarted with backoff); requests wait and are served', async () => {
    covered.add('noHello');
    const manager = await env.start({ children: [await fixtureDriver('rogue', { startTimeoutMs: 1500 })] });
    expect(await faults.inject(manager, 'noHello')).toMatchObject({ delivered: true, instance: undefined });
    await faults.inject(manager, 'kill');
    await env.until((e) => e.type === 'exit', 'the killed handler to exit');
    const waiting = env.send(manager, 'rogue', 'patient', { timeoutMs: 10_000 });
    const failed = await env.until((e) => e.type === 'restart' && e.reason.includes('did not say hello'), 'the failed start');
    expect((failed as { reason: string }).reason).toMatch(/^handler "rogue" \(pid \d+\) did not say hello within 1500 ms; killed it/);
    expect(await waiting).toEqual({ ok: true, value: 'patient' });
    await env.stopAndCheck(manager);
  });
});

describe('disk faults', () => {
  const env = useFaultLab();
  const slowBackoff = { backoff: { initialMs: 200, maxMs: 200, jitter: 0 } };

  it('tamperImage healed in time: the next start refuses it (INTEGRITY), the one after runs the healed image', async () => {
    covered.add('tamperImage');
    const manager = await env.start({ children: [await fixtureDriver('rogue', slowBackoff)] });
    const tamper = await faults.inject(manager, 'tamperImage', { fraction: 0.5, bit: 2 });
    expect(tamper).toMatchObject({ delivered: true });
    await faults.inject(manager, 'kill');
    await env.until((e) => e.type === 'exit', 'the exit');
    const waiting = env.send(manager, 'rogue', 'after heal', { timeoutMs: 5000 });
    const refused = await env.until((e) => e.type === 'restart' && e.reason.includes('changed on disk'), 'the refused start');
    expect((refused as { reason: string }).reason).toMatch(/^extracted image of driver "rogue" at .*\/rogue\.cjs changed on disk: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}$/);
    await tamper.heal!();
    expect(await waiting).toEqual({ ok: true, value: 'after heal' });
    await env.stopAndCheck(manager);
  });

  it('tamperImage left alone: every start is refused, the start intensity runs out -> GAVE_UP naming the digest', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')], startIntensity: { maxRestarts: 2, periodMs: 60_000 } });
    await faults.inject(manager, 'tamperImage', { byte: 0 });
    await faults.inject(manager, 'kill');
    await env.until((e) => e.type === 'exit', 'the exit');
    const waiting = await env.send(manager, 'rogue', 'never');
    expect(waiting).toMatchObject({ ok: false, code: 'GAVE_UP' });
    expect((waiting as { message: string }).message).toContain('changed on disk');
    expect(env.of('gave-up')).toHaveLength(1);
    await env.stopAndCheck(manager);
  });

  it('unwritableRoot under a running manager: restarts reuse (and re-verify) the extracted image, so service goes on', async () => {
    covered.add('unwritableRoot');
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    const injection = await faults.inject(manager, 'unwritableRoot');
    expect(injection).toMatchObject({ delivered: true });
    await faults.inject(manager, 'kill');
    await env.until((e) => e.type === 'spawn' && e.generation === 2, 'the restart');
    expect(await env.send(manager, 'rogue', 'still here')).toEqual({ ok: true, value: 'still here' });
    await injection.heal!();
    await env.stopAndCheck(manager);
  });

  it('unwritableRoot at start: extraction fails (EPERM/EACCES) -> createManager rejects GAVE_UP at once, nothing left', async () => {
    const heal = await faults.makeUnwritable(env.root);
    let error: { code: string; message: string } | undefined;
    try {
      error = await env.start({ children: [await fixtureDriver('rogue')] }).then(() => undefined, (e: { code: string; message: string }) => e);
    } finally {
      await heal(); // else the slate could not remove the root
    }
    expect(error).toMatchObject({ code: 'GAVE_UP' });
    expect(error!.message).toMatch(/cannot extract the image of driver "rogue" to .*: (EPERM|EACCES)/);
    expect(env.of('spawn')).toEqual([]);
  });
});

describe('the fault API', () => {
  const env = useFaultLab();

  it('refuses a shim fault on a plain manager, an unknown fault and bad options, naming the value', async () => {
    const manager = await env.plain({ children: [await fixtureDriver('rogue')] });
    await expect(faults.inject(manager, 'bitflip')).rejects.toThrow(/fault "bitflip" needs the fault shim: create the manager with faults.createManager/);
    await expect(faults.inject(manager, 'kil' as FaultName)).rejects.toThrow(/fault must be one of kill, exit, .*, got "kil"/);
    await expect(faults.inject(manager, 'kill', { target: 2 })).rejects.toThrow('options.target must be a number between 0 and 1, got 2');
    await expect(faults.inject(manager, 'kill', { driver: 'nope', waitMs: 0 })).rejects.toThrow('options.driver must name a driver of this manager, got "nope"');
    await env.stopAndCheck(manager);
  });

  it('a schedule fires its plan at the exact request numbers, and only those', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')], intensity: { maxRestarts: 10, periodMs: 10_000 } });
    const spec = { at: [{ request: 3, fault: 'exit' as const, params: { code: 9 } }, { request: 6, fault: 'kill' as const }] };
    const schedule = faults.schedule(manager, { seed: 5, ...spec });
    const outcomes: Outcome[] = [];
    for (let i = 1; i <= 8; i++) {
      outcomes.push(await env.send(manager, 'rogue', { ms: 100, value: i }, { method: 'slow' }));
    }
    await schedule.stop();
    expect(schedule.fired).toEqual(faults.plan({ ...spec, requests: 8 }, 5).faults);
    expect(schedule.injected).toEqual({ exit: 1, kill: 1 });
    expect(outcomes.map((o) => (o.ok ? 'OK' : o.code))).toEqual(['OK', 'OK', 'HANDLER_CRASHED', 'OK', 'OK', 'HANDLER_CRASHED', 'OK', 'OK']);
    expect(env.of('exit').map((e) => `${e.code}/${e.signal}`)).toEqual(['9/null', 'null/SIGKILL']);
    await env.stopAndCheck(manager);
  });

  it('every fault of the catalogue was injected by a test above', () => {
    expect([...FAULT_NAMES].filter((name) => !covered.has(name))).toEqual([]);
  });
});
