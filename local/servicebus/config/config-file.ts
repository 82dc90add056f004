/**
 * The start-up configuration in the shape of Microsoft's Service Bus emulator `Config.json`
 * (`UserConfig.Namespaces[].Queues[].Properties`), so that an existing file can be reused. Topics are
 * not emulated and are reported, not silently dropped.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { defaultQueueProperties, type QueueProperties } from '../entities/queue-properties.js';
import { parseDuration } from '../management/durations.js';

const queuePropertiesSchema = z
  .object({
    DeadLetteringOnMessageExpiration: z.boolean().optional(),
    DefaultMessageTimeToLive: z.string().optional(),
    DuplicateDetectionHistoryTimeWindow: z.string().optional(),
    ForwardDeadLetteredMessagesTo: z.string().optional(),
    ForwardTo: z.string().optional(),
    LockDuration: z.string().optional(),
    MaxDeliveryCount: z.number().int().min(1).optional(),
    RequiresDuplicateDetection: z.boolean().optional(),
    RequiresSession: z.boolean().optional(),
    MaxSizeInMegabytes: z.number().int().min(1).optional(),
    Status: z.enum(['Active', 'Disabled', 'SendDisabled', 'ReceiveDisabled']).optional(),
  })
  .loose();

const configSchema = z.object({
  UserConfig: z.object({
    Namespaces: z
      .array(
        z
          .object({
            Name: z.string().min(1),
            Queues: z
              .array(
                z.object({ Name: z.string().min(1), Properties: queuePropertiesSchema.optional() }).loose(),
              )
              .default([]),
            Topics: z.array(z.unknown()).optional(),
          })
          .loose(),
      )
      .min(1),
    Logging: z.unknown().optional(),
  }),
});

export interface ConfiguredQueue {
  name: string;
  properties: QueueProperties;
}

export interface EmulatorConfig {
  namespaceName: string;
  queues: ConfiguredQueue[];
  /** Things in the file that the emulator does not do (topics, further namespaces). */
  warnings: string[];
}

export class ConfigFileError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ConfigFileError';
  }
}

function toQueueProperties(
  raw: z.infer<typeof queuePropertiesSchema> | undefined,
  where: string,
): QueueProperties {
  const properties = defaultQueueProperties();
  if (!raw) return properties;
  const duration = (value: string | undefined, name: string, fallback: number) =>
    value === undefined ? fallback : parseDuration(value, `${where}.${name}`);
  return {
    ...properties,
    deadLetteringOnMessageExpiration:
      raw.DeadLetteringOnMessageExpiration ?? properties.deadLetteringOnMessageExpiration,
    defaultMessageTimeToLiveMs: duration(
      raw.DefaultMessageTimeToLive,
      'DefaultMessageTimeToLive',
      properties.defaultMessageTimeToLiveMs,
    ),
    duplicateDetectionHistoryTimeWindowMs: duration(
      raw.DuplicateDetectionHistoryTimeWindow,
      'DuplicateDetectionHistoryTimeWindow',
      properties.duplicateDetectionHistoryTimeWindowMs,
    ),
    forwardDeadLetteredMessagesTo: raw.ForwardDeadLetteredMessagesTo?.trim() || undefined,
    forwardTo: raw.ForwardTo?.trim() || undefined,
    lockDurationMs: duration(raw.LockDuration, 'LockDuration', properties.lockDurationMs),
    maxDeliveryCount: raw.MaxDeliveryCount ?? properties.maxDeliveryCount,
    requiresDuplicateDetection: raw.RequiresDuplicateDetection ?? properties.requiresDuplicateDetection,
    requiresSession: raw.RequiresSession ?? properties.requiresSession,
    maxSizeInMegabytes: raw.MaxSizeInMegabytes ?? properties.maxSizeInMegabytes,
    status: raw.Status ?? properties.status,
  };
}

/** Parse a Config.json document (already read). */
export function parseEmulatorConfig(text: string, file = 'Config.json'): EmulatorConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(file, `not valid JSON (${(error as Error).message})`);
  }
  const result = configSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigFileError(file, `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  const [namespace, ...others] = result.data.UserConfig.Namespaces;
  const warnings: string[] = [];
  if (others.length > 0)
    warnings.push(`only the first namespace is emulated; ignored: ${others.map((n) => n.Name).join(', ')}`);
  if (namespace!.Topics?.length)
    warnings.push(`topics are not emulated; ignored ${namespace!.Topics.length} topic(s)`);
  try {
    const queues = namespace!.Queues.map((queue, index) => ({
      name: queue.Name,
      properties: toQueueProperties(queue.Properties, `Queues[${index}].Properties`),
    }));
    return { namespaceName: namespace!.Name, queues, warnings };
  } catch (error) {
    throw new ConfigFileError(file, (error as Error).message);
  }
}

export async function loadEmulatorConfig(file: string): Promise<EmulatorConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseEmulatorConfig(text, file);
}
