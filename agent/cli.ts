/**
 * `npm run agent -- --config <file>` (or WRITEBACK_AGENT_CONFIG=<file>): runs the agent until
 * SIGTERM or SIGINT. Exit codes, signals and the supervisor's channel: run-cli.ts.
 */
import '../shared/runtime/require-supported-node.js';
import { runCli } from './run-cli.js';

void runCli();
