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
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } },
  });
  if ((values as { help?: boolean }).help === true) return 'help' as const;
  return { values: values as CommandArgs<O>['values'], positionals };
}

/**
 * Runs a command's `parse` and settles what needs no command: help (printed on `out`, exit 0)
 * or a bad command line (the reason and the usage on `err`, exit 2). Otherwise the settings.
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
    io.err(`umdkit ${command}: ${(err as Error).message}\n${usage}`);
    return { exitCode: 2 };
  }
  if (parsed === 'help') {
    io.out(usage);
    return { exitCode: 0 };
  }
  return { settings: parsed };
}
