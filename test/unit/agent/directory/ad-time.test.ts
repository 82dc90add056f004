import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  adIntervalToSeconds,
  dateToFileTime,
  fileTimeToDate,
  generalizedTimeToDate,
  secondsToAdInterval,
} from '../../../../agent/directory/ad-time.js';

describe('AD intervals and times', () => {
  it('reads negative 100-ns intervals as seconds', () => {
    assert.equal(adIntervalToSeconds('-864000000000'), 86_400); // Samba's default minPwdAge: 1 day
    assert.equal(adIntervalToSeconds('-18000000000'), 1_800); // lockoutDuration: 30 minutes
    assert.equal(adIntervalToSeconds('-36288000000000'), 3_628_800); // maxPwdAge: 42 days
    assert.equal(adIntervalToSeconds('0'), 0);
    assert.equal(adIntervalToSeconds(-15_000_000n), 1); // rounded down
    assert.equal(adIntervalToSeconds('864000000000'), 86_400);
  });

  it('reads the most negative 64-bit value as "never"', () => {
    assert.equal(adIntervalToSeconds('-9223372036854775808'), Number.POSITIVE_INFINITY);
    assert.equal(secondsToAdInterval(Number.POSITIVE_INFINITY), '-9223372036854775808');
  });

  it('writes seconds back as AD intervals', () => {
    assert.equal(secondsToAdInterval(86_400), '-864000000000');
    assert.equal(secondsToAdInterval(0), '0');
    for (const seconds of [1, 59, 3_600, 86_400 * 998]) {
      assert.equal(adIntervalToSeconds(secondsToAdInterval(seconds)), seconds);
    }
    assert.throws(() => secondsToAdInterval(-1), RangeError);
    assert.throws(() => secondsToAdInterval(1.5), RangeError);
  });

  it('refuses values that are not 64-bit integers', () => {
    for (const bad of ['', 'abc', '1e9', '12.5', '-', '123456789012345678901']) {
      assert.throws(() => adIntervalToSeconds(bad), RangeError, bad);
    }
  });

  it('converts FILETIME (100-ns ticks since 1601) to dates and back', () => {
    assert.equal(fileTimeToDate('116444736000000000')?.toISOString(), '1970-01-01T00:00:00.000Z');
    assert.equal(fileTimeToDate('132539328000000000')?.toISOString(), '2021-01-01T00:00:00.000Z');
    const date = new Date('2026-11-22T03:55:50.515Z');
    assert.equal(dateToFileTime(date), '134397933505150000');
    assert.equal(fileTimeToDate(dateToFileTime(date))?.getTime(), date.getTime());
  });

  it('gives no date for pwdLastSet 0 (must change) or the "never" sentinel', () => {
    assert.equal(fileTimeToDate('0'), undefined);
    assert.equal(fileTimeToDate('9223372036854775807'), undefined);
  });

  it('reads AD GeneralizedTime (rootDSE currentTime)', () => {
    assert.equal(generalizedTimeToDate('20261122035821.0Z')?.toISOString(), '2026-11-22T03:58:21.000Z');
    assert.equal(generalizedTimeToDate('20261122035821Z')?.toISOString(), '2026-11-22T03:58:21.000Z');
    assert.equal(generalizedTimeToDate('20261122035821.25Z')?.toISOString(), '2026-11-22T03:58:21.250Z');
    assert.equal(generalizedTimeToDate('2026-11-22'), undefined);
  });
});
