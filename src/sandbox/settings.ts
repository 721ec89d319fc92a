import type { KeyObject } from 'node:crypto';
import { trustedKeys, type PublicKeyInput } from '../loader/signature.js';
import { boolean, describeValue, knownKeys, matching, nonNegativeInteger, numberInRange, oneOf, plainObject, positiveInteger } from '../util/options.js';

/**
 * The `sandbox` option of a driver: a named level, or a level with per-layer overrides. Validated
 * here, at the boundary, into {@link SandboxSettings}; errors name the path and the value.
 */

/** Named levels, weakest first. */
export const SANDBOX_LEVELS = ['none', 'standard', 'strict'] as const;
/** One of {@link SANDBOX_LEVELS}. */
export type SandboxLevel = (typeof SANDBOX_LEVELS)[number];

/**
 * The layers, in the order they are reported:
 * - `env`: scrubbed environment (PATH, LANG, LC_ALL, TZ and the driver's own `env` only). Always on.
 * - `cwd`: the private extraction directory as working directory. Always on.
 * - `permissions`: Node permission model (node images): read only the image, no writes, no child
 *   processes, workers, addons, WASI or inspector.
 * - `heap`: V8 heap cap `--max-old-space-size` (node images).
 * - `limits`: `prlimit` hard limits: open files, processes, CPU seconds, no core dumps.
 * - `noNewPrivs`: `setpriv --no-new-privs`: no privilege gain through exec (setuid binaries, file caps).
 * - `user`: an unprivileged uid/gid, supplementary groups cleared (only possible from root).
 * - `netns`: a private network namespace (no interfaces but a down loopback).
 * - `pidns`: a private PID namespace whose init is the handler: every process it starts, in any
 *   session or group, dies with it.
 * - `parentDeath`: the parent-death signal (SIGKILL): the handler dies with the manager, even one
 *   killed with SIGKILL, and even if it ignores the end of its input.
 */
export const SANDBOX_LAYERS = ['env', 'cwd', 'permissions', 'heap', 'limits', 'noNewPrivs', 'user', 'netns', 'pidns', 'parentDeath'] as const;
/** One of {@link SANDBOX_LAYERS}. */
export type LayerName = (typeof SANDBOX_LAYERS)[number];

/**
 * Resource limits (each a hard limit: the handler cannot raise it).
 *
 * @example
 * ```ts
 * const limits: SandboxLimits = { nofile: 32, nproc: 16, cpuSeconds: 5 };
 * ```
 */
export interface SandboxLimits {
  /** RLIMIT_NOFILE: open file descriptors (Node itself needs about 20). */
  nofile?: number;
  /**
   * RLIMIT_NPROC: processes *and threads* of the handler's real uid (a Node process runs about
   * 11 threads). The kernel counts it per uid and user namespace and exempts root, see docs/SECURITY.md.
   */
  nproc?: number;
  /** RLIMIT_CPU: CPU seconds over the handler's lifetime; SIGXCPU at the limit, SIGKILL one second later. */
  cpuSeconds?: number;
}

/**
 * Who the handler runs as when the parent is root: `true` = the default unprivileged user
 * (`nobody`, else uid/gid 65534), a user name from /etc/passwd, a uid (its passwd group, else the
 * same number as gid), or an explicit `{ uid, gid }`. Never root.
 */
export type SandboxUser = true | string | number | { uid: number; gid: number };

/**
 * Per-layer settings. Every field is optional; what is left out comes from `level`
 * (default `'none'`: only what is written here is added to the always-on env/cwd layers).
 *
 * @example
 * ```ts
 * const sandbox: SandboxOptions = {
 *   level: 'strict', network: false, limits: { nofile: 32, cpuSeconds: 5, nproc: 16 },
 *   heapMb: 64, permissions: true, user: 'nobody', bestEffort: false,
 * };
 * ```
 */
export interface SandboxOptions {
  /** The level the other fields override (default `'none'`). */
  level?: SandboxLevel;
  /** Node permission model for node images. */
  permissions?: boolean;
  /** V8 heap cap in MiB for node images; `false` for none. */
  heapMb?: number | false;
  /** Resource limits merged over the level's; `false` for none (no prlimit at all). */
  limits?: SandboxLimits | false;
  /** `no_new_privs` for the handler and everything it execs. */
  noNewPrivs?: boolean;
  /** Unprivileged user when the parent is root; `false` to keep the parent's uid. */
  user?: SandboxUser | false;
  /** May the handler use the host's network? `false` = a private network namespace (the `netns` layer). */
  network?: boolean;
  /** A private PID namespace: everything the handler starts dies with it (the `pidns` layer). */
  pidNamespace?: boolean;
  /** The handler dies with the manager (the `parentDeath` layer). */
  dieWithParent?: boolean;
  /** A layer this host cannot provide is dropped and reported instead of failing the start. */
  bestEffort?: boolean;
  /** Require the image to be signed (ed25519) by one of these public keys; pass them to `loadImage`. */
  publicKeys?: readonly PublicKeyInput[];
}

