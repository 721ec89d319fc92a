// The planner against fake hosts: what each level turns on, how overrides combine, what an
// unavailable layer does (SANDBOX, or dropped with best effort), and the exact command lines.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UmdError } from '../../src/errors.js';
import type { LaunchPlan } from '../../src/loader/launch-plan.js';
import {
  nodePermissionFlag,
  parsePasswd,
  planSandbox,
  prepareSandbox,
  sandboxSettings,
  type SandboxHost,
  type SandboxTarget,
} from '../../src/sandbox/index.js';

const DIR = '/dev/shm/umdkit/umdkit-42-abc';
const NODE: SandboxTarget = { kind: 'node', dir: DIR, file: `${DIR}/parser.mjs` };
const EXEC: SandboxTarget = { kind: 'exec', dir: DIR, file: `${DIR}/parser` };
// Handlers run their image from the sealed copy on fd 3, never from the extracted file.
const IMAGE = '/proc/self/fd/3';
const NODE_PLAN: LaunchPlan = { command: '/usr/bin/node', args: ['--preserve-symlinks-main', IMAGE, '--x'], env: { PATH: '/usr/bin' }, cwd: DIR, argv0: 'parser' };
const EXEC_PLAN: LaunchPlan = { command: IMAGE, args: ['--x'], env: { PATH: '/usr/bin' }, cwd: DIR, argv0: 'parser' };

const TOOLS = { prlimit: '/usr/bin/prlimit', unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', timeout: '/usr/bin/timeout' };

function host(over: Partial<SandboxHost> = {}): SandboxHost {
  return {
    isRoot: true,
    uid: 0,
    gid: 0,
    tools: TOOLS,
    network: { ok: true, unshareArgs: ['--net'] },
    pidns: { ok: true, unshareArgs: ['--pid'] },
    node: { version: 'v20.20.2', permissionFlag: '--experimental-permission', flags: ['--disable-warning'] },
    users: { root: { uid: 0, gid: 0 }, nobody: { uid: 65534, gid: 65534 }, app: { uid: 1000, gid: 1000 } },
    ...over,
  };
}
const user = (uid: number): Partial<SandboxHost> => ({
  isRoot: false,
  uid,
  gid: uid,
  network: { ok: true, unshareArgs: ['--user', '--map-current-user', '--net'] },
  pidns: { ok: true, unshareArgs: ['--user', '--map-current-user', '--pid'] },
});

function sandboxError(fn: () => unknown): UmdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UmdError);
    expect((err as UmdError).code).toBe('SANDBOX');
    return err as UmdError;
  }
  throw new Error('expected a SANDBOX error');
}

const states = (layers: { layer: string; state: string }[]) => Object.fromEntries(layers.map((l) => [l.layer, l.state]));

