import { readFile } from 'node:fs/promises';
import { pack, type PackOptions } from '../loader/pack.js';
import { commandArgs, commandLine, type CommandOutput, STDIO_OUTPUT } from './command-line.js';

/** `umdkit pack`: bundle a handler (or wrap an executable) into a driver module. */

/**
 * Usage text of `umdkit pack`, printed with `--help` and after a usage error.
 *
 * @example
 * ```ts
 * process.stdout.write(PACK_USAGE);
 * ```
 */
export const PACK_USAGE = `usage: umdkit pack <entry> --name <name> --out <file.mjs>
       umdkit pack --kind exec --binary <file> --name <name> --out <file.mjs>

  <entry>            handler entry (TypeScript or JavaScript) that imports serve from 'umdkit/handler'
  --name <name>      driver name: 1-64 letters, digits, '.', '_' or '-'
  --out <file.mjs>   where to write the driver module (it imports nothing; import it from anywhere)
                     and beside it <file.d.mts>, its types: the handler's methods, read by type
                     from <entry> when it default-exports what serve() returns
  --kind node|exec   node (default): bundle <entry>; exec: embed an existing executable
  --binary <file>    the executable to embed (with --kind exec)
  --sign <key.pem>   sign the image with this ed25519 private key (PEM); drivers that require
                     a signature (sandbox.publicKeys) refuse images their keys did not sign
`;

/**
 * Where the command writes; tests pass their own.
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * await packCommand(argv, { out: (t) => lines.push(t), err: (t) => lines.push(t) });
 * ```
 */
/**
 * Runs `umdkit pack` with `argv` (the words after `pack`); returns the exit code: 0 written,
 * 2 bad usage, 1 the pack failed.
 *
 * @example
 * ```ts
 * process.exitCode = await packCommand(['src/parser.ts', '--name', 'parser', '--out', 'parser.driver.mjs']);
 * // wrote parser.driver.mjs: driver "parser", node image (cjs), 104233 bytes, sha256 9f86d0...
 * // wrote parser.driver.d.mts: its types, methods from the handler's default export
 * ```
 */
export async function packCommand(argv: string[], io: CommandOutput = STDIO_OUTPUT): Promise<number> {
  const line = commandLine('pack', PACK_USAGE, io, () => parseCommand(argv));
  if ('exitCode' in line) return line.exitCode;
  let parsed = line.settings;
  try {
    if (parsed.sign !== undefined) {
      const keyFile = parsed.sign as string;
      try {
        parsed = { ...parsed, sign: await readFile(keyFile, 'utf8') };
      } catch (cause) {
        throw new Error(`cannot read the signing key ${keyFile}: ${(cause as Error).message}`, { cause });
      }
    }
    const packed = await pack(parsed);
    const signed = packed.image.signature === undefined ? '' : ', signed (ed25519)';
    io.out(`wrote ${packed.out}: driver "${packed.name}", ${packed.image.kind} image${packed.image.format === undefined ? '' : ` (${packed.image.format})`}, ${packed.bytes.length} bytes, sha256 ${packed.sha256}${signed}\n`);
    const from = packed.types?.from;
    io.out(`wrote ${packed.types?.out}: its types, ${from === undefined ? 'untyped (the handler default-exports no serve() handle and exports no Methods type)' : from === 'Methods' ? "methods from the handler's Methods type" : "methods from the handler's default export"}\n`);
    return 0;
  } catch (err) {
    const usage = err instanceof TypeError || err instanceof RangeError ? `\n${PACK_USAGE}` : '\n';
    io.err(`umdkit pack: ${(err as Error).message}${usage}`);
    return 1;
  }
}

function parseCommand(argv: string[]): PackOptions | 'help' {
  const args = commandArgs(argv, {
    name: { type: 'string' },
    out: { type: 'string' },
    kind: { type: 'string' },
    binary: { type: 'string' },
    sign: { type: 'string' },
  });
  if (args === 'help') return args;
  const { values, positionals } = args;
  const kind = values.kind ?? 'node';
  if (kind !== 'node' && kind !== 'exec') throw new Error(`--kind must be node or exec, got ${JSON.stringify(kind)}`);
  if (values.name === undefined) throw new Error('--name is required');
  if (values.out === undefined) throw new Error('--out is required');
  // The path for now; packCommand reads the key (parsing stays synchronous).
  const sign = values.sign === undefined ? {} : { sign: values.sign };
  if (kind === 'node') {
    if (values.binary !== undefined) throw new Error('--binary goes with --kind exec');
    if (positionals.length !== 1) throw new Error(`expected one <entry>, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`);
    return { kind, name: values.name, out: values.out, entry: positionals[0]!, ...sign };
  }
  if (values.binary === undefined) throw new Error('--kind exec needs --binary <file>');
  if (positionals.length > 0) throw new Error(`--kind exec takes no <entry>, got ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  return { kind, name: values.name, out: values.out, binary: values.binary, ...sign };
}
