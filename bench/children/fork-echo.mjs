// The fork-IPC child: every message straight back over the IPC channel (json or advanced
// serialization, as the parent chose).
process.on('message', (message) => process.send(message));
process.on('disconnect', () => process.exit(0));
process.send({ t: 'hello' });
