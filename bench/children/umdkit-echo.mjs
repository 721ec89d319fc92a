// The umdkit handler the bench packs (with the built package) at start: echo, plus the methods the
// crash and memory measurements need.
import { serve } from 'umdkit/handler';

serve({
  echo: (payload) => payload,
  // Dies at once, as a crashing parser would.
  crash: () => process.exit(3),
  // Never answers: holds a request in flight while others queue behind it.
  hold: () => new Promise(() => {}),
});
