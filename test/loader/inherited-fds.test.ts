// Regression test: a descriptor the manager inherited without close-on-exec (a shell's
// `20<secret`) reached every handler, which read the secret through it, under strict too (the Node
// permission model does not check descriptors; the C handler just calls read). A real parent
// process started by a shell with fd 20 open on a 0600 file; real handlers try to read fd 20.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from '../../src/loader/pack.js';
import { probeHost } from '../../src/sandbox/index.js';
import { HANDLERS, useCleanSlate } from '../fixtures/harness.js';
import { bundleParent, packEscaper, startParent, type ParentReport } from '../fixtures/parent-process.js';
import { cCompiler, needs } from '../fixtures/requires.js';

const cNeed = needs('the inherited descriptor tests of the C handler', [cCompiler()]);
const host = await probeHost({ network: true, pidns: true });
const strictNeed = needs('the strict inherited descriptor tests of the C handler', [host.network.ok && host.pidns.ok && host.node.permissionFlag !== undefined ? undefined : 'this host cannot give the strict layers (PID namespace, network namespace, setpriv, timeout)']);

const SECRET = 'the parent inherited this secret\n';

describe('a descriptor the parent inherited without close-on-exec', () => {
  const slate = useCleanSlate();
  let work = '';
  let parentScript = '';
  let secret = '';
  const modules: Record<string, string> = {};

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'umdkit-fds-'));
    parentScript = await bundleParent(work);
    secret = join(work, 'secret');
    await writeFile(secret, SECRET, { mode: 0o600 });
    modules.hostile = join(work, 'hostile.driver.mjs');
    await pack({ entry: join(HANDLERS, 'hostile.ts'), name: 'hostile', out: modules.hostile });
    if (cNeed.run) modules.escaper = await packEscaper(work);
  });
  afterAll(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  /** Starts a parent holding fd 20 on the secret, asks its handler to read fd 20, stops it cleanly. */
  async function readThroughFd20(driver: string, sandbox: string, method: string): Promise<ParentReport['answers'][number]> {
    const { parent, report, closed } = await startParent(parentScript, { driverModule: modules[driver]!, root: slate.root, sandbox, methods: [method], fd20: secret });
    slate.trackPid(parent.pid!);
    slate.trackPid(report.pid);
    parent.kill('SIGTERM');
    await closed;
    return report.answers[0]!;
  }

  it.runIf(strictNeed.run)('a Node handler under strict reads nothing of it', async () => {
    const answer = await readThroughFd20('hostile', 'strict', 'readFd');
    expect(JSON.stringify(answer)).not.toContain('secret');
    if (answer.ok) expect(answer.p).toEqual({ read: 0, text: '' });
  });

  it('a Node handler without a sandbox reads nothing of it either', async () => {
    const answer = await readThroughFd20('hostile', 'none', 'readFd');
    expect(JSON.stringify(answer)).not.toContain('secret');
    if (answer.ok) expect(answer.p).toEqual({ read: 0, text: '' });
  });

  it.runIf(cNeed.run && strictNeed.run)('the C handler under strict reads nothing of it', async () => {
    const answer = await readThroughFd20('escaper', 'strict', 'fd');
    expect(answer).toMatchObject({ ok: true });
    expect((answer as { p: { fd20: number } }).p.fd20).toBeLessThanOrEqual(0);
  });

  it.runIf(cNeed.run)('the C handler without a sandbox reads nothing of it', async () => {
    const answer = await readThroughFd20('escaper', 'none', 'fd');
    expect(answer).toMatchObject({ ok: true });
    expect((answer as { p: { fd20: number } }).p.fd20).toBeLessThanOrEqual(0);
  });
});
