/**
 * Key backups: a key with all its versions, attributes, tags and rotation policy, sealed with the
 * vault's backup key (AES-256-GCM). Key Vault's blob is opaque and only restores into a vault of the
 * same subscription and geography; this one only restores into an emulator holding the same backup key
 * (the same data folder, or a copy of its `backup-key` file). The format is this emulator's own.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { badParameter } from '../http/errors.js';
import type { StoredKey } from './model.js';

const FORMAT = 'keyvault-emulator-key-backup-1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A backup key's id is the start of its hash: it tells "another vault's backup" from a damaged blob. */
const KEY_ID_BYTES = 8;

function keyIdOf(backupKey: Buffer): Buffer {
  return createHash('sha256').update(backupKey).digest().subarray(0, KEY_ID_BYTES);
}

/** The header: the format name, then the backup key's id; authenticated as well. */
function headerOf(backupKey: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${FORMAT}\n`, 'utf8'), keyIdOf(backupKey)]);
}

/** The backup blob of `key` (never of a deleted key: the vault refuses that before). */
export function sealKeyBackup(key: StoredKey, backupKey: Buffer): Buffer {
  const content: StoredKey = {
    name: key.name,
    versions: key.versions,
    ...(key.rotationPolicy ? { rotationPolicy: key.rotationPolicy } : {}),
  };
  const header = headerOf(backupKey);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', backupKey, iv).setAAD(header);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(content), 'utf8'), cipher.final()]);
  return Buffer.concat([header, iv, sealed, cipher.getAuthTag()]);
}

/** The key in a backup blob; 400 BadParameter if it is not a backup this vault can open. */
export function openKeyBackup(blob: Buffer, backupKey: Buffer): StoredKey {
  const header = headerOf(backupKey);
  const formatLength = header.length - KEY_ID_BYTES;
  if (
    blob.length < header.length + IV_BYTES + TAG_BYTES ||
    !blob.subarray(0, formatLength).equals(header.subarray(0, formatLength))
  ) {
    throw badParameter('Property value has invalid value: it is not a key backup.');
  }
  if (!blob.subarray(formatLength, header.length).equals(keyIdOf(backupKey))) {
    throw badParameter(
      'Property value has invalid value: the backup was made by a vault with another backup key and cannot be restored here.',
    );
  }
  const iv = blob.subarray(header.length, header.length + IV_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', backupKey, iv).setAAD(header).setAuthTag(tag);
  let json: string;
  try {
    json = Buffer.concat([
      decipher.update(blob.subarray(header.length + IV_BYTES, blob.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw badParameter('Property value has invalid value: the backup is damaged.');
  }
  return JSON.parse(json) as StoredKey;
}
