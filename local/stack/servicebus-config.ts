/**
 * The Service Bus emulator's start-up configuration for `npm start` (the shape of Microsoft's
 * emulator Config.json): the shared replies queue exists before the replies function starts
 * listening, with the settings tenant enablement gives it in Azure.
 */
import { sharedRepliesQueueSettings } from '../../shared/tenants/queues.js';
import { SHARED_REPLIES_QUEUE } from '../../shared/wire/index.js';

export function serviceBusConfig(): object {
  const replies = sharedRepliesQueueSettings();
  return {
    UserConfig: {
      Namespaces: [
        {
          Name: 'sbemulatorns',
          Queues: [
            {
              Name: SHARED_REPLIES_QUEUE,
              Properties: {
                LockDuration: replies.lockDuration,
                MaxDeliveryCount: replies.maxDeliveryCount,
                DefaultMessageTimeToLive: replies.defaultMessageTimeToLive,
                DeadLetteringOnMessageExpiration: replies.deadLetteringOnMessageExpiration,
                RequiresSession: replies.requiresSession,
              },
            },
          ],
        },
      ],
    },
  };
}
