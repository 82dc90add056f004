/**
 * Search filters that find one user account. They are built as ldapts filter objects rather than
 * RFC 4515 strings: the value travels as the octets of a BER OCTET STRING, so no character in a UPN
 * can change the filter's structure, and a binary objectSid goes out byte for byte. (ldapts's string
 * parser turns `\xx` escapes into UTF-16 characters and re-encodes them as UTF-8, which corrupts
 * every SID byte ≥ 0x80 — observed against Samba: an escaped SID string matches nothing.)
 * `toString()` of these objects gives the RFC 4515 form with escaping, for reading, not for sending.
 */
import { AndFilter, EqualityFilter, type Filter } from 'ldapts';
import type { UserIdentifier } from '../../shared/domain/index.js';
import { sidToBinary } from './sid.js';

/** Person accounts only: computers are `user` objects too, but have objectCategory computer. */
function personAccount(match: Filter): Filter {
  return new AndFilter({
    filters: [
      new EqualityFilter({ attribute: 'objectCategory', value: 'person' }),
      new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
      match,
    ],
  });
}

/** The filter for a user identifier. Throws InvalidSidError when a SID is malformed. */
export function userFilter(user: UserIdentifier): Filter {
  if (user.kind === 'sid') {
    return personAccount(new EqualityFilter({ attribute: 'objectSid', value: sidToBinary(user.value) }));
  }
  return personAccount(new EqualityFilter({ attribute: 'userPrincipalName', value: user.value }));
}
