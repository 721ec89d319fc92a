import { createManager } from '../manager/manager.js';
import { builtinGraph, MACHINES, type MachineGraph, type MachineName } from '../viz/machine-graph.js';
import { machineToMermaid, treeToMermaid } from '../viz/mermaid.js';
import { machineToDot, treeToDot } from '../viz/dot.js';
import { machineToSvg } from '../viz/svg.js';
import { configOrExit, loadConfig } from './config.js';
import { commandArgs, commandLine, EXIT, type CommandOutput, STDIO_OUTPUT } from './command-line.js';

/** `umdkit viz`: the lifecycle machines, drawn from their definitions, or a running tree. */

/**
 * Usage text of `umdkit viz`.
 *
 * @example
 * ```ts
 * process.stdout.write(VIZ_USAGE);
 * ```
 */
export const VIZ_USAGE = `usage: umdkit viz [--format mermaid|dot|json|svg] [--machine instance|supervisor]
       umdkit viz --live <config> [--format mermaid|dot|json]

  Draws the instance lifecycle machine and the supervisor machine, generated from the xstate
  definitions themselves; with --live, starts the tree of <config>, draws it running, stops it.

  --format <f>        mermaid (default), dot (Graphviz), json, or svg (one machine, laid out here)
  --machine <name>    only this machine: instance or supervisor. Default: both; in Mermaid, as
                      Markdown with one fenced mermaid block per machine (a Mermaid block holds one
                      diagram); with --machine, the bare diagram, ready to paste
  --live <config>     a config module, as for umdkit run (default export: createManager options)
`;

const FORMATS = ['mermaid', 'dot', 'json', 'svg'] as const;
type Format = (typeof FORMATS)[number];

/**
 * Runs `umdkit viz` with `argv` (the words after `viz`); returns the exit code: 0 drawn, 1 the
 * live tree could not be started, 2 bad usage, 78 the --live config does not load.
 *
 * @example
 * ```ts
 * process.exitCode = await vizCommand(['--format', 'dot', '--machine', 'instance']);
 * ```
 */
export async function vizCommand(argv: string[], io: CommandOutput = STDIO_OUTPUT): Promise<number> {
  const line = commandLine('viz', VIZ_USAGE, io, () => parse(argv));
  if ('exitCode' in line) return line.exitCode;
  const parsed = line.settings;
  const { format, machine, live } = parsed;
  if (live === undefined) {
    io.out(drawMachines(format, machine === undefined ? (Object.keys(MACHINES) as MachineName[]) : [machine]));
    return EXIT.OK;
  }
  const options = await configOrExit('viz', () => loadConfig(live), io);
  if (typeof options === 'number') return options;
  let manager;
  try {
    manager = await createManager(options);
  } catch (err) {
    io.err(`umdkit viz: cannot start: ${(err as Error).message}\n`);
    return EXIT.FAILED;
  }
  try {
    const snapshot = manager.snapshot();
    io.out(format === 'json' ? `${JSON.stringify(snapshot, null, 2)}\n` : format === 'dot' ? treeToDot(snapshot) : treeToMermaid(snapshot));
  } finally {
    await manager.stop({ drainMs: 0 });
  }
  return EXIT.OK;
}

function drawMachines(format: Format, names: MachineName[]): string {
  const graphs = names.map((name) => [name, builtinGraph(name)] as [MachineName, MachineGraph]);
  switch (format) {
    case 'json':
      return `${JSON.stringify(Object.fromEntries(graphs), null, 2)}\n`;
    case 'svg':
      return `${machineToSvg(graphs[0]![1])}\n`;
    case 'dot':
      return graphs.map(([, graph]) => machineToDot(graph)).join('\n');
    case 'mermaid':
      // One machine: the bare diagram, to paste into any Mermaid editor. Both: two diagrams cannot
      // share one Mermaid block, so each gets its own fenced block of Markdown (as GitHub renders it).
      if (graphs.length === 1) return machineToMermaid(graphs[0]![1]);
      return graphs.map(([name, graph]) => `### the ${name} machine\n\n\`\`\`mermaid\n${machineToMermaid(graph)}\`\`\`\n`).join('\n');
  }
}

function parse(argv: string[]) {
  const args = commandArgs(argv, {
    format: { type: 'string' },
    machine: { type: 'string' },
    live: { type: 'string' },
  });
  if (args === 'help') return args;
  const { values, positionals } = args;
  if (positionals.length > 0) throw new Error(`unexpected ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  const format = (values.format ?? 'mermaid') as Format;
  if (!FORMATS.includes(format)) throw new Error(`--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(values.format)}`);
  const machine = values.machine as MachineName | undefined;
  if (machine !== undefined && !(machine in MACHINES)) throw new Error(`--machine must be one of ${Object.keys(MACHINES).join(', ')}, got ${JSON.stringify(machine)}`);
  if (values.live !== undefined && machine !== undefined) throw new Error('--live draws the running tree; --machine draws a machine: give one of them');
  if (values.live !== undefined && format === 'svg') throw new Error('--format svg draws machines only; use mermaid, dot or json with --live');
  if (values.live === undefined && format === 'svg' && machine === undefined) throw new Error('--format svg draws one machine: add --machine instance or --machine supervisor');
  return { format, machine, live: values.live };
}
