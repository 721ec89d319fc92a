import { connectService } from '../service/client.js';
import { toJsonText } from '../service/json-text.js';
import { defaultSocketPath } from '../service/socket-path.js';
import { renderTree } from '../service/tree-text.js';
import { commandArgs, commandLine, EXIT, type CommandOutput, STDIO_OUTPUT } from './command-line.js';

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

/**
 * Runs `umdkit status` with `argv` (the words after `status`); returns the exit code: 0 printed,
 * 1 no service answered, 2 bad usage.
 *
 * @example
 * ```ts
 * process.exitCode = await statusCommand(['--socket', '/run/parser.sock']);
 * ```
 */
export async function statusCommand(argv: string[], io: CommandOutput = STDIO_OUTPUT): Promise<number> {
  const line = commandLine('status', STATUS_USAGE, io, () => {
    const args = commandArgs(argv, { socket: { type: 'string' }, json: { type: 'boolean' } });
    if (args !== 'help' && args.positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
    return args === 'help' ? args : args.values;
  });
  if ('exitCode' in line) return line.exitCode;
  const values = line.settings;
  let client;
  try {
    client = await connectService(values.socket ?? defaultSocketPath());
  } catch (err) {
    io.err(`umdkit status: ${(err as Error).message} (is \`umdkit run\` running? --socket names another socket)\n`);
    return EXIT.FAILED;
  }
  try {
    const tree = await client.status();
    io.out(values.json ? `${toJsonText(tree)}\n` : renderTree(tree));
    return EXIT.OK;
  } catch (err) {
    io.err(`umdkit status: ${(err as Error).message}\n`);
    return EXIT.FAILED;
  } finally {
    await client.close();
  }
}
