// The Service Bus namespace of the tenants' queues. The app creates and deletes each tenant's
// writeback-{t} and writeback-{t}-replies queues and their SAS rules itself (tenant enablement); only
// the shared writeback-replies queue, read by the replies function, is created here.

@description('6-50 letters, digits and hyphens, globally unique.')
param name string
param location string
param tags object

@description('Standard is enough for the pipeline; Premium adds isolation, predictable latency and larger messages.')
@allowed([
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('Messaging units of a Premium namespace (ignored for Standard).')
@allowed([
  1
  2
  4
  8
  16
])
param premiumMessagingUnits int = 1

@description('Name of the shared replies queue (SHARED_REPLIES_QUEUE in shared/wire).')
param repliesQueueName string = 'writeback-replies'

resource namespace 'Microsoft.ServiceBus/namespaces@2026-01-01' = {
  name: name
  location: location
  tags: tags
  sku: union(
    {
      name: sku
      tier: sku
    },
    sku == 'Premium' ? { capacity: premiumMessagingUnits } : {}
  )
  properties: {
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    // SAS stays on only because the tenants' on-premises agents connect with per-queue SAS rules
    // (Listen on writeback-{t}, Send on writeback-{t}-replies) that tenant enablement creates: managed
    // identity is not available on premises. The function app itself never uses a key: it signs in
    // with its identity, and the template creates no namespace-level rule and outputs no key.
    disableLocalAuth: false
  }
}

// The settings of sharedRepliesQueueSettings() in shared/tenants/queues.ts, which tenant enablement
// would also apply if it created the queue: npm run infra:check compares the two.
resource repliesQueue 'Microsoft.ServiceBus/namespaces/queues@2026-01-01' = {
  parent: namespace
  name: repliesQueueName
  properties: {
    lockDuration: 'PT30S'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P1D'
    deadLetteringOnMessageExpiration: false
    requiresSession: false
  }
}

output id string = namespace.id
output name string = namespace.name
// serviceBusEndpoint is https://{name}.servicebus.windows.net:443/ (another host name in sovereign clouds).
output fullyQualifiedNamespace string = split(
  replace(replace(namespace.properties.serviceBusEndpoint, 'https:', ''), '/', ''),
  ':'
)[0]
output repliesQueueName string = repliesQueue.name
