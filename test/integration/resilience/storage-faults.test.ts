/** Azurite (Table storage) frozen and stopped, shorter and longer than the budgets, under a trickle of resets. */
import { after, before, test } from 'node:test';
import { runFaultScenario, startFaultStack, type FaultStack } from './support.js';

let stack: FaultStack;
before(async () => {
  stack = await startFaultStack();
});
after(() => stack?.stop());

for (const fault of ['freeze', 'stop'] as const) {
  for (const faultMs of [2_000, 10_000]) {
    test(`storage ${fault} for ${faultMs / 1000} s: answers on time, nothing lost or applied twice, recovers`, async (t) => {
      const report = await runFaultScenario(stack, 'storage', fault, faultMs);
      t.diagnostic(JSON.stringify(report));
    });
  }
}
