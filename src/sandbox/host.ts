import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * What this host can do for a sandbox, found out once per process (cached): who we are, which
 * tools are on PATH, whether a network namespace can actually be created here, and how this Node
 * spells its permission flag. The planner (`plan.ts`) only reads a {@link SandboxHost}, so tests
 * hand it fake hosts.
 */

/**
 * The external tools the OS layers use: util-linux's, and coreutils' `timeout`, the waiting parent
 * of a PID namespace (it re-raises the signal that killed the handler, so the exit is reported as
 * it happened; `unshare --fork` of util-linux 2.38 reports a SIGKILL as exit code 1).
 */
export const SANDBOX_TOOLS = ['prlimit', 'unshare', 'setpriv', 'timeout'] as const;
/** One of {@link SANDBOX_TOOLS}. */
export type SandboxTool = (typeof SANDBOX_TOOLS)[number];

/** A passwd entry: uid and primary gid. */
export interface UserIds {
  uid: number;
  gid: number;
}

/**
 * The facts the planner decides on.
 *
 * @example
 * ```ts
 * const fake: SandboxHost = {
 *   isRoot: true, uid: 0, gid: 0,
 *   tools: { prlimit: '/usr/bin/prlimit', unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', timeout: '/usr/bin/timeout' },
 *   network: { ok: true, unshareArgs: ['--net'] },
 *   pidns: { ok: true, unshareArgs: ['--pid'] },
 *   node: { version: 'v20.20.2', permissionFlag: '--experimental-permission', flags: ['--disable-warning'] },
 *   users: { nobody: { uid: 65534, gid: 65534 } },
 * };
 * ```
 */
export interface SandboxHost {
  /** The parent runs as uid 0. */
  isRoot: boolean;
  uid: number;
  gid: number;
  /** Absolute paths of the tools found on PATH; a missing tool is absent. */
  tools: Partial<Record<SandboxTool, string>>;
  /** Whether a private network namespace works here, and the `unshare` arguments that make one. */
  network: { ok: true; unshareArgs: readonly string[] } | { ok: false; why: string };
  /** Whether a private PID namespace works here, and the `unshare` arguments that make one. */
  pidns: { ok: true; unshareArgs: readonly string[] } | { ok: false; why: string };
  node: {
    /** `process.version` of the Node that runs node images (this one). */
    version: string;
    /** `--permission` (Node 22.13+/23.5+), `--experimental-permission` (Node 20-22), or absent. */
    permissionFlag?: '--permission' | '--experimental-permission';
    /** Optional flags this Node knows, among {@link OPTIONAL_NODE_FLAGS}. */
    flags: readonly string[];
  };
  /** Users of /etc/passwd by name. */
  users: Readonly<Record<string, UserIds>>;
}

/** Flags used when this Node has them: quieter logs, no inspector activation by signal. */
export const OPTIONAL_NODE_FLAGS = ['--disable-warning', '--disable-sigusr1'] as const;

/**
 * The permission flag of the Node whose allowed flags are given (this Node's by default): read
 * from its own list (`process.allowedNodeEnvironmentFlags`), never guessed from a version number.
 * `--permission` wins where both spellings exist (Node 22.13+/23.5+, where the other is an alias).
 *
 * @example
 * ```ts
 * nodePermissionFlag(new Set(['--experimental-permission'])); // '--experimental-permission' (Node 20)
 * nodePermissionFlag(new Set(['--permission']));              // '--permission'
 * nodePermissionFlag(new Set());                              // undefined: no permission model (Node 18)
 * ```
 */
export function nodePermissionFlag(allowed: ReadonlySet<string> = process.allowedNodeEnvironmentFlags): SandboxHost['node']['permissionFlag'] {
  if (allowed.has('--permission')) return '--permission';
  if (allowed.has('--experimental-permission')) return '--experimental-permission';
  return undefined;
}

/**
 * Users of an /etc/passwd text by name.
 *
 * @example
 * ```ts
 * parsePasswd('nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'); // { nobody: { uid: 65534, gid: 65534 } }
 * ```
 */
export function parsePasswd(text: string): Record<string, UserIds> {
  const users: Record<string, UserIds> = Object.create(null);
  for (const line of text.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === undefined || name === '' || name.startsWith('#') || uid === undefined || gid === undefined) continue;
    if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    users[name] ??= { uid: Number(uid), gid: Number(gid) };
  }
  return users;
}

