/** Authentication and authorisation of HTTP callers (docs/api.md). */
export { actorOf, onPremisesUserOf, requireRole, userIdentifierOf, type Caller } from './caller.js';
export { ADMIN_ROLE } from '../domain/index.js';
export {
  authenticate,
  createTokenValidator,
  defaultTokenValidator,
  type TokenValidator,
  type TokenValidatorOptions,
} from './token-validator.js';