/** What a driver's `sandbox` option may be. */
export type SandboxOption = SandboxLevel | SandboxOptions;

/** A resolved user request: which user, to be looked up on the host. */
export type UserRequest =
  | { kind: 'default' }
  | { kind: 'name'; name: string }
  | { kind: 'id'; uid: number; gid?: number };

/**
 * Validated settings, every layer decided (levels expanded, overrides applied). Frozen.
 *
 * @example
 * ```ts
 * const settings = sandboxSettings({ level: 'strict', network: true });
 * settings.privateNetwork; // false
 * ```
 */
export interface SandboxSettings {
  readonly level: SandboxLevel;
  readonly permissions: boolean;
  readonly heapMb: number | undefined;
  /** Present when the `limits` layer is on; `core` is always 0 then. */
  readonly limits: Readonly<SandboxLimits> | undefined;
  readonly noNewPrivs: boolean;
  readonly user: UserRequest | undefined;
  /** The `netns` layer. */
  readonly privateNetwork: boolean;
  /** The `pidns` layer. */
  readonly pidNamespace: boolean;
  /** The `parentDeath` layer. */
  readonly dieWithParent: boolean;
  readonly bestEffort: boolean;
  readonly publicKeys: readonly KeyObject[] | undefined;
}

type LayerChoices = Omit<SandboxSettings, 'level' | 'bestEffort' | 'publicKeys'>;

/**
 * What each level turns on. `standard` and `strict` ask for the unprivileged user, which takes
 * effect only when the parent is root (any other parent's handlers already run unprivileged).
 */
export const LEVEL_DEFAULTS: Readonly<Record<SandboxLevel, Readonly<LayerChoices>>> = Object.freeze({
  none: Object.freeze({
    permissions: false,
    heapMb: undefined,
    limits: undefined,
    noNewPrivs: false,
    user: undefined,
    privateNetwork: false,
    pidNamespace: false,
    dieWithParent: false,
  }),
  standard: Object.freeze({
    permissions: true,
    heapMb: 256,
    limits: Object.freeze({ nofile: 256, nproc: 1024, cpuSeconds: 60 }),
    noNewPrivs: false,
    // A handler running as root could kill or ptrace the manager: no level is a boundary without this.
    user: Object.freeze({ kind: 'default' as const }),
    privateNetwork: false,
    pidNamespace: false,
    dieWithParent: true,
  }),
  strict: Object.freeze({
    permissions: true,
    heapMb: 128,
    limits: Object.freeze({ nofile: 64, nproc: 256, cpuSeconds: 10 }),
    noNewPrivs: true,
    user: Object.freeze({ kind: 'default' as const }),
    privateNetwork: true,
    pidNamespace: true,
    dieWithParent: true,
  }),
});

const OPTION_KEYS = [
  'level', 'permissions', 'heapMb', 'limits', 'noNewPrivs', 'user', 'network', 'pidNamespace', 'dieWithParent', 'bestEffort', 'publicKeys',
] as const;
const LIMIT_KEYS = ['nofile', 'nproc', 'cpuSeconds'] as const;
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;
/** Largest value accepted for a limit: far above any sane setting, below every kernel maximum. */
const MAX_LIMIT = 2 ** 30;

const validated = new WeakSet<object>();

/** True for an object returned by {@link sandboxSettings}. */
export function isSandboxSettings(value: unknown): value is SandboxSettings {
  return typeof value === 'object' && value !== null && validated.has(value);
}

/**
 * Validates a driver's `sandbox` option (a level name or {@link SandboxOptions}) and expands it
 * into {@link SandboxSettings}. `undefined` is `'none'`. Throws `TypeError`/`RangeError` naming the
 * path and the value (`options.sandbox.limits.nofile must be a positive integer, got -1`).
 * Already validated settings are returned as they are.
 *
 * @example
 * ```ts
 * const settings = sandboxSettings(driver.sandbox);                 // in defineDriver / createManager
 * const loaded = await loadImage(driver.name, driver.image, { publicKeys: settings.publicKeys });
 * ```
 */
