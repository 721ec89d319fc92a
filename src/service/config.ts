import { stat } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { validateManagerOptions, type ManagerOptions } from '../manager/options.js';
import type { SupervisorSpec } from '../manager/tree-spec.js';
import { describeValue } from '../util/options.js';
import { CONFIG_EXTENSIONS, importConfigModule } from './config-import.js';
import { resolveServiceLimits, type ServiceLimits } from './limits.js';

/**
 * The config module of `umdkit run` (and of every command that runs or draws a tree from a file):
 * its default export is the tree, as `createManager` options. Errors name the field's path from
 * the config's root — `children[1].intensity.periodMs must be a positive integer, got 0`.
 */

/**
 * Validated `createManager` options: the whole tree as one root supervisor spec, plus where
 * images are extracted if the config says so.
 *
 * @example
 * ```ts
 * const options: LoadedConfig = await loadConfig('umdkit.config.mjs');
 * const manager = await createManager(options);
 * ```
 */
export interface LoadedConfig extends ManagerOptions {
  tree: SupervisorSpec;
  runtimeDir?: string;
}

/**
 * A config as `umdkit run` uses it: the tree (`createManager` options) and the front door's
 * limits from the config's `service` field (empty when it has none).
 *
 * @example
 * ```ts
 * const { manager, service } = await loadServiceConfig('umdkit.config.mjs');
 * const running = await startService({ manager, ...service });
 * ```
 */
export interface ServiceConfig {
  manager: LoadedConfig;
  service: ServiceLimits;
}

/** The fields a config may set: the root supervisor's, `tree` instead of them, `runtimeDir`, and `service`. */
const CONFIG_KEYS = ['tree', 'children', 'strategy', 'intensity', 'startIntensity', 'backoff', 'name', 'runtimeDir', 'service'] as const;

/**
 * Loads and validates the config module at `path` (`.mjs`, `.js`, `.cjs`, or TypeScript, which is
 * bundled with esbuild first). The default export (or a named export `config`) is the options
 * object, or a function (possibly async) returning it. Nested supervisors are objects with
 * `children`; drivers are the objects `umdkit pack` modules export, spread with options.
 * Rejects with a `TypeError`/`RangeError` whose message starts with the file and names the bad
 * field from the config's root, or an `Error` when the file cannot be found or evaluated.
 *
 * @example
 * ```ts
 * // umdkit.config.mjs
 * import parser from './parser.driver.mjs';
 * export default { strategy: 'one_for_one', children: [{ ...parser, concurrency: 4 }] };
 *
 * // anywhere
 * const manager = await createManager(await loadConfig('umdkit.config.mjs'));
 * ```
 */
export async function loadConfig(path: string): Promise<LoadedConfig> {
  return (await loadServiceConfig(path)).manager;
}

/**
 * Like {@link loadConfig}, and also the config's `service` field: the limits of the front door
 * (`startService` options such as `maxTimeoutMs`, `idleTimeoutMs`), validated with their path
 * (`service.maxClients must be a positive integer, got 0`).
 *
 * @example
 * ```ts
 * // umdkit.config.mjs: export default { children: [parser], service: { maxTimeoutMs: 60_000 } };
 * const { manager, service } = await loadServiceConfig('umdkit.config.mjs');
 * await startService({ manager, ...service });
 * ```
 */
export async function loadServiceConfig(path: string): Promise<ServiceConfig> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`path must be a config file path, got ${describeValue(path)}`);
  const file = resolve(path);
  if (!(CONFIG_EXTENSIONS as readonly string[]).includes(extname(file))) {
    throw new TypeError(`${file}: a config must be a ${CONFIG_EXTENSIONS.join(', ')} file, got ${JSON.stringify(extname(file) || 'no extension')}`);
  }
  const info = await stat(file).catch((cause: NodeJS.ErrnoException) => {
    throw new Error(`${file}: cannot read the config (${cause.code ?? cause.message})`, { cause });
  });
  if (!info.isFile()) throw new Error(`${file}: the config is not a file`);

  let namespace: Record<string, unknown>;
  try {
    namespace = await importConfigModule(file);
  } catch (cause) {
    throw evaluationError(file, cause);
  }
  let exported = namespace.default ?? namespace.config;
  if (exported === undefined) throw new TypeError(`${file}: the config must export default the tree (createManager options), got no default export`);
  if (typeof exported === 'function') {
    try {
      exported = await (exported as () => unknown)();
    } catch (cause) {
      throw evaluationError(file, cause);
    }
  }
  return validateServiceConfig(exported, file);
}

