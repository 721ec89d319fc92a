import { loadConfig, type LoadedConfig } from '../service/config.js';
import { EXIT, type CommandOutput } from './command-line.js';

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

/**
 * Loads a command's config with `load`; a bad one is reported on `io.err` as
 * `umdkit <command>: bad config: <why>` and gives the bad-config exit code instead.
 */
export async function configOrExit<T extends object>(command: string, load: () => Promise<T>, io: Pick<CommandOutput, 'err'>): Promise<T | number> {
  try {
    return await load();
  } catch (err) {
    io.err(`umdkit ${command}: bad config: ${(err as Error).message}\n`);
    return EXIT.CONFIG;
  }
}
