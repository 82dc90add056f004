/**
 * The emulator's own admin endpoint (not part of Key Vault's API): role assignments at run time, and
 * the request counters the benchmarks read.
 *
 *   GET    /.emulator/role-assignments          → { value: RoleAssignment[] }
 *   PUT    /.emulator/role-assignments/{id}     { principalId, role, scope? } → RoleAssignment
 *   DELETE /.emulator/role-assignments/{id}     → 204 (404 if there is none)
 *   GET    /.emulator/stats                     → requests by caller, operation and status (request-stats.ts)
 *
 * Protection: the caller needs a valid token for the vault (same issuer and audience as the keys API)
 * whose `oid` is one of the configured administrators, the counterpart of the Azure identity allowed
 * to manage a vault's role assignments. With no administrators configured, the endpoint refuses all.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidAssignmentError, type VaultRoleAssignments } from '../rbac/assignments.js';
import type { Authenticator } from './auth.js';
import { badParameter, KeyVaultError, methodNotAllowed, notFound } from './errors.js';
import { readJsonBody } from './io.js';
import type { RequestStats } from './request-stats.js';

export const ADMIN_PREFIX = '/.emulator/';
const ASSIGNMENTS = /^\/\.emulator\/role-assignments(?:\/([A-Za-z0-9-]{1,64}))?\/?$/;
const STATS = /^\/\.emulator\/stats\/?$/;

export interface AdminContext {
  authenticator: Authenticator;
  roleAssignments: VaultRoleAssignments;
  administrators: ReadonlySet<string>;
  stats: RequestStats;
}

export async function handleAdminRequest(
  context: AdminContext,
  request: IncomingMessage,
  path: string,
): Promise<{ status: number; body?: unknown }> {
  const caller = await context.authenticator.authenticate(request.headers.authorization);
  if (!context.administrators.has(caller.oid.toLowerCase())) {
    throw new KeyVaultError(
      403,
      'Forbidden',
      context.administrators.size === 0
        ? 'The emulator has no administrators configured: its role assignments can only be changed in its config file.'
        : `Caller oid=${caller.oid} is not an administrator of this emulator.`,
    );
  }
  if (STATS.test(path)) {
    if ((request.method ?? 'GET') !== 'GET') throw methodNotAllowed(['GET']);
    return { status: 200, body: context.stats.snapshot() };
  }
  const match = ASSIGNMENTS.exec(path);
  if (!match) throw notFound();
  const id = match[1];
  const method = request.method ?? 'GET';
  if (id === undefined) {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    return { status: 200, body: { value: context.roleAssignments.list() } };
  }
  if (method === 'DELETE') {
    if (!context.roleAssignments.remove(id)) throw notFound();
    return { status: 204 };
  }
  if (method !== 'PUT') throw methodNotAllowed(['PUT', 'DELETE']);
  const body = (await readJsonBody(request)) as
    { principalId?: unknown; role?: unknown; scope?: unknown } | undefined;
  if (typeof body?.principalId !== 'string' || typeof body.role !== 'string') {
    throw badParameter(
      'The body must be { "principalId": string, "role": string, "scope"?: "/" | "/keys/{name}" }.',
    );
  }
  if (body.scope !== undefined && typeof body.scope !== 'string')
    throw badParameter('Property scope must be a string.');
  try {
    const assignment = context.roleAssignments.assign({
      id,
      principalId: body.principalId,
      role: body.role,
      ...(body.scope !== undefined ? { scope: body.scope } : {}),
    });
    return { status: 200, body: assignment };
  } catch (error) {
    if (error instanceof InvalidAssignmentError) throw badParameter(error.message);
    throw error;
  }
}
