// The floor of a Node start: no imports, one precomputed frame (CBOR {t: "hello"}) to stdout, then
// wait for stdin to close.
process.stdout.write(Uint8Array.of(0, 0, 0, 9, 0xa1, 0x61, 0x74, 0x65, 0x68, 0x65, 0x6c, 0x6c, 0x6f));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
