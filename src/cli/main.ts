/**
 * The `umdkit` command line. Each command lives in its own module; this file only dispatches.
 */

const USAGE = `usage: umdkit <command> [options]

commands:
  pack <entry> --name <n> --out <file.mjs>   bundle a handler into a driver module
  demo                                       the sample UMD, live
  help                                       this text
`;

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['demo']);
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case 'pack':
      return (await import('./pack.js')).packCommand(rest);
    case 'demo':
      process.stdout.write('umdkit demo: not built yet (the sample UMD lands with the demo work); nothing to run.\n');
      void rest;
      return 0;
    default:
      process.stderr.write(`umdkit: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}