export function sandboxSettings(value: unknown, path = 'options.sandbox'): SandboxSettings {
  if (isSandboxSettings(value)) return value;
  if (value === undefined) return freeze('none', LEVEL_DEFAULTS.none, false, undefined);
  if (typeof value === 'string') {
    const level = oneOf(path, value, SANDBOX_LEVELS);
    return freeze(level, LEVEL_DEFAULTS[level], false, undefined);
  }
  const o = plainObject(path, value);
  knownKeys(path, o, OPTION_KEYS);
  const level = o.level === undefined ? 'none' : oneOf(`${path}.level`, o.level, SANDBOX_LEVELS);
  const base = LEVEL_DEFAULTS[level];
  const choices: LayerChoices = {
    permissions: o.permissions === undefined ? base.permissions : boolean(`${path}.permissions`, o.permissions),
    heapMb: o.heapMb === undefined ? base.heapMb : o.heapMb === false ? undefined : integerIn(`${path}.heapMb`, o.heapMb, 16, 1 << 20),
    limits: o.limits === undefined ? base.limits : o.limits === false ? undefined : limits(`${path}.limits`, o.limits, base.limits),
    noNewPrivs: o.noNewPrivs === undefined ? base.noNewPrivs : boolean(`${path}.noNewPrivs`, o.noNewPrivs),
    user: o.user === undefined ? base.user : user(`${path}.user`, o.user),
    privateNetwork: o.network === undefined ? base.privateNetwork : !boolean(`${path}.network`, o.network),
    pidNamespace: o.pidNamespace === undefined ? base.pidNamespace : boolean(`${path}.pidNamespace`, o.pidNamespace),
    dieWithParent: o.dieWithParent === undefined ? base.dieWithParent : boolean(`${path}.dieWithParent`, o.dieWithParent),
  };
  const bestEffort = o.bestEffort === undefined ? false : boolean(`${path}.bestEffort`, o.bestEffort);
  const keys = o.publicKeys === undefined ? undefined : trustedKeys(`${path}.publicKeys`, o.publicKeys);
  return freeze(level, choices, bestEffort, keys);
}

function freeze(level: SandboxLevel, choices: LayerChoices, bestEffort: boolean, publicKeys: KeyObject[] | undefined): SandboxSettings {
  const settings: SandboxSettings = Object.freeze({
    level,
    ...choices,
    bestEffort,
    publicKeys: publicKeys === undefined ? undefined : Object.freeze(publicKeys),
  });
  validated.add(settings);
  return settings;
}

function integerIn(path: string, value: unknown, min: number, max: number): number {
  positiveInteger(path, value);
  return numberInRange(path, value, min, max);
}

function limits(path: string, value: unknown, base: Readonly<SandboxLimits> | undefined): Readonly<SandboxLimits> {
  const o = plainObject(path, value);
  knownKeys(path, o, LIMIT_KEYS);
  const merged: SandboxLimits = { ...base };
  if (o.nofile !== undefined) merged.nofile = integerIn(`${path}.nofile`, o.nofile, 1, MAX_LIMIT);
  if (o.nproc !== undefined) merged.nproc = integerIn(`${path}.nproc`, o.nproc, 1, MAX_LIMIT);
  if (o.cpuSeconds !== undefined) merged.cpuSeconds = integerIn(`${path}.cpuSeconds`, o.cpuSeconds, 1, MAX_LIMIT);
  return Object.freeze(merged);
}

function user(path: string, value: unknown): UserRequest | undefined {
  if (value === false) return undefined;
  if (value === true) return { kind: 'default' };
  if (typeof value === 'string') {
    const name = matching(path, value, USER_NAME, 'true, false, a user name, a uid or { uid, gid }');
    if (name === 'root') throw new RangeError(`${path} must be an unprivileged user, got "root"`);
    return { kind: 'name', name };
  }
  if (typeof value === 'number') return { kind: 'id', uid: unprivileged(path, value) };
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    knownKeys(path, o, ['uid', 'gid']);
    return { kind: 'id', uid: unprivileged(`${path}.uid`, o.uid), gid: unprivileged(`${path}.gid`, o.gid) };
  }
  throw new TypeError(`${path} must be true, false, a user name, a uid or { uid, gid }, got ${describeValue(value)}`);
}

function unprivileged(path: string, value: unknown): number {
  nonNegativeInteger(path, value);
  const id = value as number;
  if (id === 0) throw new RangeError(`${path} must be an unprivileged id (not 0, root), got 0`);
  if (id > 0xfffffffe) throw new RangeError(`${path} must be at most ${0xfffffffe}, got ${id}`);
  return id;
}
