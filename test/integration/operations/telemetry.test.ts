/**
 * Telemetry of the pipeline, captured by a local Application Insights ingestion endpoint: requests,
 * dependencies, the outcome event and metrics of a reset arrive, correlated by the caller's
 * traceparent and the operation id, and the canary password appears in no item. The dependencies of
 * one reset are also what docs/architecture.md's "What one reset costs" is measured with.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTelemetryCapture, type CapturedItem } from '../../../local/telemetry/index.js';
import { startPipeline, type PipelineUnderTest } from '../../support/pipeline.js';

type Capture = Awaited<ReturnType<typeof startTelemetryCapture>>;

describe('telemetry of the password routes', () => {
  let capture: Capture;
  let p: PipelineUnderTest;
  let certsDir: string;
  const canary = `Canary-${randomUUID()}-Aa1!`;

  before(async () => {
    // The capture and the stack share one local CA, which the host trusts.
    certsDir = await mkdtemp(path.join(tmpdir(), 'writeback-telemetry-certs-'));
    capture = await startTelemetryCapture({ certsDir });
    p = await startPipeline({
      certsDir,
      env: { APPLICATIONINSIGHTS_CONNECTION_STRING: capture.connectionString },
    });
    await p.untilOnline();
  });
  after(async () => {
    await p?.stop();
    await capture?.close();
    await rm(certsDir, { recursive: true, force: true });
  });

  const itemsOf = (kind: string) => capture.items().filter((item) => item.data.baseType === kind);
  const props = (item: CapturedItem) => item.data.baseData.properties ?? {};

  test('a reset: its request, its dependencies, its outcome event and metrics; correlated; no password', async () => {
    const token = await p.token();
    // Warm: the first reset of an instance fetches the key and creates tables.
    await p.call('POST', `/tenants/${p.tenantId}/me/password/reset`, {
      token,
      body: { newPassword: `${canary}0` },
    });
    await capture.waitFor((items) => items.some((i) => props(i).status === 'succeeded'), 20_000);
    capture.clear();

    const traceId = randomBytes(16).toString('hex');
    const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
    const reset = await p.call('POST', `/tenants/${p.tenantId}/me/password/reset`, {
      token,
      body: { newPassword: canary },
      headers: { traceparent },
    });
    assert.equal(reset.status, 200, reset.text);
    const operationId = String(reset.body.operationId);
    const refused = await p.call('POST', `/tenants/${p.tenantId}/me/password/reset`, {
      token,
      body: { newPassword: 'Sh0rt!' },
    });
    assert.equal(refused.status, 422);

    await capture.waitFor(
      (items) =>
        items.some((i) => i.data.baseType === 'EventData' && props(i).operationId === operationId) &&
        items.some((i) => i.data.baseType === 'RequestData' && i.data.baseData.name === 'replies'),
      20_000,
    );
    const requests = itemsOf('RequestData');
    const http = requests.find(
      (r) => props(r).operationId === operationId && r.data.baseData.name !== 'replies',
    );
    assert.ok(http, 'the HTTP request is reported');
    assert.equal(http.data.baseData.name, 'POST /api/tenants/{tenantId}/me/password/reset');
    assert.equal(http.tags['ai.operation.id'], traceId, "the caller's trace id is the operation id");
    const replies = requests.find(
      (r) => r.data.baseData.name === 'replies' && props(r).operationId === operationId,
    );
    assert.ok(replies, 'the replies function reports the reply');
    assert.equal(replies.tags['ai.operation.id'], traceId, 'the trace context came back through the agent');

    const event = itemsOf('EventData').find((e) => props(e).operationId === operationId);
    assert.ok(event);
    assert.equal(event.data.baseData.name, 'writeback.operation.completed');
    assert.equal(props(event).status, 'succeeded');
    assert.equal(props(event).operationKind, 'reset');
    const failed = itemsOf('EventData').find((e) => props(e).code === 'PasswordPolicy');
    assert.equal(failed && props(failed).reason, 'tooShort');

    // Wait for the metric itself: the exporter also sends a MetricData of its own (_OTELRESOURCE_, the
    // resource's attributes) with each batch of requests and dependencies, which can arrive first.
    const metricNamesOf = (items: CapturedItem[]) =>
      items
        .filter((i) => i.data.baseType === 'MetricData')
        .flatMap((m) => (m.data.baseData.metrics ?? []).map((x) => x.name));
    await capture
      .waitFor((items) => metricNamesOf(items).includes('writeback.operation.durationMs'), 20_000)
      .catch(() => undefined);
    const metricNames = metricNamesOf(capture.items());
    assert.ok(metricNames.includes('writeback.operation.durationMs'), metricNames.join(', '));

    const dependencies = itemsOf('RemoteDependencyData');
    const types = new Set(dependencies.map((d) => props(d)['db.system'] ?? d.data.baseData.type));
    assert.ok(
      dependencies.some((d) => d.data.baseData.name === 'Table storage'),
      'table calls are reported',
    );
    assert.ok(
      dependencies.some((d) => d.data.baseData.name === 'send request'),
      'the Service Bus send is reported',
    );
    assert.ok(types.size > 0);

    for (const body of capture.rawBodies()) assert.ok(!body.includes(canary), 'the canary password was sent');
  });
});
