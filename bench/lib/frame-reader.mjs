/**
 * The raw baseline's frame splitter (both of its sides): 4-byte big-endian length, then the body.
 * A frame inside one chunk is a view of it; a frame that spans chunks is joined once, when all of
 * it has arrived (joining on every chunk would copy a large frame over and over).
 *
 * @example
 * const reader = new FrameReader((body) => handle(decoder.decode(body)));
 * stream.on('data', (chunk) => reader.push(chunk));
 */
export class FrameReader {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.chunks = [];
    this.buffered = 0;
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 4) return;
      let head = this.chunks[0];
      if (head.length < 4) head = this.join();
      const length = head.readUInt32BE(0);
      if (this.buffered < 4 + length) return;
      if (head.length < 4 + length) head = this.join();
      const body = head.subarray(4, 4 + length);
      const rest = head.subarray(4 + length);
      this.buffered -= 4 + length;
      if (rest.length > 0) this.chunks[0] = rest;
      else this.chunks.shift();
      this.onFrame(body);
    }
  }

  join() {
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }
}
