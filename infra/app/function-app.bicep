// The function app on Flex Consumption (Linux, Node.js 22), running as one user-assigned identity.
// Every connection is identity-based: no setting holds a key, a SAS or a connection string with a
// secret. App settings are the ones shared/config/settings.ts reads (npm run infra:check holds this
// list to the loader's), plus the Functions host's identity settings for its own storage.
// FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are not set: Flex Consumption takes the
// runtime from functionAppConfig and refuses those settings.

param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string
@description('Client id of that identity: every connection below selects it by this id.')
param identityClientId string

param storageAccountName string
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
@description('URL of the blob container the deployment package is uploaded to.')
param deploymentContainerUrl string

param serviceBusFullyQualifiedNamespace string
param keyVaultUri string
@description('Application Insights component the app and the host send telemetry to.')
param applicationInsightsName string

@description('Most instances Flex Consumption may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('AUTH_ISSUER: the callers\' token issuer; {tenantId} is replaced by the token\'s tid.')
param authIssuer string
@description('AUTH_AUDIENCE: the audience callers\' tokens must carry (the API\'s application ID URI).')
param authAudience string

@description('Origins of the portals that call the API from a browser (platform CORS), e.g. https://portal.contoso.com.')
param portalOrigins array = []

@description('WRITEBACK_MESSAGE_TTL (ISO-8601).')
param writebackMessageTtl string = 'PT5M'
@description('WRITEBACK_SYNC_WAIT (ISO-8601).')
param writebackSyncWait string = 'PT25S'
@description('HEARTBEAT_INTERVAL in minutes (the alerts derive the agent offline threshold from it).')
param heartbeatIntervalMinutes int = 5
@description('KEY_ROLLOVER_AFTER (ISO-8601).')
param keyRolloverAfter string = 'P180D'
@description('KEY_ROLLOVER_SCHEDULE (six-field NCRONTAB).')
param keyRolloverSchedule string = '0 0 3 * * *'
@description('WRITEBACK_KEY_PROTECTION: hsm needs a premium vault.')
@allowed([
  'hsm'
  'software'
])
param keyProtection string = 'hsm'
@description('RATE_LIMIT_PER_USER (count/ISO-8601 window).')
param rateLimitPerUser string = '10/PT15M'
@description('RATE_LIMIT_CHANGE_PER_USER (count/ISO-8601 window).')
param rateLimitChangePerUser string = '5/PT15M'
@description('RATE_LIMIT_PER_TENANT (count/ISO-8601 window).')
param rateLimitPerTenant string = '600/PT1M'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  // azd deploys the service `api` of azure.yaml to the app that carries this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      runtime: {
        name: 'node'
        version: '22'
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
    }
    siteConfig: {
      // Browsers on the portals' origins may call the API; the app itself exposes Location and Retry-After.
      cors: {
        allowedOrigins: portalOrigins
        supportCredentials: false
      }
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // The host's storage (leases, keys, timer schedules) and the app's tables, signed in with the
        // identity. The host reads __accountName / the service URIs; the app reads __tableServiceUri
        // (shared/azure/clients.ts). No queue role is granted: no function has a queue or blob trigger.
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storageBlobEndpoint
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storageQueueEndpoint
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storageTableEndpoint
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        // The replies trigger and the app's Service Bus clients (sending, queue and rule management).
        {
          name: 'ServiceBusConnection__fullyQualifiedNamespace'
          value: serviceBusFullyQualifiedNamespace
        }
        {
          name: 'ServiceBusConnection__credential'
          value: 'managedidentity'
        }
        {
          name: 'ServiceBusConnection__clientId'
          value: identityClientId
        }
        // Key Vault: KEYVAULT__clientId makes shared/azure/clients.ts sign in with this identity.
        {
          name: 'KEYVAULT_URI'
          value: keyVaultUri
        }
        {
          name: 'KEYVAULT__clientId'
          value: identityClientId
        }
        // For any client built with DefaultAzureCredential: the identity to use.
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsights.properties.ConnectionString
        }
        // The Functions host sends its telemetry with the identity (local auth is off).
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD;ClientId=${identityClientId}'
        }
        {
          name: 'AUTH_ISSUER'
          value: authIssuer
        }
        {
          name: 'AUTH_AUDIENCE'
          value: authAudience
        }
        {
          name: 'WRITEBACK_MESSAGE_TTL'
          value: writebackMessageTtl
        }
        {
          name: 'WRITEBACK_SYNC_WAIT'
          value: writebackSyncWait
        }
        {
          name: 'HEARTBEAT_INTERVAL'
          value: 'PT${heartbeatIntervalMinutes}M'
        }
        {
          name: 'KEY_ROLLOVER_AFTER'
          value: keyRolloverAfter
        }
        {
          name: 'KEY_ROLLOVER_SCHEDULE'
          value: keyRolloverSchedule
        }
        {
          name: 'WRITEBACK_KEY_PROTECTION'
          value: keyProtection
        }
        {
          name: 'RATE_LIMIT_PER_USER'
          value: rateLimitPerUser
        }
        {
          name: 'RATE_LIMIT_CHANGE_PER_USER'
          value: rateLimitChangePerUser
        }
        {
          name: 'RATE_LIMIT_PER_TENANT'
          value: rateLimitPerTenant
        }
      ]
    }
  }
}

// Deployments go through Entra ID (azd, Core Tools): publishing with basic credentials stays off.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
