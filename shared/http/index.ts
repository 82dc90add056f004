/** The one HTTP binding of route contracts, and problem responses. */
export { httpTrigger } from './http-trigger.js';
export { problemResponse } from './problem.js';
