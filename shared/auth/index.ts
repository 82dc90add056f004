/** Authentication and authorisation of HTTP callers (docs/api.md). */
export {
  actorOf,
  ADMIN_ROLE,
  onPremisesUserOf,
  requireRole,
  userIdentifierOf,
  type Caller,
} from './caller.js';
export {
  authenticate,
  createTokenValidator,
  defaultTokenValidator,
  type TokenValidator,
  type TokenValidatorOptions,
} from './token-validator.js';
