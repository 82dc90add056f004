/** Heartbeats: the `heartbeats` table and whether a tenant's agent is online (docs/state.md, docs/api.md). */
export { HeartbeatStore, HEARTBEATS_TABLE, type HeartbeatRecord, type HeartbeatWrite } from './store.js';
export {
  HeartbeatMonitor,
  heartbeatMonitor,
  heartbeatStatus,
  requireOnline,
  summarize,
  HEARTBEAT_CACHE_MS,
  type AgentStatus,
  type AgentStatusState,
  type HeartbeatMonitorOptions,
  type HeartbeatQuery,
  type HeartbeatStatus,
  type WritebackStatus,
} from './monitor.js';
