// The unframed pipe's child: stdin straight to stdout, no parsing at all (the ceiling for bytes
// through a Node-to-Node pipe pair).
process.stdin.pipe(process.stdout);
process.stdin.on('end', () => process.exit(0));
