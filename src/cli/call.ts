import { UmdError } from '../errors.js';
import { connectService, type ServiceRequestOptions } from '../service/client.js';
import { toJsonText } from '../service/json-text.js';
import { defaultSocketPath } from '../service/socket-path.js';
import { commandArgs, commandLine, EXIT, usageError, type CommandOutput, STDIO_OUTPUT } from './command-line.js';
import { readPayload } from './payload.js';

/** `umdkit call`: one request to a running service, the answer printed as JSON. */

/**
 * Usage text of `umdkit call`.
 *
 * @example
 * ```ts
 * process.stdout.write(CALL_USAGE);
 * ```
 */
export const CALL_USAGE = `usage: umdkit call <driver> <json|@file> [options]

  <driver>            the driver to ask
  <json|@file>        the payload: JSON text, or @file to read it from a file (@- for stdin);
                      {"$base64":"..."} stands for a byte string; an integer past 2^53 - 1 is
                      refused (JSON numbers would round it): send it as a string
  --method <m>        the method (the handler's serve({ <m>: ... }) key)
  --raw               send the argument's text, or the file's bytes, as one byte string
  --timeout <ms>      deadline of the request (default: the driver's requestTimeoutMs); the
                      service raises it to its floor or lowers it to its ceiling, and says so
  --idempotent        safe to retry if a handler crashes while working on it
  --socket <path>     the service socket (default: the one \`umdkit run\` uses by default)

The answer is printed as one line of JSON on stdout, byte strings as {"$base64":"..."}.
A failure prints "<CODE>: <message>" on stderr and exits 1 (also when no service answers);
a usage error exits 2.
`;

interface CallSettings {
  driver: string;
  payload: string;
  raw: boolean;
  socket: string | undefined;
  options: ServiceRequestOptions;
}

/**
 * Runs `umdkit call` with `argv` (the words after `call`); returns the exit code: 0 answered,
 * 1 the request failed (or no service), 2 bad usage.
 *
 * @example
 * ```ts
 * process.exitCode = await callCommand(['parser', '{"text":"1 + 2"}', '--method', 'parse']);
 * // {"value":3}
 * ```
 */
export async function callCommand(argv: string[], io: CommandOutput = STDIO_OUTPUT): Promise<number> {
  const line = commandLine('call', CALL_USAGE, io, () => parseCommand(argv));
  if ('exitCode' in line) return line.exitCode;
  const settings = line.settings;
  let payload: unknown;
  try {
    payload = await readPayload(settings.payload, settings.raw);
  } catch (err) {
    io.err(usageError('call', (err as Error).message));
    return EXIT.USAGE;
  }
  let client;
  try {
    client = await connectService(settings.socket ?? defaultSocketPath());
  } catch (err) {
    io.err(`umdkit call: ${(err as Error).message} (is \`umdkit run\` running? --socket names another socket)\n`);
    return EXIT.FAILED;
  }
  const asked = settings.options.timeoutMs;
  // The service bounds what clients may ask: say so when it applied another deadline than asked.
  const onDeadline = (applied: number) => {
    if (asked !== undefined && applied !== asked) io.err(`umdkit call: the service applied a deadline of ${applied} ms (asked ${asked} ms; outside its floor or ceiling)\n`);
  };
  try {
    const answer = await client.request(settings.driver, payload, { ...settings.options, onDeadline });
    io.out(`${toJsonText(answer)}\n`);
    return EXIT.OK;
  } catch (err) {
    const code = err instanceof UmdError ? err.code : ((err as { code?: unknown }).code ?? 'ERROR');
    io.err(`umdkit call: ${String(code)}: ${(err as Error).message}\n`);
    return EXIT.FAILED;
  } finally {
    await client.close();
  }
}

function parseCommand(argv: string[]): CallSettings | 'help' {
  const args = commandArgs(argv, {
    method: { type: 'string' },
    raw: { type: 'boolean' },
    timeout: { type: 'string' },
    idempotent: { type: 'boolean' },
    socket: { type: 'string' },
  });
  if (args === 'help') return args;
  const { values, positionals } = args;
  if (positionals.length !== 2) {
    throw new Error(`expected <driver> and <json|@file>, got ${positionals.length === 0 ? 'neither' : positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  }
  const options: ServiceRequestOptions = {};
  if (values.method !== undefined) options.method = values.method;
  if (values.idempotent) options.idempotent = true;
  if (values.timeout !== undefined) {
    const ms = Number(values.timeout);
    if (!/^\d+$/.test(values.timeout) || ms < 1 || ms > 2 ** 31 - 1) throw new Error(`--timeout must be a positive integer of ms, got ${JSON.stringify(values.timeout)}`);
    options.timeoutMs = ms;
  }
  if (values.socket !== undefined && values.socket.length === 0) throw new Error('--socket must be a path, got ""');
  return { driver: positionals[0]!, payload: positionals[1]!, raw: values.raw ?? false, socket: values.socket, options };
}
