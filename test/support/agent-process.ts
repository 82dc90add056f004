/**
 * Test-only: the agent CLI (agent/run-cli.ts: configuration, signals, exit codes) in a process of
 * its own, with the directory of a test (`RemoteDirectory` to TEST_DIRECTORY_URL) and the timing
 * options of TEST_AGENT_OPTIONS (JSON: startAgent's deadlines and backoffs), so that a test can kill
 * it with SIGKILL in the middle of an apply. Start it with local/process/child.ts.
 */
import '../../shared/runtime/require-supported-node.js';
import type { AgentDependencies } from '../../agent/agent.js';
import { runCli } from '../../agent/run-cli.js';
import { RemoteDirectory } from './shared-directory.js';

const url = process.env['TEST_DIRECTORY_URL'];
const options = JSON.parse(process.env['TEST_AGENT_OPTIONS'] ?? '{}') as AgentDependencies;
void runCli({ ...options, ...(url ? { directory: new RemoteDirectory(url) } : {}) });
