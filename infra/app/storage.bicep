// The storage account of the Functions host (blobs), of the app's tables, and of the Flex Consumption
// deployment package. Shared keys are off: the host, the app and the deployment all sign in with the
// app's user-assigned identity.

@description('3-24 lower-case letters and digits.')
@minLength(3)
@maxLength(24)
param name string
param location string
param tags object

@description('Blob container that Flex Consumption reads the app package from.')
param deploymentContainerName string

// The tables the app uses (TENANTS_TABLE, HEARTBEATS_TABLE, OPERATIONS_TABLE and AUDIT_TABLE in
// shared/; the rate limits' counters live in `operations`). The app would create them lazily; creating
// them here makes the account's content visible in the template and lets npm run infra:check compare
// the two lists.
var tableNames = [
  'tenants'
  'heartbeats'
  'operations'
  'audit'
]

resource account 'Microsoft.Storage/storageAccounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-06-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-06-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-06-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
