import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { driverName } from '../loader/driver-name.js';
import { pack, type PackOptions } from '../loader/pack.js';
import { commandArgs, commandLine, commandLineTerms, EXIT, type CommandOutput, STDIO_OUTPUT } from './command-line.js';

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
  const { keyFile, options } = line.settings;
  try {
    const packed = await pack(keyFile === undefined ? options : { ...options, sign: await readSigningKey(keyFile) });
    const signed = packed.image.signature === undefined ? '' : ', signed (ed25519)';
    for (const warning of packed.warnings) io.err(`umdkit pack: warning: ${commandLineTerms(warning, TERMS)}\n`);
    io.out(`wrote ${packed.out}: driver "${packed.name}", ${packed.image.kind} image${packed.image.format === undefined ? '' : ` (${packed.image.format})`}, ${packed.bytes.length} bytes, sha256 ${packed.sha256}${signed}\n`);
    const from = packed.types?.from;
    io.out(`wrote ${packed.types?.out}: its types, ${from === undefined ? 'untyped (the handler default-exports no serve() handle and exports no Methods type)' : from === 'Methods' ? "methods from the handler's Methods type" : "methods from the handler's default export"}\n`);
    return EXIT.OK;
  } catch (err) {
    io.err(`umdkit pack: ${commandLineTerms((err as Error).message, TERMS)}\n`);
    return EXIT.FAILED;
  }
}

/** What the library's option paths are called on this command line. */
const TERMS = { 'options.entry': '<entry>' };

/**
 * The `--sign` key file as a private key; throws naming the file, what was expected and what it
 * holds instead (OpenSSL's own `DECODER routines::unsupported` says neither).
 */
async function readSigningKey(file: string): Promise<KeyObject> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read the signing key ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause });
  }
  const expected = 'expected an ed25519 private key in PEM form ("-----BEGIN PRIVATE KEY-----", as `openssl genpkey -algorithm ed25519` writes)';
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (cause) {
    const found = /-----BEGIN [A-Z ]*PUBLIC KEY-----/.test(text) ? 'it holds a public key'
      : /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text) ? 'it is encrypted with a passphrase'
      : /-----BEGIN /.test(text) ? `its PEM block ${JSON.stringify(/-----BEGIN ([^-]*)-----/.exec(text)?.[1] ?? '')} does not hold a private key this can read`
      : 'it holds no PEM block';
    throw new Error(`the signing key ${file} is not usable: ${expected}; ${found}`, { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the signing key ${file} is not usable: ${expected}; it holds an ${key.asymmetricKeyType ?? 'unknown'} private key`);
  return key;
}

function parseCommand(argv: string[]): { options: PackOptions; keyFile: string | undefined } | 'help' {
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
  const name = driverName('--name', values.name);
  if (values.out === undefined) throw new Error('--out is required');
  if (values.out.length === 0) throw new Error('--out must be a file path, got ""');
  if (values.sign !== undefined && values.sign.length === 0) throw new Error('--sign must be a key file, got ""');
  // The key file is read once parsing is done (parsing stays synchronous).
  const keyFile = values.sign;
  if (kind === 'node') {
    if (values.binary !== undefined) throw new Error('--binary goes with --kind exec');
    if (positionals.length !== 1) throw new Error(`expected one <entry>, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`);
    return { keyFile, options: { kind, name, out: values.out, entry: positionals[0]! } };
  }
  if (values.binary === undefined) throw new Error('--kind exec needs --binary <file>');
  if (positionals.length > 0) throw new Error(`--kind exec takes no <entry>, got ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  return { keyFile, options: { kind, name, out: values.out, binary: values.binary } };
}
