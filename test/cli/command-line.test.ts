import { describe, expect, it } from 'vitest';
import { commandArgs, commandLine } from '../../src/cli/command-line.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

describe('commandArgs', () => {
  it('parses the options, keeps positionals, and answers help for -h and --help', () => {
    expect(commandArgs(['a', '--port', '80', 'b'], { port: { type: 'string' } })).toEqual({ values: { port: '80' }, positionals: ['a', 'b'] });
    expect(commandArgs(['-h'], { port: { type: 'string' } })).toBe('help');
    expect(commandArgs(['--port', '1', '--help'], { port: { type: 'string' } })).toBe('help');
  });

  it('refuses an unknown option and an option without its value', () => {
    expect(() => commandArgs(['--nope'], { port: { type: 'string' } })).toThrow(/Unknown option '--nope'/);
    expect(() => commandArgs(['--port'], { port: { type: 'string' } })).toThrow(/--port/);
  });
});

describe('commandLine', () => {
  it('returns the settings when parsing succeeds, writing nothing', () => {
    const { io, out, err } = capture();
    expect(commandLine('x', 'usage: x\n', io, () => ({ n: 1 }))).toEqual({ settings: { n: 1 } });
    expect([out, err]).toEqual([[], []]);
  });

  it('prints the usage on out and exits 0 for help', () => {
    const { io, out, err } = capture();
    expect(commandLine('x', 'usage: x\n', io, () => 'help' as const)).toEqual({ exitCode: 0 });
    expect(out).toEqual(['usage: x\n']);
    expect(err).toEqual([]);
  });

  it('prints the reason and the usage on err and exits 2 for a bad command line', () => {
    const { io, out, err } = capture();
    const line = commandLine('x', 'usage: x\n', io, () => {
      throw new Error('--port must be an integer, got "a"');
    });
    expect(line).toEqual({ exitCode: 2 });
    expect(err).toEqual(['umdkit x: --port must be an integer, got "a"\nusage: x\n']);
    expect(out).toEqual([]);
  });
});
