// The Key Vault of the tenants' keys (writeback-{t}-enc, writeback-{t}-sig), created and disabled by
// tenant enablement and rolled by the key rollover timer. Access is Azure RBAC only: the app holds Key
// Vault Crypto Officer on the vault (roles.bicep), each tenant's agent Key Vault Crypto User on its
// own two keys (infra/agent/agent-key-access.bicep).

@description('3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param name string
param location string
param tags object

@description('premium for the HSM-protected keys that WRITEBACK_KEY_PROTECTION=hsm (the default) creates; standard only with software keys.')
@allowed([
  'standard'
  'premium'
])
param sku string = 'premium'

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: sku
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    // The on-premises agents decrypt and sign through this vault over the internet.
    publicNetworkAccess: 'Enabled'
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
