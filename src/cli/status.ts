import { parseArgs } from 'node:util';
import { connectService } from '../service/client.js';
import { toJsonText } from '../service/json-text.js';
import { defaultSocketPath } from '../service/socket-path.js';
import { renderTree } from '../service/tree-text.js';
import type { CommandOutput } from './pack.js';

/** `umdkit status`: the tree of a running service. */

/**
 * Usage text of `umdkit status`.
 *
 * @example
 * ```ts
 * process.stdout.write(STATUS_USAGE);
 * ```
 */
export const STATUS_USAGE = `usage: umdkit status [--socket <path>] [--json]

  Prints the tree of a running service (\`umdkit run\`), one node per line, indented: supervisors
  and drivers with state, restarts, queued and inFlight; instances with state, pid, generation,
  restarts and inFlight.
  --socket <path>   the service socket (default: the one \`umdkit run\` uses by default)
  --json            print the snapshot as JSON instead
`;

const STDIO: CommandOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * Runs `umdkit status` with `argv` (the words after `status`); returns the exit code: 0 printed,
 * 1 no service answered, 2 bad usage.
 *
 * @example
 * ```ts
 * process.exitCode = await statusCommand(['--socket', '/run/parser.sock']);
 * ```
 */
export async function statusCommand(argv: string[], io: CommandOutput = STDIO): Promise<number> {
  let values: { socket?: string | undefined; json?: boolean | undefined; help?: boolean | undefined };
  try {
    const parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { socket: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    values = parsed.values;
  } catch (err) {
    io.err(`umdkit status: ${(err as Error).message}\n${STATUS_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(STATUS_USAGE);
    return 0;
  }
  let client;
  try {
    client = await connectService(values.socket ?? defaultSocketPath());
  } catch (err) {
    io.err(`umdkit status: ${(err as Error).message} (is \`umdkit run\` running? --socket names another socket)\n`);
    return 1;
  }
  try {
    const tree = await client.status();
    io.out(values.json ? `${toJsonText(tree)}\n` : renderTree(tree));
    return 0;
  } catch (err) {
    io.err(`umdkit status: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await client.close();
  }
}
