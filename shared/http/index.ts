/** The one HTTP binding of route contracts, and problem responses. */
export { httpTrigger } from './endpoint.js';
export { problemResponse } from './problem.js';
