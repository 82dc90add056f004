/** The Service Bus emulator frozen and stopped, shorter and longer than the budgets, under a trickle of resets. */
import { faultSuite } from './support.js';

faultSuite('serviceBus');
