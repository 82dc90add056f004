/**
 * Timer triggers: NCRONTAB schedules, `%Setting%` schedules, runOnStartup, and isPastDue from the
 * schedule monitor's status in the data directory.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startFunctionsHost } from '../../../../local/functions-host/index.js';
import { parseSchedule } from '../../../../local/functions-host/timer-trigger.js';
import { createTestApp } from './app-dir.js';

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe('NCRONTAB schedules', () => {
  const at = (iso: string): Date => new Date(iso);

  it('reads seconds first, names for months and days, Sunday as 0', () => {
    // Saturday 2026-01-03 → the next weekday 09:30:00 is Monday 2026-01-05.
    assert.equal(
      parseSchedule('0 30 9 * * MON-FRI').next(at('2026-01-03T12:00:00Z'))?.toISOString(),
      '2026-01-05T09:30:00.000Z',
    );
    assert.equal(
      parseSchedule('15 * * * * *').next(at('2026-01-03T12:00:00Z'))?.toISOString(),
      '2026-01-03T12:00:15.000Z',
    );
    assert.equal(
      parseSchedule('0 0 0 * * 0').next(at('2026-01-05T00:00:00Z'))?.toISOString(),
      '2026-01-11T00:00:00.000Z',
    );
    assert.equal(
      parseSchedule('0 0 0 1 feb *').next(at('2026-01-05T00:00:00Z'))?.toISOString(),
      '2026-02-01T00:00:00.000Z',
    );
    assert.equal(
      parseSchedule('*/20 * * * * *').next(at('2026-01-03T12:00:41Z'))?.toISOString(),
      '2026-01-03T12:01:00.000Z',
    );
  });

  it('requires both day of month and day of week when both are given (NCRONTAB, unlike Vixie cron)', () => {
    // The next Friday the 13th after 2026-01-01 is 2026-02-13.
    assert.equal(
      parseSchedule('0 0 0 13 * FRI').next(at('2026-01-01T00:00:00Z'))?.toISOString(),
      '2026-02-13T00:00:00.000Z',
    );
  });

  it('refuses what NCRONTAB refuses', () => {
    for (const bad of [
      '0 */5 * * *',
      '0 0 0 * * 7',
      '0 0 0 L * *',
      '0 0 0 ? * *',
      '0 0 0 * * 1#2',
      '60 * * * * *',
      '0 0 0 * * FUNDAY',
    ]) {
      assert.throws(() => parseSchedule(bad), /is invalid/, bad);
    }
  });

  it('accepts a TimeSpan interval', () => {
    assert.equal(
      parseSchedule('00:00:05').next(at('2026-01-03T12:00:00Z'))?.toISOString(),
      '2026-01-03T12:00:05.000Z',
    );
  });
});

describe('timer triggers', () => {
  it('fires on its schedule, resolved from a %Setting%', async () => {
    const app = createTestApp({ fixtures: ['timer-tick'] });
    const host = await startFunctionsHost({
      appDir: app.dir,
      port: 0,
      dataDir: app.dataDir,
      env: { TICK_SCHEDULE: '*/1 * * * * *' },
    });
    try {
      assert.deepEqual(host.functions, [
        { name: 'tick', trigger: 'timer', schedule: '*/1 * * * * *', runOnStartup: false, useMonitor: false },
      ]);
      const out = await host.waitForOutput(
        (o) => count(o, "Executed 'Functions.tick' (Succeeded") >= 2,
        10_000,
      );
      assert.match(out, /\[tick\] tick isPastDue=false/);
    } finally {
      await host.stop();
      app.remove();
    }
  });

  it('keeps its schedule after a failed invocation', async () => {
    const app = createTestApp({ fixtures: ['timer-tick'] });
    const host = await startFunctionsHost({
      appDir: app.dir,
      port: 0,
      dataDir: app.dataDir,
      env: { TICK_SCHEDULE: '*/1 * * * * *', TICK_FAIL: '1' },
    });
    try {
      const out = await host.waitForOutput((o) => count(o, "Executed 'Functions.tick' (Failed") >= 2, 10_000);
      assert.match(out, /tick failed on purpose/);
    } finally {
      await host.stop();
      app.remove();
    }
  });

  it('fails the function when the %Setting% is missing, and still starts the host', async () => {
    const app = createTestApp({ fixtures: ['timer-tick', 'second-file'] });
    const host = await startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir });
    try {
      const tick = host.functions.find((f) => f.name === 'tick');
      assert.equal(tick?.trigger, 'error');
      assert.match(
        host.output(),
        /The 'tick' function is in error: .*'%TICK_SCHEDULE%' does not resolve to a value/,
      );
      assert.equal((await fetch(`${host.url}/api/second`)).status, 200);
    } finally {
      await host.stop();
      app.remove();
    }
  });

  it('runs on start-up with runOnStartup', async () => {
    const app = createTestApp({ fixtures: ['timer-startup'] });
    const host = await startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir });
    try {
      const out = await host.waitForOutput((o) => o.includes("Executed 'Functions.startup' (Succeeded"));
      assert.match(out, /\[startup\] startup isPastDue=false adjustForDST=true/);
    } finally {
      await host.stop();
      app.remove();
    }
  });

  it('records the schedule status and does not run a monitored timer that is not due', async () => {
    const app = createTestApp({ fixtures: ['timer-daily'] });
    const host = await startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir });
    await host.stop();
    try {
      assert.ok(!host.output().includes("Executed 'Functions.daily'"));
      const file = path.join(app.dataDir, 'timers', 'daily', 'status.json');
      assert.ok(existsSync(file));
      const status = JSON.parse(readFileSync(file, 'utf8')) as {
        Last: string;
        Next: string;
        LastUpdated: string;
      };
      assert.match(status.Next, /T03:00:00\.000Z$/);
      assert.ok(Date.parse(status.Next) > Date.parse(status.LastUpdated));
    } finally {
      app.remove();
    }
  });

  it('runs a missed occurrence at start with isPastDue, then records the next one', async () => {
    const app = createTestApp({ fixtures: ['timer-daily'] });
    const dir = path.join(app.dataDir, 'timers', 'daily');
    mkdirSync(dir, { recursive: true });
    const day = 86_400_000;
    const lastDue = new Date(Math.floor((Date.now() - 2 * day) / day) * day + 3 * 3_600_000); // 03:00 two days ago
    const missed = new Date(lastDue.getTime() + day);
    writeFileSync(
      path.join(dir, 'status.json'),
      JSON.stringify({
        Last: lastDue.toISOString(),
        Next: missed.toISOString(),
        LastUpdated: new Date(lastDue.getTime() + 1000).toISOString(),
      }),
    );
    const host = await startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir });
    try {
      const out = await host.waitForOutput((o) => o.includes("Executed 'Functions.daily' (Succeeded"));
      assert.match(
        out,
        new RegExp(`\\[daily\\] daily isPastDue=true last=${lastDue.toISOString().replace(/[.]/g, '\\.')}`),
      );
      await host.stop();
      const status = JSON.parse(readFileSync(path.join(dir, 'status.json'), 'utf8')) as {
        Last: string;
        Next: string;
      };
      assert.ok(Date.parse(status.Next) > Date.now(), 'the next occurrence is in the future');
      assert.notEqual(status.Last, lastDue.toISOString());
    } finally {
      await host.stop();
      app.remove();
    }
  });
});
