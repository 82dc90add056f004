/**
 * Temporary passwords for an admin reset without `newPassword` (docs/api.md): drawn from the CSPRNG
 * (`crypto.randomInt`, which is unbiased), with at least one character of each of AD's four classes
 * so that complexity is met, and at least as long as the domain's minimum length. Look-alike
 * characters (0/O, 1/l/I) are left out because an admin reads the password out to a user.
 *
 * Hand-written because it is a dozen lines on top of node:crypto, and no library adds anything here.
 */
import { randomInt } from 'node:crypto';

const CLASSES: readonly string[] = [
  'ABCDEFGHJKLMNPQRSTUVWXYZ',
  'abcdefghijkmnopqrstuvwxyz',
  '23456789',
  '!#$%&*+-=?@^_~',
];
const ALL = CLASSES.join('');

/** 16 characters from 71: about 98 bits. */
export const TEMPORARY_PASSWORD_LENGTH = 16;

function pick(alphabet: string): string {
  return alphabet[randomInt(alphabet.length)] ?? '';
}

/** A fresh temporary password of max(16, minLength) characters, at most 256. */
export function generateTemporaryPassword(minLength = 0): string {
  const length = Math.min(256, Math.max(TEMPORARY_PASSWORD_LENGTH, minLength));
  const chars = CLASSES.map(pick);
  while (chars.length < length) chars.push(pick(ALL));
  // Fisher–Yates, so the guaranteed characters are not always first.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] ?? '', chars[i] ?? ''];
  }
  return chars.join('');
}
