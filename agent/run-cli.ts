/**
 * The agent as a service: exit codes for a service manager: 0 stopped cleanly, 1 a fatal fault
 * (could not start, or failed while stopping), 2 bad configuration (the message names the field).
 * A second signal while stopping exits at once with 1.
 *
 * Its own signal handling: local/process is for the development stack only. When a supervisor
 * started it with an IPC channel (npm start, tests), the channel closing means the supervisor is
 * gone, and the agent stops as on SIGTERM.
 */
import { parseArgs } from 'node:util';
import { ConfigurationError } from '../shared/errors/index.js';
import { startAgent, type AgentDependencies, type RunningAgent } from './agent.js';
import { loadAgentConfig, type AgentConfig } from './config.js';
import { describeError, jsonLogger } from './log.js';

const EXIT_OK = 0;
const EXIT_FATAL = 1;
const EXIT_CONFIG = 2;

function fail(code: number, message: string, fields: Record<string, unknown> = {}): never {
  jsonLogger({}).error(message, { exitCode: code, ...fields });
  process.exit(code);
}

/**
 * Runs the agent as a service: configuration from --config or WRITEBACK_AGENT_CONFIG, signals,
 * exit codes. `deps` are startAgent's (tests run this with a directory of their own).
 */
export async function runCli(deps: AgentDependencies = {}): Promise<void> {
  process.on('unhandledRejection', (error) => {
    fail(EXIT_FATAL, 'unhandled rejection', { event: 'fatal', error: describeError(error) });
  });
  let configPath: string | undefined;
  try {
    const { values } = parseArgs({ options: { config: { type: 'string' } }, strict: true });
    configPath = values.config ?? process.env['WRITEBACK_AGENT_CONFIG'];
  } catch (error) {
    fail(EXIT_CONFIG, `bad arguments: ${(error as Error).message}; usage: agent --config <file>`, {
      event: 'badConfiguration',
    });
  }
  if (!configPath) {
    fail(EXIT_CONFIG, 'no configuration: pass --config <file> or set WRITEBACK_AGENT_CONFIG', {
      event: 'badConfiguration',
      setting: '--config',
    });
  }

  let config: AgentConfig;
  try {
    config = loadAgentConfig(configPath);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      fail(EXIT_CONFIG, error.message, { event: 'badConfiguration', setting: error.setting });
    }
    fail(EXIT_FATAL, 'the configuration could not be loaded', {
      event: 'fatal',
      error: describeError(error),
    });
  }

  let agent: RunningAgent | undefined;
  let stopRequested = false;
  const stop = (reason: string): void => {
    if (stopRequested) process.exit(EXIT_FATAL);
    stopRequested = true;
    if (!agent) return; // still starting: stops once started
    agent.stop().then(
      () => {
        if (process.connected) process.disconnect();
        process.exit(EXIT_OK);
      },
      (error: unknown) =>
        fail(EXIT_FATAL, `error while stopping on ${reason}`, {
          event: 'fatal',
          error: describeError(error),
        }),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (process.send) process.on('disconnect', () => stop('supervisor gone'));

  try {
    agent = await startAgent(config, deps);
  } catch (error) {
    fail(EXIT_FATAL, 'the agent could not start', { event: 'fatal', error: describeError(error) });
  }
  if (stopRequested) {
    stopRequested = false;
    stop('a signal during start-up');
  }
}
