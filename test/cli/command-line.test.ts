import { describe, expect, it } from 'vitest';
import { commandArgs, commandLine, commandLineTerms, EXIT, integerOption } from '../../src/cli/command-line.js';

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

  // Regression: a usage error printed the whole usage after the reason, burying the one line that mattered.
  it('prints one line on err for a bad command line — the reason and where the usage is — and exits 2', () => {
    const { io, out, err } = capture();
    const line = commandLine('x', 'usage: x\n', io, () => {
      throw new Error('--port must be an integer, got "a"');
    });
    expect(line).toEqual({ exitCode: 2 });
    expect(err).toEqual(['umdkit x: --port must be an integer, got "a" (see umdkit x --help)\n']);
    expect(out).toEqual([]);
  });

  it('shortens node\'s unknown-option message to one sentence', () => {
    const { io, err } = capture();
    commandLine('x', 'usage: x\n', io, () => commandArgs(['--bogus'], {}));
    expect(err).toEqual(["umdkit x: Unknown option '--bogus' (see umdkit x --help)\n"]);
  });
});

describe('commandLineTerms', () => {
  it('names options as they are typed: options.name is --name, options.requestTimeoutMs is --request-timeout-ms', () => {
    expect(commandLineTerms('options.name must be a name, got "a b"')).toBe('--name must be a name, got "a b"');
    expect(commandLineTerms('options.requestTimeoutMs must be a positive integer, got 0')).toBe('--request-timeout-ms must be a positive integer, got 0');
    expect(commandLineTerms('options.entry must be a file path, got ""', { 'options.entry': '<entry>' })).toBe('<entry> must be a file path, got ""');
    expect(commandLineTerms('nothing to rename')).toBe('nothing to rename');
  });
});

describe('integerOption', () => {
  it('gives the fallback when absent, the value when valid, and names the option and text otherwise', () => {
    expect(integerOption('--n', undefined, 7, 1)).toBe(7);
    expect(integerOption('--n', '12', 7, 1)).toBe(12);
    for (const bad of ['0', '-1', '1.5', 'x', '', '99999999999999999999']) {
      expect(() => integerOption('--n', bad, 7, 1)).toThrow(`--n must be an integer of at least 1, got ${JSON.stringify(bad)}`);
    }
  });
});

describe('EXIT', () => {
  it('is the one table every command uses', () => {
    expect(EXIT).toEqual({ OK: 0, FAILED: 1, USAGE: 2, GAVE_UP: 70, CONFIG: 78 });
  });
});
