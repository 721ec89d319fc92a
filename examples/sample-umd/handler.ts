// The Handler (the kernel's sample_handler.c): reads an offset, answers with a 128 KiB buffer that
// is all zeros but for a 1 at the offset. Bigger than a 64 KiB pipe buffer on purpose, so partial
// reads and writes are exercised on every answer. Packed into the Loader's embedded image.
import { serve } from 'umdkit/handler';

/** Size of the reply, as in the kernel sample: 128 KiB. */
const REPLY_BYTES = 128 * 1024;

serve((offset) => {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw Object.assign(new Error(`offset must be an unsigned integer, got ${JSON.stringify(offset)}`), { code: 'EINVAL' });
  }
  if (offset >= REPLY_BYTES) {
    throw Object.assign(new Error(`offset ${offset} is past the ${REPLY_BYTES}-byte reply`), { code: 'EINVAL' });
  }
  const data = new Uint8Array(REPLY_BYTES);
  data[offset] = 1;
  return data;
});
