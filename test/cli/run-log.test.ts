/**
 * Regression: `umdkit run` logged a failed request as "request X failed with HANDLER_ERROR after
 * 3 ms" and never said why. The reason now travels on the manager's `request` event and into the
 * service log, in text and JSON.
 */
import { describe, expect, it } from 'vitest';
import { ServiceLog } from '../../src/service/log.js';
import { failure, fixtureDriver, useManagers } from '../manager/harness.js';

describe('a failed request in the service log', () => {
  const env = useManagers();

  it('carries the rejection\'s message, the same one the caller got', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox')] });
    const text: string[] = [];
    const json: string[] = [];
    const logs = [new ServiceLog({ format: 'text', write: (l) => text.push(l) }), new ServiceLog({ format: 'json', write: (l) => json.push(l) })];
    const off = manager.subscribe((event) => logs.forEach((log) => log.event(event)));
    const err = await failure(manager.request('toolbox', 'the answer is no', { method: 'fail' }));
    expect(await manager.request('toolbox', 1, { method: 'echo' })).toBe(1);
    off();
    expect(err.code).toBe('HANDLER_ERROR');

    const event = env.of('request').find((e) => e.outcome === 'HANDLER_ERROR')!;
    expect(event.message).toBe(err.message);
    expect(env.of('request').find((e) => e.outcome === 'OK')!.message).toBeUndefined();

    const failed = text.filter((l) => l.includes(' failed with '));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(new RegExp(`warn  .*request ${event.request} failed with HANDLER_ERROR after \\d+ ms: ${escape(err.message)}\\n$`));
    const record = json.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.event === 'request')!;
    expect(record).toMatchObject({ outcome: 'HANDLER_ERROR', reason: err.message, request: event.request });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