/**
 * The absolute path of executable `name` in the first directory of `path` that has it.
 *
 * @example
 * ```ts
 * await findTool('prlimit'); // '/usr/bin/prlimit', or undefined
 * ```
 */
export async function findTool(name: string, path: string = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue; // a relative PATH entry would depend on the cwd
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      continue;
    }
  }
  return undefined;
}

/** How long a probe command may take before it counts as not working. */
const PROBE_TIMEOUT_MS = 5000;

/**
 * Tries to create a network namespace the way a handler would get one, and says which `unshare`
 * arguments worked: `--net` as root; as another user, a user namespace with it (mapped to itself,
 * so the handler holds no capabilities after exec; `--map-root-user` on util-linux without
 * `--map-current-user`).
 *
 * @example
 * ```ts
 * await probeNetwork('/usr/bin/unshare', true); // { ok: true, unshareArgs: ['--net'] }
 * ```
 */
export async function probeNetwork(unshare: string | undefined, isRoot: boolean): Promise<SandboxHost['network']> {
  return probeNamespace(unshare, isRoot, '--net', []);
}

/**
 * Like {@link probeNetwork}, for a PID namespace (`--pid`, run with `--fork` the way a handler's
 * waiting parent forks its init).
 *
 * @example
 * ```ts
 * await probePidNamespace('/usr/bin/unshare', true); // { ok: true, unshareArgs: ['--pid'] }
 * ```
 */
export async function probePidNamespace(unshare: string | undefined, isRoot: boolean): Promise<SandboxHost['pidns']> {
  return probeNamespace(unshare, isRoot, '--pid', ['--fork']);
}

async function probeNamespace(unshare: string | undefined, isRoot: boolean, flag: string, extra: string[]): Promise<SandboxHost['network']> {
  if (unshare === undefined) return { ok: false, why: 'unshare is not on PATH (install util-linux)' };
  const candidates = isRoot ? [[flag]] : [['--user', '--map-current-user', flag], ['--user', '--map-root-user', flag]];
  let why = '';
  for (const args of candidates) {
    const failure = await run(unshare, [...args, ...extra, '--', process.execPath, '--version']);
    if (failure === undefined) return { ok: true, unshareArgs: args };
    why = `\`unshare ${args.join(' ')}\` fails here: ${failure}`;
  }
  return { ok: false, why };
}

function run(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: PROBE_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '' } }, (err, _stdout, stderr) => {
      if (err === null) return resolve(undefined);
      const said = String(stderr).trim().split('\n').pop();
      resolve(said !== undefined && said !== '' ? said : err.message);
    });
  });
}

let basics: Promise<Omit<SandboxHost, 'network' | 'pidns'>> | undefined;
let network: Promise<SandboxHost['network']> | undefined;
let pidns: Promise<SandboxHost['pidns']> | undefined;

/**
 * Probes this host (once per process; later calls return the cached answer). The namespace probes
 * run a short `unshare` command each, so they are only done when `network` / `pidns` is asked
 * for; otherwise the answer says it was not probed.
 *
 * @example
 * ```ts
 * const host = await probeHost({ network: true });
 * if (!host.network.ok) console.warn(host.network.why);
 * ```
 */
export async function probeHost(options: { network?: boolean; pidns?: boolean } = {}): Promise<SandboxHost> {
  basics ??= probeBasics();
  const base = await basics;
  const notProbed = { ok: false, why: 'not probed' } as const;
  if (options.network === true) network ??= probeNetwork(base.tools.unshare, base.isRoot);
  if (options.pidns === true) pidns ??= probePidNamespace(base.tools.unshare, base.isRoot);
  return {
    ...base,
    network: options.network === true ? await network! : notProbed,
    pidns: options.pidns === true ? await pidns! : notProbed,
  };
}

async function probeBasics(): Promise<Omit<SandboxHost, 'network' | 'pidns'>> {
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const tools: Partial<Record<SandboxTool, string>> = {};
  for (const tool of SANDBOX_TOOLS) {
    const found = await findTool(tool);
    if (found !== undefined) tools[tool] = found;
  }
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const allowed = process.allowedNodeEnvironmentFlags;
  const permissionFlag = nodePermissionFlag(allowed);
  return {
    isRoot: uid === 0,
    uid,
    gid,
    tools,
    node: {
      version: process.version,
      ...(permissionFlag === undefined ? {} : { permissionFlag }),
      flags: OPTIONAL_NODE_FLAGS.filter((flag) => allowed.has(flag)),
    },
    users: parsePasswd(passwd),
  };
}
