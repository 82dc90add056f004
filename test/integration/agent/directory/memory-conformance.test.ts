/** The shared directory behaviour, held against the in-memory directory. */
import { describe } from 'node:test';
import { DEMO_POLICY, InMemoryDirectory } from '../../../../agent/directory/index.js';
import { directoryConformance, type ConformanceTarget } from './conformance.js';

describe('in-memory directory: conformance', () => {
  const lines: string[] = [];
  const directory = new InMemoryDirectory({
    domainSid: 'S-1-5-21-1000-2000-3000',
    logger: {
      info: (message, fields) => lines.push(JSON.stringify({ message, ...fields })),
      warn: (message, fields) => lines.push(JSON.stringify({ message, ...fields })),
    },
  });
  const target: ConformanceTarget = {
    driver: directory,
    policy: DEMO_POLICY,
    unusedSid: 'S-1-5-21-1000-2000-3000-999999',
    async createUser(spec) {
      const state = directory.addUser({
        userPrincipalName: `${spec.name}@corp.example.test`,
        password: spec.password,
        ...(spec.adminCount === undefined ? {} : { adminCount: spec.adminCount }),
        ...(spec.disabled === undefined ? {} : { disabled: spec.disabled }),
      });
      return { upn: state.userPrincipalName, sid: state.sid };
    },
    async setPolicy(policy) {
      directory.setPolicy(policy);
    },
    async logOn(user, password) {
      return directory.logOn({ kind: 'upn', value: user.upn }, password);
    },
    async mustChangeAtNextLogon(user) {
      return directory.userState({ kind: 'upn', value: user.upn })?.mustChangePassword ?? false;
    },
    logLines: () => lines,
  };
  directoryConformance(() => target);
});