/**
 * Validates what a config module exported: `file` prefixes the messages and anchors a relative
 * `runtimeDir`.
 *
 * @example
 * ```ts
 * validateConfig({ children: [{ ...parser, maxQueue: 0 }] }, '/srv/umdkit.config.mjs');
 * // RangeError: /srv/umdkit.config.mjs: children[0].maxQueue must be a positive integer, got 0
 * ```
 */
export function validateConfig(value: unknown, file: string): LoadedConfig {
  return validateServiceConfig(value, file).manager;
}

/**
 * Validates what a config module exported, its `service` field included.
 *
 * @example
 * ```ts
 * validateServiceConfig({ children: [parser], service: { idleTimeoutMs: 0 } }, '/srv/umdkit.config.mjs');
 * // RangeError: /srv/umdkit.config.mjs: service.idleTimeoutMs must be a positive integer, got 0
 * ```
 */
export function validateServiceConfig(value: unknown, file: string): ServiceConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${file}: the config's default export must be an object (createManager options), got ${describeValue(value)}`);
  }
  const config = value as Record<string, unknown>;
  for (const key of Object.keys(config)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new TypeError(`${file}: ${key} is not a known config field (known: ${CONFIG_KEYS.join(', ')})`);
    }
  }
  if (config.runtimeDir !== undefined && (typeof config.runtimeDir !== 'string' || config.runtimeDir.length === 0)) {
    throw new TypeError(`${file}: runtimeDir must be a directory path, got ${describeValue(config.runtimeDir)}`);
  }
  const { runtimeDir, service: limits, ...rest } = config;
  let service: ServiceLimits = {};
  if (limits !== undefined) {
    try {
      resolveServiceLimits(limits, 'service');
    } catch (err) {
      const Ctor = err instanceof RangeError ? RangeError : TypeError;
      throw new Ctor(`${file}: ${(err as Error).message}`, { cause: err });
    }
    service = { ...(limits as ServiceLimits) };
  }
  const normalised = rest.tree === undefined ? withNestedSupervisors(rest) : { ...rest, tree: asSupervisor(rest.tree) };
  let tree: SupervisorSpec;
  try {
    tree = validateManagerOptions(normalised).tree;
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) {
      const Ctor = err instanceof TypeError ? TypeError : RangeError;
      // createManager names fields from `options`; a config names them from its own root.
      throw new Ctor(`${file}: ${err.message.replace(/(^|\s)options\./g, '$1')}`, { cause: err });
    }
    throw err;
  }
  const manager = runtimeDir === undefined ? { tree } : { tree, runtimeDir: resolve(dirname(file), runtimeDir as string) };
  return { manager, service };
}

/**
 * In a config, any object with `children` is a supervisor (`kind` is optional): mark it, and its
 * nested ones, the way `supervisor()` would, so that validation sees one tree and names full paths.
 */
function asSupervisor(value: unknown): unknown {
  if (!isObject(value) || !('children' in value) || (value.kind !== undefined && value.kind !== 'supervisor')) return value;
  return { ...withNestedSupervisors(value), kind: 'supervisor' };
}

/** The same object with its supervisor-like children marked (the inline root itself takes no `kind`). */
function withNestedSupervisors(node: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(node.children)) return node;
  return { ...node, children: node.children.map(asSupervisor) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** An error thrown while the module was evaluated: name the file, keep the class (validation errors stay TypeError/RangeError). */
function evaluationError(file: string, cause: unknown): Error {
  const message = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof TypeError || cause instanceof RangeError) {
    // Most likely defineDriver()/supervisor() called in the config: its paths start at that call.
    const Ctor = cause instanceof TypeError ? TypeError : RangeError;
    return new Ctor(`${file}: ${message} (thrown while evaluating the config; paths starting with "options" are relative to a defineDriver() or supervisor() call in it)`, { cause });
  }
  return new Error(`${file}: cannot evaluate the config: ${message}`, { cause });
}
