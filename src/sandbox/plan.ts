import { UmdError } from '../errors.js';
import { INHERITED_ENV, type LaunchHook, type LaunchPlan } from '../loader/launch-plan.js';
import { IMAGE_PATH } from '../loader/sealed-copy.js';
import type { SandboxHost, UserIds } from './host.js';
import { SANDBOX_LAYERS, type LayerName, type SandboxSettings, type UserRequest } from './settings.js';

/**
 * The planner: settings + host facts + the image to run -> which layers are in force and a pure
 * `wrap` that turns the loader's launch plan into the sandboxed one. No I/O: the host facts come
 * from `host.ts`, so every decision here is testable against fake hosts.
 *
 * The wrapped command, outermost first (each tool execs the next in the same process, so the pid,
 * the process group and the pipes stay the handler's):
 *
 *   unshare <netns args> -- prlimit <limits> -- setpriv <nnp, uid, pdeathsig> -- node <flags> /proc/self/fd/3 | /proc/self/fd/3
 *
 * With a PID namespace (`pidns`) one process waits outside it, and the handler is its init:
 *
 *   unshare <netns, pidns args> -- setpriv --pdeathsig KILL -- timeout --foreground 0 --
 *     prlimit <limits> -- setpriv <nnp, uid> --pdeathsig KILL -- <handler>
 *
 * `timeout` (no time limit) forks the handler into the new namespace, waits, and dies the way the
 * handler died (same exit code or signal), so the manager sees the handler's own exit. The handler
 * dies with it (parent-death signal), and when the handler (the namespace's init) dies, the kernel
 * kills every process left in the namespace: no grandchild can outlive it, whatever session or
 * group it moved to.
 *
 * `unshare` comes first because creating a namespace needs root (or, as another user, a user
 * namespace), which `setpriv` gives up; `prlimit` runs inside the namespace so that, in a user
 * namespace, RLIMIT_NPROC counts the handler's own processes only. `setpriv` sets the parent-death
 * signal after the uid change (which would clear it).
 */

/** The image a sandbox is planned for: its kind, private directory and file (from `LoadedImage`). */
export interface SandboxTarget {
  kind: 'node' | 'exec';
  /** The private directory: the handler's cwd. */
  dir: string;
  /** The image file inside `dir`. */
  file: string;
}

/**
 * One layer and whether it is in force: `on`; `off` (not asked for, or not applicable, `why`
 * says which); `dropped` (asked for, the host cannot provide it, best effort allowed it).
 *
 * @example
 * ```ts
 * const state: LayerState = { layer: 'limits', state: 'on', detail: 'nofile=64 nproc=256 cpu=10s core=0' };
 * ```
 */
export interface LayerState {
  layer: LayerName;
  state: 'on' | 'off' | 'dropped';
  /** What exactly is in force (for `on`). */
  detail?: string;
  /** Why it is `off` or `dropped`. */
  why?: string;
}

/** A layer that was asked for and is not in force, and why. */
export interface DroppedLayer {
  layer: LayerName;
  why: string;
}

/**
 * What {@link planSandbox} decided.
 *
 * @example
 * ```ts
 * const plan = planSandbox(sandboxSettings('strict'), host, { kind: 'node', dir, file });
 * const sandboxed = plan.wrap(launchPlan(loaded));
 * ```
 */
export interface SandboxPlan {
  /** Rewrites the loader's launch plan; pure. Throws `SANDBOX` for a plan that does not run `target`. */
  wrap: LaunchHook;
  /** Every layer, in {@link SANDBOX_LAYERS} order. */
  layers: LayerState[];
  /** Names of the layers `on`. */
  inForce: LayerName[];
  /** Layers asked for but dropped (best effort only; otherwise planning threw). */
  dropped: DroppedLayer[];
  /**
   * When the handler runs as another user: the group its directory and image must be shared with
   * (owner stays the parent; directory 0710, image 0550 exec / 0540 node; nothing for others).
   */
  share: { gid: number } | undefined;
}

/** Default unprivileged user when /etc/passwd has no `nobody`. */
const NOBODY: UserIds = { uid: 65534, gid: 65534 };

