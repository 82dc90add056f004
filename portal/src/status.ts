/** The tenant's writeback status as both pages show it (GET …/writeback/status). */
import type { Policy } from './messages.js';

export interface AgentStatus {
  agentId: string;
  version: string;
  lastHeartbeatAt: string;
  state: 'online' | 'offline' | 'stale';
}

export interface WritebackStatus {
  state: 'online' | 'offline' | 'disabled';
  lastHeartbeatAt: string | null;
  agents: AgentStatus[];
  policy?: Policy;
  keys?: string;
  agentCredentials?: string;
}

/** "12 seconds ago", "3 days ago". */
export function ago(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
  const [value, unit] =
    seconds < 60
      ? [seconds, 'second']
      : seconds < 3600
        ? [Math.round(seconds / 60), 'minute']
        : seconds < 86_400
          ? [Math.round(seconds / 3600), 'hour']
          : [Math.round(seconds / 86_400), 'day'];
  return `${value} ${unit}${value === 1 ? '' : 's'} ago`;
}

/** One sentence a user reads before typing anything. */
export function statusSentence(status: WritebackStatus, who: 'self' | 'admin'): string {
  switch (status.state) {
    case 'online':
      return who === 'self'
        ? 'Password writeback is online: changes reach your on-premises account straight away.'
        : `Password writeback is online (last heartbeat ${ago(status.lastHeartbeatAt)}).`;
    case 'offline':
      return who === 'self'
        ? 'Password writeback is offline: the on-premises directory cannot be reached right now, so passwords ' +
            'cannot be reset, changed or unlocked here. This page checks again every 15 seconds; if it stays ' +
            'offline, contact your help desk.'
        : `Password writeback is offline: no agent has sent a heartbeat recently (last ${ago(status.lastHeartbeatAt)}).`;
    case 'disabled':
      return who === 'self'
        ? 'Password self-service is not turned on for your organisation. Contact your help desk.'
        : 'Password writeback is disabled for this tenant.';
  }
}
