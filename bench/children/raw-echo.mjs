// The raw baseline's child: no framework. Reads 4-byte big-endian length-prefixed cbor-x frames on
// stdin and writes each decoded message straight back, re-encoded, one write per frame — what a
// competent hand-written pipe looks like. It announces itself with one frame so a start can be timed.
import { Decoder, Encoder } from 'cbor-x';
import { FrameReader } from '../lib/frame-reader.mjs';

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

function writeFrame(message) {
  const body = encoder.encode(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  process.stdout.write(frame);
}

const reader = new FrameReader((body) => writeFrame(decoder.decode(body)));
process.stdin.on('data', (chunk) => reader.push(chunk));
process.stdin.on('end', () => process.exit(0));
writeFrame({ t: 'hello', pid: process.pid });