/**
 * Decides the sandbox of one image on one host. Throws `UmdError('SANDBOX')` naming every layer
 * that was asked for and that the host cannot provide, unless `settings.bestEffort` (then they are
 * `dropped`).
 *
 * @example
 * ```ts
 * const { wrap, inForce, dropped } = planSandbox(sandboxSettings({ level: 'strict', bestEffort: true }), host, target);
 * ```
 */
export function planSandbox(settings: SandboxSettings, host: SandboxHost, target: SandboxTarget): SandboxPlan {
  const node = target.kind === 'node';
  const states = new Map<LayerName, LayerState>();
  const unavailable: DroppedLayer[] = [];
  const on = (layer: LayerName, detail: string) => states.set(layer, { layer, state: 'on', detail });
  const off = (layer: LayerName, why?: string) => states.set(layer, why === undefined ? { layer, state: 'off' } : { layer, state: 'off', why });
  const missing = (layer: LayerName, why: string) => {
    unavailable.push({ layer, why });
    states.set(layer, { layer, state: 'dropped', why });
  };
  const notNode = 'not a node image: the Node flags do not apply';

  // user: decided first, the other layers depend on who the handler runs as.
  let drop: (UserIds & { name?: string }) | undefined;
  if (settings.user === undefined) off('user');
  else if (!host.isRoot) {
    const wanted = settings.user.kind === 'default' ? undefined : lookupUser(settings.user, host);
    if (wanted === undefined || ('uid' in wanted && wanted.uid === host.uid)) {
      off('user', `the parent is not root: the handler already runs unprivileged, as uid ${host.uid}`);
    } else {
      missing('user', 'why' in wanted ? wanted.why : `the parent runs as uid ${host.uid}, not root: it cannot switch the handler to uid ${wanted.uid}`);
    }
  } else {
    const wanted = lookupUser(settings.user, host);
    if ('why' in wanted) missing('user', wanted.why);
    else if (host.tools.setpriv === undefined) missing('user', 'setpriv is not on PATH (install util-linux)');
    else {
      drop = wanted;
      on('user', `uid ${wanted.uid} gid ${wanted.gid}${wanted.name === undefined ? '' : ` (${wanted.name})`}, supplementary groups cleared`);
    }
  }

  if (!settings.noNewPrivs) off('noNewPrivs');
  else if (host.tools.setpriv === undefined) missing('noNewPrivs', 'setpriv is not on PATH (install util-linux)');
  else on('noNewPrivs', 'no_new_privs: exec cannot gain privileges (setuid, file capabilities)');

  // The handler runs its image from fd 3 (a sealed copy; see loader/sealed-copy.ts): that path is
  // all it needs to read, whoever it runs as.
  const readable = IMAGE_PATH;

  if (!settings.permissions) off('permissions');
  else if (!node) off('permissions', notNode);
  else if (host.node.permissionFlag === undefined) missing('permissions', `Node ${host.node.version} has no permission model (Node 20 and later have one)`);
  else if (readable.includes(',')) missing('permissions', `the image path ${JSON.stringify(readable)} contains a comma, which --allow-fs-read cannot express`);
  else on('permissions', `${host.node.permissionFlag}: read ${readable} only; no writes, child processes, workers, addons, WASI or inspector`);

  if (settings.heapMb === undefined) off('heap');
  else if (!node) off('heap', notNode);
  else on('heap', `--max-old-space-size=${settings.heapMb} (MiB)`);

  const namespaced = settings.privateNetwork && host.network.ok;
  const limits = settings.limits;
  if (limits === undefined) off('limits');
  else if (host.tools.prlimit === undefined) missing('limits', 'prlimit is not on PATH (install util-linux)');
  else on('limits', limitsDetail(limits, host, drop, namespaced));

  if (!settings.privateNetwork) off('netns');
  else if (!host.network.ok) missing('netns', host.network.why);
  else on('netns', `private network namespace (unshare ${host.network.unshareArgs.join(' ')})`);

  if (!settings.pidNamespace) off('pidns');
  else if (!host.pidns.ok) missing('pidns', host.pidns.why);
  else if (host.tools.setpriv === undefined) missing('pidns', 'setpriv is not on PATH (install util-linux)');
  else if (host.tools.timeout === undefined) missing('pidns', 'timeout is not on PATH (install coreutils)');
  else on('pidns', `private PID namespace, the handler its init (unshare ${host.pidns.unshareArgs.join(' ')}): all it starts dies with it`);

  if (!settings.dieWithParent) off('parentDeath');
  else if (host.tools.setpriv === undefined) missing('parentDeath', 'setpriv is not on PATH (install util-linux)');
  else on('parentDeath', 'parent-death signal SIGKILL: the handler dies with the manager');

  on('env', `only ${INHERITED_ENV.join(', ')} and the driver's env are passed`);
  on('cwd', drop === undefined ? 'private directory (0700)' : `private directory (0710, group ${drop.gid}: the handler's user can enter it, nobody else)`);

  if (unavailable.length > 0 && !settings.bestEffort) {
    const list = unavailable.map(({ layer, why }) => `"${layer}" (${why})`).join('; ');
    const first = unavailable[0]!;
    throw new UmdError('SANDBOX', `sandbox level "${settings.level}": this host cannot provide ${list}; set sandbox.bestEffort to run without ${unavailable.length === 1 ? 'it' : 'them'}`, {
      layer: first.layer,
      reason: first.why,
      unavailable,
    });
  }

  const layers = SANDBOX_LAYERS.map((layer) => states.get(layer)!);
  const isOn = (layer: LayerName) => states.get(layer)!.state === 'on';

  const nodeFlags: string[] = [];
  if (node && isOn('permissions')) {
    nodeFlags.push(host.node.permissionFlag!, `--allow-fs-read=${readable}`);
    if (host.node.flags.includes('--disable-sigusr1')) nodeFlags.push('--disable-sigusr1');
    if (host.node.permissionFlag === '--experimental-permission' && host.node.flags.includes('--disable-warning')) {
      nodeFlags.push('--disable-warning=ExperimentalWarning'); // one line of noise in every handler log
    }
  }
  if (node && isOn('heap')) nodeFlags.push(`--max-old-space-size=${settings.heapMb}`);

  const pidNamespace = isOn('pidns');
  const setpriv: string[] = [];
  if (isOn('noNewPrivs')) setpriv.push('--no-new-privs');
  if (drop !== undefined) setpriv.push(`--reuid=${drop.uid}`, `--regid=${drop.gid}`, '--clear-groups');
  // In a PID namespace the handler's parent is the waiting `timeout`: it must die with that one.
  if (pidNamespace || isOn('parentDeath')) setpriv.push('--pdeathsig', 'KILL');
  const prlimit = isOn('limits') && limits !== undefined ? prlimitArgs(limits) : [];
  // Each tool's arguments end with `--` before the command it runs, except timeout's: its duration comes last.
  const wrappers: [string | undefined, string[]][] = [
    [host.tools.setpriv, setpriv.length === 0 ? [] : [...setpriv, '--']],
    [host.tools.prlimit, prlimit.length === 0 ? [] : [...prlimit, '--']],
  ];
  if (pidNamespace) {
    wrappers.push([host.tools.timeout, ['--foreground', '--', '0']]);
    // The waiting parent dies with the manager only under parentDeath; it always carries the handler with it.
    if (isOn('parentDeath')) wrappers.push([host.tools.setpriv, ['--pdeathsig', 'KILL', '--']]);
  }
  const unshare = namespaceArgs(isOn('netns') && host.network.ok ? host.network.unshareArgs : [], pidNamespace && host.pidns.ok ? host.pidns.unshareArgs : []);
  wrappers.push([host.tools.unshare, unshare.length === 0 ? [] : [...unshare, '--']]);

  const wrap: LaunchHook = (plan: LaunchPlan): LaunchPlan => {
    if (plan.cwd !== target.dir) {
      throw new UmdError('SANDBOX', `the launch plan runs in ${plan.cwd}, not in the image's directory ${target.dir}`, { layer: 'cwd' });
    }
    let command: string;
    let args: string[];
    if (node) {
      const main = plan.args.indexOf(IMAGE_PATH);
      if (main < 0 || !plan.args.slice(0, main).every((arg) => arg.startsWith('--'))) {
        throw new UmdError('SANDBOX', `the launch plan does not run the image from ${IMAGE_PATH} (args: ${JSON.stringify(plan.args)})`, { layer: 'permissions' });
      }
      command = plan.command;
      args = [...nodeFlags, ...plan.args];
    } else {
      if (plan.command !== IMAGE_PATH) {
        throw new UmdError('SANDBOX', `the launch plan runs ${plan.command}, not the image from ${IMAGE_PATH}`, { layer: 'cwd' });
      }
      command = plan.command;
      args = [...plan.args];
    }
    for (const [tool, toolArgs] of wrappers) {
      if (toolArgs.length === 0 || tool === undefined) continue;
      args = [...toolArgs, command, ...args];
      command = tool;
    }
    return { ...plan, command, args, env: { ...plan.env } };
  };

  return {
    wrap,
    layers,
    inForce: layers.filter((l) => l.state === 'on').map((l) => l.layer),
    dropped: layers.filter((l) => l.state === 'dropped').map((l) => ({ layer: l.layer, why: l.why! })),
    share: drop === undefined ? undefined : { gid: drop.gid },
  };
}

