/** The one HTTP binding of route contracts, and problem responses. */
export { httpTrigger } from './http-trigger.js';
export { NO_STORE, problemResponse } from './problem.js';
