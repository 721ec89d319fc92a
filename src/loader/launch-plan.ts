import type { LoadedImage } from './extract.js';
import { IMAGE_PATH } from './sealed-copy.js';

/**
 * What will be executed for a handler, before it is: the sandbox module wraps it (prlimit,
 * setpriv, unshare, node flags) through a `launch` hook, a pure transform of this plan.
 *
 * @example
 * ```ts
 * const plan: LaunchPlan = { command: process.execPath, args: ['--preserve-symlinks-main', '/proc/self/fd/3'], env: { PATH: '/usr/bin' }, cwd: dir, argv0: 'parser' };
 * ```
 */
export interface LaunchPlan {
  /** Program to execute (looked up in `env.PATH` when it has no slash). */
  command: string;
  args: string[];
  /** The complete environment of the handler: nothing else is inherited. */
  env: Record<string, string>;
  /** Working directory: the image's private directory. */
  cwd: string;
  /** argv[0] the program sees: the driver name, as in the kernel. */
  argv0: string;
}

/**
 * A hook that rewrites a plan before it runs. Pure: it returns a new plan and starts nothing.
 *
 * @example
 * ```ts
 * const limitFiles: LaunchHook = (plan) => ({ ...plan, command: 'prlimit', args: ['--nofile=64', plan.command, ...plan.args] });
 * ```
 */
export type LaunchHook = (plan: LaunchPlan) => LaunchPlan;

/**
 * The only variables a handler inherits from its parent: enough to find programs and speak the locale.
 *
 * @example
 * ```ts
 * INHERITED_ENV.includes('PATH'); // true; 'HOME', 'NODE_OPTIONS', tokens...: never inherited
 * ```
 */
export const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ'] as const;

/**
 * The handler's environment: the allow-listed variables of `parentEnv`, then `extra` (which wins).
 * Secrets in the parent's environment (tokens, `NODE_OPTIONS`...) never reach a handler.
 *
 * @example
 * ```ts
 * scrubbedEnv({ LOG_LEVEL: 'debug' }); // { PATH: ..., LANG: ..., LOG_LEVEL: 'debug' }
 * ```
 */
export function scrubbedEnv(extra: Readonly<Record<string, string>> = {}, parentEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED_ENV) {
    const value = parentEnv[key];
    if (value !== undefined) env[key] = value;
  }
  return Object.assign(env, extra);
}

/**
 * Node flags that make node run the image from its descriptor: keep the path `/proc/self/fd/3` as
 * it is (resolving the link would name a file that does not exist), and, for an ES module image
 * (no `.mjs` extension to tell), load it as one where this Node has the flag; later Node versions
 * detect module syntax themselves.
 *
 * @example
 * ```ts
 * nodeImageFlags('cjs'); // ['--preserve-symlinks-main']
 * ```
 */
export function nodeImageFlags(format: 'esm' | 'cjs' | undefined, allowed: ReadonlySet<string> = process.allowedNodeEnvironmentFlags): string[] {
  const flags = ['--preserve-symlinks-main'];
  if (format !== 'cjs' && allowed.has('--experimental-default-type')) flags.push('--experimental-default-type=module');
  return flags;
}

/**
 * The plan that runs `loaded` from the sealed copy the spawn passes as fd 3 (`/proc/self/fd/3`,
 * never the extracted file's path): node images with this process's own Node binary, exec images
 * as themselves; then `launch`, when given, rewrites it.
 *
 * @example
 * ```ts
 * launchPlan(loaded, { args: ['--verbose'] });
 * // { command: process.execPath, args: ['--preserve-symlinks-main', '/proc/self/fd/3', '--verbose'], env: {...}, cwd: loaded.dir, argv0: 'parser' }
 * ```
 */
export function launchPlan(
  loaded: LoadedImage,
  options: { env?: Readonly<Record<string, string>>; args?: readonly string[]; launch?: LaunchHook } = {},
): LaunchPlan {
  const args = options.args ?? [];
  const plan: LaunchPlan = loaded.image.kind === 'node'
    ? { command: process.execPath, args: [...nodeImageFlags(loaded.image.format), IMAGE_PATH, ...args], env: scrubbedEnv(options.env), cwd: loaded.dir, argv0: loaded.name }
    : { command: IMAGE_PATH, args: [...args], env: scrubbedEnv(options.env), cwd: loaded.dir, argv0: loaded.name };
  return options.launch === undefined ? plan : options.launch(plan);
}