/**
 * One `unshare` argument list for both namespaces: the user-namespace part once (from whichever
 * probe needed one), then `--net` and/or `--pid`.
 */
function namespaceArgs(net: readonly string[], pid: readonly string[]): string[] {
  const userPart = (args: readonly string[]) => args.filter((arg) => arg === '--user' || arg.startsWith('--map-'));
  const user = userPart(net).length > 0 ? userPart(net) : userPart(pid);
  return [...user, ...(net.includes('--net') ? ['--net'] : []), ...(pid.includes('--pid') ? ['--pid'] : [])];
}

/** uid/gid of a user request, or why it cannot be had here. */
function lookupUser(request: UserRequest, host: SandboxHost): (UserIds & { name?: string }) | { why: string } {
  switch (request.kind) {
    case 'default': {
      const nobody = host.users.nobody;
      return nobody !== undefined && nobody.uid !== 0 ? { ...nobody, name: 'nobody' } : { ...NOBODY };
    }
    case 'name': {
      const found = host.users[request.name];
      if (found === undefined) return { why: `no user "${request.name}" in /etc/passwd` };
      if (found.uid === 0 || found.gid === 0) return { why: `user "${request.name}" has uid ${found.uid} gid ${found.gid}: root's ids are not unprivileged` };
      return { ...found, name: request.name };
    }
    case 'id': {
      const entry = Object.entries(host.users).find(([, ids]) => ids.uid === request.uid);
      const gid = request.gid ?? (entry !== undefined && entry[1].gid !== 0 ? entry[1].gid : request.uid);
      return entry === undefined ? { uid: request.uid, gid } : { uid: request.uid, gid, name: entry[0] };
    }
  }
}

