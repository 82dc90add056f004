/**
 * The emulator's config file (JSON), e.g. `.local/keyvault/config.json`:
 *
 *   {
 *     "issuer": "https://127.0.0.1:7072/contoso/v2.0",
 *     "administrators": ["<oid allowed to change role assignments at run time>"],
 *     "roleAssignments": [
 *       { "principalId": "<oid>", "role": "Key Vault Crypto User", "scope": "/keys/writeback-contoso-enc" }
 *     ],
 *     "throttle": { "windowMs": 10000, "limits": { "operations": 4000 }, "retryAfter": false },
 *     "pageSize": 25,
 *     "softDeleteRetentionDays": 90
 *   }
 *
 * Every field is optional; command-line flags win over the file.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const Limits = z
  .object({
    operations: z.number().int().positive(),
    hsmOperations: z.number().int().positive(),
    creates: z.number().int().positive(),
    hsmCreates: z.number().int().positive(),
  })
  .partial();

export const KeyVaultConfig = z.strictObject({
  issuer: z.url({ protocol: /^https?$/ }).optional(),
  administrators: z.array(z.string().min(1)).optional(),
  roleAssignments: z
    .array(
      z.strictObject({
        id: z
          .string()
          .regex(/^[A-Za-z0-9-]{1,64}$/)
          .optional(),
        principalId: z.string().min(1),
        role: z.string().min(1),
        scope: z.string().optional(),
      }),
    )
    .optional(),
  throttle: z
    .strictObject({
      windowMs: z.number().int().positive().optional(),
      limits: Limits.optional(),
      retryAfter: z.boolean().optional(),
    })
    .optional(),
  pageSize: z.number().int().min(1).max(25).optional(),
  softDeleteRetentionDays: z.number().int().min(7).max(90).optional(),
});
export type KeyVaultConfig = z.infer<typeof KeyVaultConfig>;

export async function readKeyVaultConfig(file: string): Promise<KeyVaultConfig> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
  const result = KeyVaultConfig.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`${file}: ${issue?.path.join('.') || 'config'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}
