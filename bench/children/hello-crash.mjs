// A bare Node process that says hello (the same precomputed frame as hello.mjs), then dies with
// exit code 3 at the first byte on stdin: the framework-free twin of a handler crashing.
process.stdout.write(Uint8Array.of(0, 0, 0, 9, 0xa1, 0x61, 0x74, 0x65, 0x68, 0x65, 0x6c, 0x6c, 0x6f));
process.stdin.once('data', () => process.exit(3));
