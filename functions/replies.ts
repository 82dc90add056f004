/**
 * The replies function: a Service Bus trigger on the shared `writeback-replies`, into which every
 * tenant's replies queue forwards. Thin: shared/replies verifies, records and decides; returning
 * completes the message (also a dropped one), throwing abandons it for redelivery.
 */
import { app, type InvocationContext } from '@azure/functions';
import { replyProcessor } from '../shared/replies/index.js';
import { SERVICE_BUS_CONNECTION } from '../shared/tenants/index.js';
import { SHARED_REPLIES_QUEUE } from '../shared/wire/index.js';

app.serviceBusQueue('replies', {
  connection: SERVICE_BUS_CONNECTION,
  queueName: SHARED_REPLIES_QUEUE,
  handler: async (message: unknown, context: InvocationContext) => {
    await replyProcessor().handle(message, context.triggerMetadata, context);
  },
});
