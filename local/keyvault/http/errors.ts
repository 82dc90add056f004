/**
 * Key Vault's error responses: `{"error":{"code","message","innererror"?}}` with the status Key Vault
 * uses, so that callers branch on the same codes locally as in Azure.
 */

export class KeyVaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'KeyVaultError';
  }

  body(): { error: { code: string; message: string; innererror?: { code: string } } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.innerCode ? { innererror: { code: this.innerCode } } : {}),
      },
    };
  }
}

const RECOVERY_HINT =
  'If you recently deleted this key you may be able to recover it using the correct recovery command.';

export function keyNotFound(name: string, version?: string): KeyVaultError {
  const id = version ? `${name}/${version}` : name;
  return new KeyVaultError(
    404,
    'KeyNotFound',
    `A key with (name/id) ${id} was not found in this key vault. ${RECOVERY_HINT}`,
  );
}

export function deletedKeyNotFound(name: string): KeyVaultError {
  return new KeyVaultError(404, 'KeyNotFound', `Deleted Key not found: ${name}`);
}

export function badParameter(message: string): KeyVaultError {
  return new KeyVaultError(400, 'BadParameter', message);
}

export function keyInDeletedState(name: string): KeyVaultError {
  return new KeyVaultError(
    409,
    'Conflict',
    `Key ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.`,
  );
}

/** A restore into a name in use (Key Vault: "the key name is not available in the target vault"). */
export function keyNameTaken(name: string, deleted: boolean): KeyVaultError {
  return new KeyVaultError(
    409,
    'Conflict',
    deleted
      ? `Key ${name} is in a deleted but recoverable state, so a backup cannot be restored under its name; recover or purge it first.`
      : `Key ${name} already exists, so a backup cannot be restored under its name; a backup restores only into a free name.`,
  );
}

export function keyNotDeleted(name: string): KeyVaultError {
  return new KeyVaultError(409, 'Conflict', `Key ${name} is not in a deleted state.`);
}

export function keyDisabled(operation: string): KeyVaultError {
  return new KeyVaultError(
    403,
    'Forbidden',
    `Operation ${operation} is not allowed on a disabled key.`,
    'KeyDisabled',
  );
}

export function keyExpired(operation: string): KeyVaultError {
  return new KeyVaultError(
    403,
    'Forbidden',
    `Operation ${operation} is not allowed on an expired key.`,
    'KeyExpired',
  );
}

export function keyNotYetValid(operation: string): KeyVaultError {
  return new KeyVaultError(
    403,
    'Forbidden',
    `Operation ${operation} is not allowed on a key that is not yet valid.`,
    'KeyNotYetValid',
  );
}

export function operationNotPermitted(operation: string): KeyVaultError {
  return new KeyVaultError(
    403,
    'Forbidden',
    `Operation ${operation} is not permitted on this key.`,
    'KeyOperationForbidden',
  );
}

export function forbiddenByRbac(details: { oid: string; action: string; resource: string }): KeyVaultError {
  return new KeyVaultError(
    403,
    'Forbidden',
    [
      'Caller is not authorized to perform action on resource.',
      'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
      `Caller: oid=${details.oid}`,
      `Action: '${details.action}'`,
      `Resource: '${details.resource}'`,
      'Assignment: (not found)',
      "DecisionReason: 'DeniedWithNoValidRBAC'",
      '',
    ].join('\r\n'),
    'ForbiddenByRbac',
  );
}

export function unauthorized(message: string, challenge: string): KeyVaultError {
  return new KeyVaultError(401, 'Unauthorized', message, undefined, { 'WWW-Authenticate': challenge });
}

/**
 * Key Vault's 429, with the message it answers (`VaultRequestTypeLimitReached`). Key Vault sends no
 * Retry-After; `retryAfterSeconds` adds one only when the emulator is asked to.
 */
export function throttled(retryAfterSeconds?: number): KeyVaultError {
  return new KeyVaultError(
    429,
    'Throttled',
    'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
    undefined,
    retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) },
  );
}

export function notFound(): KeyVaultError {
  return new KeyVaultError(404, 'NotFound', 'The requested resource was not found on this vault.');
}

export function methodNotAllowed(allowed: readonly string[]): KeyVaultError {
  return new KeyVaultError(
    405,
    'MethodNotAllowed',
    'The HTTP method is not allowed on this resource.',
    undefined,
    {
      Allow: allowed.join(', '),
    },
  );
}
