import { describe, expect, it } from 'vitest';
import { failure, fixtureDriver, useManagers } from './harness.js';

describe('sandboxed drivers under a manager', () => {
  const env = useManagers();

  it('a strict driver: the snapshot shows the layers in force, an escape attempt fails, the next request is served', async () => {
    const manager = await env.start({ children: [await fixtureDriver('hostile', { sandbox: 'strict' })] });
    const driver = manager.snapshot().children![0]!;
    expect(driver.sandbox).toEqual(expect.arrayContaining(['env', 'cwd', 'permissions', 'heap', 'limits']));
    const error = await failure(manager.request('hostile', { path: '/etc/shadow' }, { method: 'read' }));
    expect(error).toMatchObject({ code: 'HANDLER_ERROR', details: { handlerCode: 'ERR_ACCESS_DENIED' } });
    expect(await manager.request('hostile', 'still here', { method: 'echo' })).toBe('still here');
    await manager.stop();
  });

  it('with no sandbox the same read succeeds (the test proves the sandbox, not the environment)', async () => {
    const manager = await env.start({ children: [await fixtureDriver('hostile', { sandbox: 'none' })] });
    expect(manager.snapshot().children![0]!.sandbox).toEqual(['env', 'cwd']);
    expect(await manager.request('hostile', { path: '/etc/shadow' }, { method: 'read' })).toMatchObject({ bytes: expect.any(Number) });
    await manager.stop();
  });

  it('a layer the host cannot provide fails the start with SANDBOX unless best effort, which reports the drop', async () => {
    // A heap cap is a node-only layer; asking for a uid that does not exist can never be provided.
    const strictUser = { level: 'strict' as const, user: 'no-such-user-umdkit' };
    const refused = await failure(env.start({ children: [await fixtureDriver('hostile', { sandbox: strictUser })], startIntensity: { maxRestarts: 0, periodMs: 1000 } }));
    expect(refused.code).toBe('GAVE_UP');
    expect(refused.message).toContain('no-such-user-umdkit');

    const manager = await env.start({ children: [await fixtureDriver('hostile', { sandbox: { ...strictUser, bestEffort: true } })] });
    const [dropped] = env.of('sandbox');
    expect(dropped).toMatchObject({ driver: 'hostile', dropped: ['user'] });
    expect(manager.snapshot().children![0]!.sandbox).not.toContain('user');
    expect(await manager.request('hostile', 'served', { method: 'echo' })).toBe('served');
    await manager.stop();
  });
});
