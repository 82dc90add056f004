// The writeback pipeline in one resource group: `azd up` (azure.yaml) or
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.parameters.json -p ...
// (docs/deploy.md). The function app runs as one user-assigned identity with identity-based
// connections only; its roles are all in app/roles.bicep. Outputs carry names and endpoints, never a
// key or a connection string.

targetScope = 'resourceGroup'

@description('Name of the environment (azd: AZURE_ENV_NAME); it seeds the resource names.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Region of every resource (Flex Consumption must be available there).')
param location string = resourceGroup().location

@description('AUTH_ISSUER: the callers\' token issuer; {tenantId} is replaced by each token\'s tid.')
param authIssuer string = 'https://login.microsoftonline.com/{tenantId}/v2.0'

@description('AUTH_AUDIENCE: the audience callers\' tokens must carry, the API app registration\'s application ID URI or client id.')
@minLength(1)
param authAudience string

@description('Origins of the portals that call the API from a browser (CORS), e.g. [\'https://portal.contoso.com\'].')
param portalOrigins array = []

@description('E-mail address that receives the alerts.')
@minLength(3)
param alertEmail string

@description('Service Bus tier: Standard, or Premium for isolation and predictable latency.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('Key Vault SKU: premium holds the HSM keys of WRITEBACK_KEY_PROTECTION=hsm; standard switches the app to software keys.')
@allowed([
  'standard'
  'premium'
])
param keyVaultSku string = 'premium'

@description('Most instances the function app may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each function app instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('HEARTBEAT_INTERVAL in minutes; keep it equal to the agents\' heartbeat interval.')
@minValue(1)
@maxValue(60)
param heartbeatIntervalMinutes int = 5

@description('WRITEBACK_MESSAGE_TTL (ISO-8601).')
param writebackMessageTtl string = 'PT5M'

@description('WRITEBACK_SYNC_WAIT (ISO-8601).')
param writebackSyncWait string = 'PT25S'

@description('KEY_ROLLOVER_AFTER (ISO-8601).')
param keyRolloverAfter string = 'P180D'

@description('KEY_ROLLOVER_SCHEDULE (six-field NCRONTAB, UTC).')
param keyRolloverSchedule string = '0 0 3 * * *'

@description('RATE_LIMIT_PER_USER (count/ISO-8601 window).')
param rateLimitPerUser string = '10/PT15M'

@description('RATE_LIMIT_CHANGE_PER_USER (count/ISO-8601 window); at most the domain\'s lockout threshold.')
param rateLimitChangePerUser string = '5/PT15M'

@description('RATE_LIMIT_PER_TENANT (count/ISO-8601 window).')
param rateLimitPerTenant string = '600/PT1M'

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'writeback'
}
var names = {
  identity: 'id-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  storage: 'st${resourceToken}'
  serviceBus: 'sb-${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
}
var deploymentContainerName = 'app-package'

// The function app's one identity: host storage, tables, Service Bus, Key Vault and telemetry.
resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: names.identity
  location: location
  tags: tags
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: names.serviceBus
    location: location
    tags: tags
    sku: serviceBusSku
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    sku: keyVaultSku
  }
}

// Before the app: its host reaches storage, Service Bus and Key Vault as soon as it starts.
module roles 'app/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: appIdentity.properties.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  dependsOn: [
    roles
  ]
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: appIdentity.id
    identityClientId: appIdentity.properties.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultUri: keyVault.outputs.uri
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    authIssuer: authIssuer
    authAudience: authAudience
    portalOrigins: portalOrigins
    writebackMessageTtl: writebackMessageTtl
    writebackSyncWait: writebackSyncWait
    heartbeatIntervalMinutes: heartbeatIntervalMinutes
    keyRolloverAfter: keyRolloverAfter
    keyRolloverSchedule: keyRolloverSchedule
    // The vault's SKU decides how keys can be protected: HSM keys need a premium vault.
    keyProtection: keyVaultSku == 'premium' ? 'hsm' : 'software'
    rateLimitPerUser: rateLimitPerUser
    rateLimitChangePerUser: rateLimitChangePerUser
    rateLimitPerTenant: rateLimitPerTenant
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    namePrefix: 'writeback-${resourceToken}'
    alertEmail: alertEmail
    functionAppId: functionApp.outputs.id
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    serviceBusNamespaceId: serviceBus.outputs.id
    repliesQueueName: serviceBus.outputs.repliesQueueName
    keyVaultId: keyVault.outputs.id
    keyVaultName: keyVault.outputs.name
    heartbeatIntervalMinutes: heartbeatIntervalMinutes
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = subscription().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output API_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
output APP_IDENTITY_CLIENT_ID string = appIdentity.properties.clientId
output APP_IDENTITY_PRINCIPAL_ID string = appIdentity.properties.principalId
output KEYVAULT_NAME string = keyVault.outputs.name
output KEYVAULT_URI string = keyVault.outputs.uri
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output SERVICE_BUS_REPLIES_QUEUE string = serviceBus.outputs.repliesQueueName
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