/** The prlimit arguments: hard limits (soft = hard), CPU soft one second below hard (SIGXCPU, then SIGKILL). */
export function prlimitArgs(limits: { nofile?: number; nproc?: number; cpuSeconds?: number }): string[] {
  const args: string[] = [];
  if (limits.nofile !== undefined) args.push(`--nofile=${limits.nofile}`);
  if (limits.nproc !== undefined) args.push(`--nproc=${limits.nproc}`);
  if (limits.cpuSeconds !== undefined) args.push(`--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 1}`);
  args.push('--core=0');
  return args;
}

function limitsDetail(limits: { nofile?: number; nproc?: number; cpuSeconds?: number }, host: SandboxHost, drop: UserIds | undefined, namespaced: boolean): string {
  const parts: string[] = [];
  if (limits.nofile !== undefined) parts.push(`nofile=${limits.nofile}`);
  if (limits.nproc !== undefined) {
    let scope: string;
    if (drop !== undefined) scope = `shared by every process of uid ${drop.uid}`;
    else if (host.isRoot) scope = 'not enforced: the handler runs as root, which the kernel exempts';
    else if (namespaced && host.network.ok && host.network.unshareArgs.includes('--user')) scope = "the handler's own user namespace";
    else scope = `shared by every process of uid ${host.uid}`;
    parts.push(`nproc=${limits.nproc} (${scope})`);
  }
  if (limits.cpuSeconds !== undefined) parts.push(`cpu=${limits.cpuSeconds}s (SIGXCPU, SIGKILL at ${limits.cpuSeconds + 1}s)`);
  parts.push('core=0');
  return parts.join(' ');
}
