// The manager's clock is the one every timer of the library runs on (loader included).
export { systemClock, type Clock } from '../util/clock.js';
