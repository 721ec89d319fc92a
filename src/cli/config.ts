import { loadConfig, type LoadedConfig } from '../service/config.js';

/**
 * The config loader every command that runs or draws a tree from a file shares (`run`, and the
 * live views). One stable function: `loadConfig(path)` resolves with validated `createManager`
 * options, or rejects with a message naming the file and the bad field from the config's root.
 * docs/SERVICE.md describes the format.
 */

/**
 * The config used when a command is given none.
 *
 * @example
 * ```ts
 * const options = await loadConfig(positionals[0] ?? DEFAULT_CONFIG_PATH);
 * ```
 */
export const DEFAULT_CONFIG_PATH = './umdkit.config.mjs';

export { loadConfig, type LoadedConfig };