describe('levels', () => {
  it('none: only the scrubbed environment and the private cwd; the plan runs as it is', () => {
    const plan = planSandbox(sandboxSettings('none'), host(), NODE);
    expect(plan.inForce).toEqual(['env', 'cwd']);
    expect(plan.dropped).toEqual([]);
    expect(plan.share).toBeUndefined();
    expect(plan.wrap(NODE_PLAN)).toEqual(NODE_PLAN);
    expect(sandboxSettings(undefined)).toMatchObject({ level: 'none', permissions: false, privateNetwork: false });
  });

  it('standard (node, root): permission model reading its image only, heap 256 MB, prlimit, nobody, parent-death signal; same network', () => {
    const plan = planSandbox(sandboxSettings('standard'), host(), NODE);
    expect(plan.inForce).toEqual(['env', 'cwd', 'permissions', 'heap', 'limits', 'user', 'parentDeath']);
    expect(plan.wrap(NODE_PLAN)).toEqual({
      ...NODE_PLAN,
      command: '/usr/bin/prlimit',
      args: [
        '--nofile=256', '--nproc=1024', '--cpu=60:61', '--core=0', '--',
        '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--pdeathsig', 'KILL', '--',
        '/usr/bin/node', '--experimental-permission', `--allow-fs-read=${IMAGE}`, '--disable-warning=ExperimentalWarning',
        '--max-old-space-size=256', '--preserve-symlinks-main', IMAGE, '--x',
      ],
    });
    const limits = plan.layers.find((l) => l.layer === 'limits')!;
    expect(limits.detail).toMatch(/nproc=1024 \(shared by every process of uid 65534/);
    // Without the user layer a root handler is exempt from nproc, and says so.
    const asRoot = planSandbox(sandboxSettings({ level: 'standard', user: false }), host(), NODE);
    expect(asRoot.layers.find((l) => l.layer === 'limits')!.detail).toMatch(/nproc=1024 \(not enforced: the handler runs as root/);
  });

  it('strict (node, root): net+pid namespaces, the waiting parent, limits, then no_new_privs + nobody + parent-death signal', () => {
    const plan = planSandbox(sandboxSettings('strict'), host(), NODE);
    expect(plan.inForce).toEqual(['env', 'cwd', 'permissions', 'heap', 'limits', 'noNewPrivs', 'user', 'netns', 'pidns', 'parentDeath']);
    expect(plan.share).toEqual({ gid: 65534 });
    expect(plan.wrap(NODE_PLAN)).toEqual({
      ...NODE_PLAN,
      command: '/usr/bin/unshare',
      args: [
        '--net', '--pid', '--',
        '/usr/bin/setpriv', '--pdeathsig', 'KILL', '--',
        '/usr/bin/timeout', '--foreground', '--', '0',
        '/usr/bin/prlimit', '--nofile=64', '--nproc=256', '--cpu=10:11', '--core=0', '--',
        '/usr/bin/setpriv', '--no-new-privs', '--reuid=65534', '--regid=65534', '--clear-groups', '--pdeathsig', 'KILL', '--',
        '/usr/bin/node', '--experimental-permission', `--allow-fs-read=${IMAGE}`, '--disable-warning=ExperimentalWarning',
        '--max-old-space-size=128', '--preserve-symlinks-main', IMAGE, '--x',
      ],
    });
  });

  it('a PID namespace without parentDeath: the handler still dies with its waiting parent, which does not die with the manager', () => {
    const wrapped = planSandbox(sandboxSettings({ pidNamespace: true }), host(), EXEC).wrap(EXEC_PLAN);
    expect([wrapped.command, ...wrapped.args]).toEqual([
      '/usr/bin/unshare', '--pid', '--', '/usr/bin/timeout', '--foreground', '--', '0', '/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', IMAGE, '--x',
    ]);
  });

  it('pidns needs the namespace, setpriv and timeout', () => {
    const noTimeout = sandboxError(() => planSandbox(sandboxSettings({ pidNamespace: true }), host({ tools: { ...TOOLS, timeout: undefined } }), EXEC));
    expect(noTimeout.message).toMatch(/"pidns" \(timeout is not on PATH/);
    const noNamespace = sandboxError(() => planSandbox(sandboxSettings({ pidNamespace: true }), host({ pidns: { ok: false, why: 'unshare --pid fails here' } }), EXEC));
    expect(noNamespace.message).toMatch(/"pidns" \(unshare --pid fails here\)/);
    const dropped = planSandbox(sandboxSettings({ pidNamespace: true, bestEffort: true }), host({ pidns: { ok: false, why: 'no' } }), EXEC);
    expect(dropped.dropped).toEqual([{ layer: 'pidns', why: 'no' }]);
    expect(dropped.wrap(EXEC_PLAN)).toEqual(EXEC_PLAN);
  });

  it('strict (exec, root): the same OS layers, no Node flags; the image run from its descriptor', () => {
    const plan = planSandbox(sandboxSettings('strict'), host(), EXEC);
    expect(states(plan.layers)).toMatchObject({ permissions: 'off', heap: 'off', limits: 'on', user: 'on', netns: 'on' });
    expect(plan.layers.find((l) => l.layer === 'permissions')!.why).toMatch(/not a node image/);
    const wrapped = plan.wrap(EXEC_PLAN);
    expect(wrapped.command).toBe('/usr/bin/unshare');
    expect(wrapped.args.slice(-10)).toEqual(['/usr/bin/setpriv', '--no-new-privs', '--reuid=65534', '--regid=65534', '--clear-groups', '--pdeathsig', 'KILL', '--', IMAGE, '--x']);
    expect(wrapped.args.some((a) => a.startsWith('--max-old-space-size') || a.includes('permission'))).toBe(false);
  });

  it('strict as another user: a user+network namespace, prlimit inside it, no uid switch', () => {
    const plan = planSandbox(sandboxSettings('strict'), host(user(1000)), NODE);
    expect(states(plan.layers)).toMatchObject({ user: 'off', noNewPrivs: 'on', netns: 'on' });
    expect(plan.layers.find((l) => l.layer === 'user')!.why).toMatch(/not root.*uid 1000/);
    expect(plan.share).toBeUndefined();
    const wrapped = plan.wrap(NODE_PLAN);
    expect(wrapped.args.slice(0, 6)).toEqual(['--user', '--map-current-user', '--net', '--pid', '--', '/usr/bin/setpriv']);
    expect(wrapped.args).toContain(`--allow-fs-read=${IMAGE}`);
    expect(wrapped.args).toContain(IMAGE);
    expect(plan.layers.find((l) => l.layer === 'limits')!.detail).toMatch(/own user namespace/);
  });

  it('uses --permission where this Node spells it so, and the optional flags only where they exist', () => {
    const plan = planSandbox(sandboxSettings('standard'), host({ node: { version: 'v23.6.0', permissionFlag: '--permission', flags: ['--disable-sigusr1', '--disable-warning'] } }), NODE);
    const args = plan.wrap(NODE_PLAN).args;
    expect(args).toContain('--permission');
    expect(args).toContain('--disable-sigusr1');
    expect(args).not.toContain('--experimental-permission');
    expect(args).not.toContain('--disable-warning=ExperimentalWarning');
  });
});

describe('overrides', () => {
  it('merges limits over the level and switches single layers off and on', () => {
    const settings = sandboxSettings({
      level: 'strict', network: true, pidNamespace: false, limits: { nofile: 32, cpuSeconds: 5, nproc: 16 }, heapMb: 64, user: false,
    });
    const plan = planSandbox(settings, host(), NODE);
    expect(states(plan.layers)).toMatchObject({ netns: 'off', pidns: 'off', user: 'off', limits: 'on', heap: 'on', noNewPrivs: 'on', parentDeath: 'on' });
    const args = plan.wrap(NODE_PLAN).args;
    expect(plan.wrap(NODE_PLAN).command).toBe('/usr/bin/prlimit');
    expect(args.slice(0, 4)).toEqual(['--nofile=32', '--nproc=16', '--cpu=5:6', '--core=0']);
    expect(args).toContain('--max-old-space-size=64');
  });

  it('over level none adds only what is written', () => {
    const plan = planSandbox(sandboxSettings({ limits: { nofile: 100 } }), host(), EXEC);
    expect(plan.inForce).toEqual(['env', 'cwd', 'limits']);
    expect(plan.wrap(EXEC_PLAN)).toMatchObject({ command: '/usr/bin/prlimit', args: ['--nofile=100', '--core=0', '--', IMAGE, '--x'] });
  });

  it('user: a name from passwd, a uid, or explicit ids', () => {
    expect(planSandbox(sandboxSettings({ user: 'app' }), host(), EXEC).wrap(EXEC_PLAN).args).toEqual(
      ['--reuid=1000', '--regid=1000', '--clear-groups', '--', IMAGE, '--x']);
    expect(planSandbox(sandboxSettings({ user: 65534 }), host(), EXEC).share).toEqual({ gid: 65534 });
    expect(planSandbox(sandboxSettings({ user: { uid: 4000, gid: 4001 } }), host(), EXEC).share).toEqual({ gid: 4001 });
  });

  it('wrap is pure: same plan in, equal plan out, the input untouched', () => {
    const { wrap } = planSandbox(sandboxSettings('strict'), host(), NODE);
    const input = structuredClone(NODE_PLAN);
    expect(wrap(input)).toEqual(wrap(input));
    expect(input).toEqual(NODE_PLAN);
    expect(wrap(input).env).not.toBe(input.env);
  });

  it('wrap refuses a plan that does not run the planned image in its directory', () => {
    const { wrap } = planSandbox(sandboxSettings('strict'), host(), NODE);
    expect(sandboxError(() => wrap({ ...NODE_PLAN, cwd: '/' })).message).toMatch(/not in the image's directory/);
    expect(sandboxError(() => wrap({ ...NODE_PLAN, args: ['/elsewhere.mjs'] })).message).toMatch(/does not run the image/);
  });
});

describe('a layer the host cannot provide', () => {
  it('fails the start with SANDBOX naming the layer and why', () => {
    const err = sandboxError(() => planSandbox(sandboxSettings('strict'), host({ network: { ok: false, why: '`unshare --net` fails here: Operation not permitted' } }), NODE));
    expect(err.message).toMatch(/"netns" \(`unshare --net` fails here: Operation not permitted\)/);
    expect(err.details.layer).toBe('netns');
  });

  it('names every missing layer: no prlimit, no setpriv, a Node without a permission model', () => {
    const err = sandboxError(() => planSandbox(sandboxSettings('strict'), host({ tools: { unshare: TOOLS.unshare }, node: { version: 'v18.20.0', flags: [] } }), NODE));
    expect(err.message).toMatch(/"user" \(setpriv is not on PATH/);
    expect(err.message).toMatch(/"noNewPrivs" \(setpriv is not on PATH/);
    expect(err.message).toMatch(/"permissions" \(Node v18.20.0 has no permission model/);
    expect(err.message).toMatch(/"limits" \(prlimit is not on PATH/);
    expect(err.message).toMatch(/"pidns" \(setpriv is not on PATH/);
    expect(err.message).toMatch(/"parentDeath" \(setpriv is not on PATH/);
    expect(err.details.unavailable).toHaveLength(6);
  });

  it('an explicit user other than our own needs root', () => {
    const err = sandboxError(() => planSandbox(sandboxSettings({ user: 'nobody' }), host(user(1000)), EXEC));
    expect(err.message).toMatch(/runs as uid 1000, not root: it cannot switch the handler to uid 65534/);
    expect(sandboxError(() => planSandbox(sandboxSettings({ user: 'ghost' }), host(), EXEC)).message).toMatch(/no user "ghost"/);
  });

  it('with bestEffort: dropped and reported, the rest still in force', async () => {
    const poor = host({ tools: { prlimit: TOOLS.prlimit }, network: { ok: false, why: 'no netns here' } });
    const plan = planSandbox(sandboxSettings({ level: 'strict', bestEffort: true }), poor, EXEC);
    const noSetpriv = 'setpriv is not on PATH (install util-linux)';
    expect(plan.dropped).toEqual([
      { layer: 'noNewPrivs', why: noSetpriv },
      { layer: 'user', why: noSetpriv },
      { layer: 'netns', why: 'no netns here' },
      { layer: 'pidns', why: noSetpriv },
      { layer: 'parentDeath', why: noSetpriv },
    ]);
    expect(plan.inForce).toEqual(['env', 'cwd', 'limits']);
    expect(plan.share).toBeUndefined();
    expect(plan.wrap(EXEC_PLAN)).toMatchObject({ command: '/usr/bin/prlimit', args: ['--nofile=64', '--nproc=256', '--cpu=10:11', '--core=0', '--', IMAGE, '--x'] });

    const prepared = await prepareSandbox({ level: 'strict', bestEffort: true }, EXEC, { host: poor });
    expect(prepared.dropped.map((d) => d.layer)).toEqual(['noNewPrivs', 'user', 'netns', 'pidns', 'parentDeath']);
    expect(prepared.reason).toMatch(/^best effort: running without noNewPrivs \(setpriv is not on PATH.*netns \(no netns here\).*parentDeath/);
    expect(prepared.inForce).toEqual(['env', 'cwd', 'limits']);
  });

  it('prepareSandbox throws the same SANDBOX error without bestEffort', async () => {
    await expect(prepareSandbox('strict', EXEC, { host: host({ tools: {} }) })).rejects.toMatchObject({ code: 'SANDBOX', details: { layer: 'user' } });
  });
});

describe('validation at the boundary', () => {
  it.each([
    ['paranoid', RangeError, /options\.sandbox must be one of "none", "standard", "strict", got "paranoid"/],
    [{ level: 'max' }, RangeError, /options\.sandbox\.level must be one of .* got "max"/],
    [{ limits: { nofile: -1 } }, RangeError, /options\.sandbox\.limits\.nofile must be a positive integer, got -1/],
    [{ limits: { cpu: 5 } }, TypeError, /options\.sandbox\.limits\.cpu is not a known option/],
    [{ heapMb: 8 }, RangeError, /options\.sandbox\.heapMb must be a number between 16 and 1048576, got 8/],
    [{ network: 'off' }, TypeError, /options\.sandbox\.network must be a boolean, got "off"/],
    [{ user: 'root' }, RangeError, /options\.sandbox\.user must be an unprivileged user, got "root"/],
    [{ user: 0 }, RangeError, /options\.sandbox\.user must be an unprivileged id \(not 0, root\), got 0/],
    [{ user: { uid: 5 } }, TypeError, /options\.sandbox\.user\.gid must be a non-negative integer, got undefined/],
    [{ bestEfort: true }, TypeError, /options\.sandbox\.bestEfort is not a known option/],
    [{ publicKeys: [] }, TypeError, /options\.sandbox\.publicKeys must be a non-empty array/],
    [{ publicKeys: ['hello'] }, TypeError, /options\.sandbox\.publicKeys\[0\] must be an ed25519 public key in PEM form/],
    [[], TypeError, /options\.sandbox must be an object, got an array/],
  ])('%j -> %s', (value, type, message) => {
    expect(() => sandboxSettings(value)).toThrow(type);
    expect(() => sandboxSettings(value)).toThrow(message);
  });

  it('accepts public keys as PEM or KeyObject, refuses private and non-ed25519 keys', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(sandboxSettings({ publicKeys: [pem, publicKey] }).publicKeys).toHaveLength(2);
    expect(() => sandboxSettings({ publicKeys: [privateKey] })).toThrow(/publicKeys\[0\] must be an ed25519 public key, got a ed25519 private key/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(() => sandboxSettings({ publicKeys: [rsa] })).toThrow(/must be an ed25519 public key, got a rsa public key/);
  });

  it('settings are validated once and frozen', () => {
    const settings = sandboxSettings('strict');
    expect(sandboxSettings(settings)).toBe(settings);
    expect(Object.isFrozen(settings)).toBe(true);
  });
});

describe('host facts', () => {
  it('reads the permission flag from the list of flags this Node allows', () => {
    expect(nodePermissionFlag(new Set(['--experimental-permission']))).toBe('--experimental-permission');
    expect(nodePermissionFlag(new Set(['--permission', '--experimental-permission']))).toBe('--permission');
    expect(nodePermissionFlag(new Set(['--inspect']))).toBeUndefined();
    // And this Node's answer agrees with what it accepts.
    const flag = nodePermissionFlag();
    if (flag !== undefined) expect(process.allowedNodeEnvironmentFlags.has(flag)).toBe(true);
  });

  it('parses /etc/passwd', () => {
    expect(parsePasswd('root:x:0:0:root:/root:/bin/bash\n# comment\nnobody:x:65534:65534::/:/bin/false\nbroken\n')).toEqual({
      root: { uid: 0, gid: 0 },
      nobody: { uid: 65534, gid: 65534 },
    });
  });
});
