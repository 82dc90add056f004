// Grants one tenant's on-premises writeback agent what it needs in Azure, and nothing else: Key Vault
// Crypto User on that tenant's two keys, to decrypt and unwrap with writeback-{t}-enc and to sign
// with writeback-{t}-sig. Its Service Bus access is the Listen and Send SAS rules that tenant
// enablement returns once, not a role.
//
// Deploy it into the resource group of the vault after the tenant was enabled (the keys must exist):
//   az deployment group create -g <group> -f infra/agent/agent-key-access.bicep \
//     -p keyVaultName=<vault> tenantId=<t> agentPrincipalId=<object id of the agent's service principal>

@description('Name of the vault that holds the tenant keys (output keyVaultName of main.bicep).')
param keyVaultName string

@description('The writeback tenant id (the {tenantId} of the API routes).')
@minLength(1)
@maxLength(63)
param tenantId string

@description('Object id of the agent\'s service principal (its app registration\'s enterprise application).')
param agentPrincipalId string

// Key Vault Crypto User: decrypt, unwrapKey, sign and reading the key; no create, delete or update.
var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' existing = {
  name: keyVaultName

  resource encryptionKey 'keys' existing = {
    name: 'writeback-${tenantId}-enc'
  }

  resource signatureKey 'keys' existing = {
    name: 'writeback-${tenantId}-sig'
  }
}

resource encryptionKeyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault::encryptionKey.id, agentPrincipalId, keyVaultCryptoUser)
  scope: vault::encryptionKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: agentPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Writeback agent of tenant ${tenantId}: decrypt and unwrap with its encryption key.'
  }
}

resource signatureKeyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault::signatureKey.id, agentPrincipalId, keyVaultCryptoUser)
  scope: vault::signatureKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: agentPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Writeback agent of tenant ${tenantId}: sign replies with its signature key.'
  }
}

output encryptionKeyId string = vault::encryptionKey.id
output signatureKeyId string = vault::signatureKey.id
