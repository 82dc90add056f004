import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServiceBusConnectionString } from '@azure/service-bus';
import { withSharedAccessKey } from '../../../agent/bus-connection.js';

describe('withSharedAccessKey', () => {
  it('replaces the key only, every other part as written', () => {
    const old =
      'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=writeback-agent-listen;SharedAccessKey=b2xk+/=;EntityPath=writeback-contoso';
    const key = 'bmV3LWtleS1vZi0zMi1ieXRlcy0tLS0tLS0tLS0tLS0=';
    const rolled = withSharedAccessKey(old, key);
    assert.equal(rolled, old.replace('b2xk+/=', key));
    const parsed = parseServiceBusConnectionString(rolled);
    assert.equal(parsed.sharedAccessKey, key);
    assert.equal(parsed.sharedAccessKeyName, 'writeback-agent-listen');
    assert.equal(parsed.entityPath, 'writeback-contoso');
  });

  it('refuses a string without exactly one SharedAccessKey, without quoting it', () => {
    const sas = 'Endpoint=sb://ns/;SharedAccessSignature=SharedAccessSignature sr=x&sig=secret-sig';
    assert.throws(
      () => withSharedAccessKey(sas, 'k'),
      (error: Error) => !error.message.includes('secret-sig'),
    );
    assert.throws(() => withSharedAccessKey('Endpoint=sb://ns/;SharedAccessKey=a;SharedAccessKey=b', 'k'));
  });
});
