/**
 * Service Bus's built-in data roles, by name and role definition id, with the data actions they grant,
 * and the actions the broker checks for each right (Send, Listen, Manage) that SAS rules also grant.
 */
import type { RoleDefinition } from '../../entra/role-assignments.js';
import type { AccessRight } from '../auth/sas.js';

const PREFIX = 'Microsoft.ServiceBus';

export const DataAction = {
  send: `${PREFIX}/namespaces/messages/send/action`,
  receive: `${PREFIX}/namespaces/messages/receive/action`,
  /**
   * Creating, changing and deleting entities through the data plane's management API (SAS: Manage).
   * Azure grants it to Data Owner (`Microsoft.ServiceBus/*`) alone; the emulator names it so.
   */
  manage: `${PREFIX}/namespaces/entities/manage/action`,
} as const;

export const ROLES: readonly RoleDefinition[] = [
  {
    name: 'Azure Service Bus Data Owner',
    id: '090c5cfd-751d-490a-894a-3ce6f1109419',
    dataActions: [`${PREFIX}/*`],
  },
  {
    name: 'Azure Service Bus Data Sender',
    id: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
    dataActions: [`${PREFIX}/*/send/action`],
  },
  {
    name: 'Azure Service Bus Data Receiver',
    id: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
    dataActions: [`${PREFIX}/*/receive/action`],
  },
];

export const RIGHT_ACTIONS: Readonly<Record<AccessRight, string>> = {
  Send: DataAction.send,
  Listen: DataAction.receive,
  Manage: DataAction.manage,
};
