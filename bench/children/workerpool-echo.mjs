// workerpool's worker: one method, the payload straight back.
import workerpool from 'workerpool';

workerpool.worker({ echo: (payload) => payload });
