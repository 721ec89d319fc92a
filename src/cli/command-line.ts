import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * What every subcommand does with its words: parse them strictly (unknown options are errors),
 * with `-h`/`--help`, and turn a help request or a bad command line into the exit code.
 */

/** Where a command writes: its output, and its errors. */
export interface CommandOutput {
  out: (text: string) => void;
  err: (text: string) => void;
}

/**
 * The process's own stdout and stderr, the default output of every command.
 *
 * @example
 * ```ts
 * export async function fooCommand(argv: string[], io: CommandOutput = STDIO_OUTPUT) {}
 * ```
 */
export const STDIO_OUTPUT: CommandOutput = Object.freeze({
  out: (text: string) => void process.stdout.write(text),
  err: (text: string) => void process.stderr.write(text),
});

/** A command's options (besides `--help`, which every command has). */
type Options = NonNullable<ParseArgsConfig['options']>;

/** The value parsed for one option: text or a flag, a list of them when the option may repeat. */
type OptionValue<T> = T extends { type: 'string' } ? (T extends { multiple: true } ? string[] : string) : T extends { multiple: true } ? boolean[] : boolean;

/**
 * What {@link commandArgs} gives for `options`: each option's value when it was given, and the
 * positionals in order.
 *
 * @example
 * ```ts
 * const args: CommandArgs<{ port: { type: 'string' } }> = { values: { port: '80' }, positionals: [] };
 * ```
 */
export interface CommandArgs<O extends Options> {
  values: { [K in keyof O]?: OptionValue<O[K]> };
  positionals: string[];
}

/**
 * `argv` parsed strictly against `options` plus `-h`/`--help`, positionals allowed; `'help'` when
 * help was asked for. Throws (TypeError) for an unknown option or a missing value.
 *
 * @example
 * ```ts
 * const args = commandArgs(argv, { port: { type: 'string' } });
 * if (args === 'help') return 'help';
 * const { values, positionals } = args; // values.port: string | undefined
 * ```
 */
export function commandArgs<const O extends Options>(argv: string[], options: O): CommandArgs<O> | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } },
    });
  } catch (err) {
    // Node's own sentence, without its advice on positionals that start with '-': one short line.
    throw new TypeError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), { cause: err });
  }
  const { values, positionals } = parsed;
  if ((values as { help?: boolean }).help === true) return 'help' as const;
  return { values: values as CommandArgs<O>['values'], positionals };
}

/**
 * The exit codes of every command, one table (sysexits.h where one fits): what a shell, systemd or
 * Kubernetes sees. `run` adds 128 + the signal number when a second signal forced the stop.
 *
 * @example
 * ```ts
 * if (code === EXIT.CONFIG) console.error('fix the config and start again');
 * ```
 */
export const EXIT = Object.freeze({
  /** Done: the command did what it was asked, or was stopped by the user. */
  OK: 0,
  /** It ran and failed: a request failed, a pack did not bundle, an invariant broke, the tree did not start. */
  FAILED: 1,
  /** Bad command line: an unknown option, a missing or malformed value. */
  USAGE: 2,
  /** The root supervisor gave up (commands that run a tree). */
  GAVE_UP: 70,
  /** A file the command loads is wrong: a config module, a driver module. */
  CONFIG: 78,
});

/**
 * The one line a usage error prints: the reason, and where the whole usage is.
 *
 * @example
 * ```ts
 * io.err(usageError('call', 'the payload must be JSON (or pass --raw): ...'));
 * // umdkit call: the payload must be JSON (or pass --raw): ... (see umdkit call --help)
 * ```
 */
export function usageError(command: string, reason: string): string {
  return `umdkit ${command}: ${reason} (see umdkit ${command} --help)\n`;
}

/**
 * A library message in command-line terms: `options.requestTimeoutMs` becomes `--request-timeout-ms`,
 * and each of `names` (an option path to what the user typed, e.g. `{ 'options.entry': '<entry>' }`)
 * is replaced first.
 *
 * @example
 * ```ts
 * commandLineTerms('options.name must be a name of 1-64 letters, got "a b"'); // '--name must be ...'
 * ```
 */
export function commandLineTerms(message: string, names: Record<string, string> = {}): string {
  let text = message;
  for (const [path, flag] of Object.entries(names)) text = text.split(path).join(flag);
  return text.replace(/\boptions\.([A-Za-z][A-Za-z0-9]*)\b/g, (_, key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
}

/**
 * The integer value of option `flag`, at least `min` (and a safe integer): `fallback` when it was
 * not given. Throws naming the option and the text otherwise.
 *
 * @example
 * ```ts
 * const requests = integerOption('--requests', values.requests, 1000, 1);
 * ```
 */
export function integerOption(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new Error(`${flag} must be an integer of at least ${min}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * Runs a command's `parse` and settles what needs no command: help (printed on `out`, exit 0)
 * or a bad command line (one line on `err`: the reason and where the usage is; exit 2).
 * Otherwise the settings.
 *
 * @example
 * ```ts
 * const line = commandLine('top', TOP_USAGE, io, () => parse(argv));
 * if ('exitCode' in line) return line.exitCode;
 * const { interval } = line.settings;
 * ```
 */
export function commandLine<T>(command: string, usage: string, io: CommandOutput, parse: () => T | 'help'): { settings: T } | { exitCode: number } {
  let parsed: T | 'help';
  try {
    parsed = parse();
  } catch (err) {
    io.err(usageError(command, (err as Error).message));
    return { exitCode: EXIT.USAGE };
  }
  if (parsed === 'help') {
    io.out(usage);
    return { exitCode: EXIT.OK };
  }
  return { settings: parsed };
}
