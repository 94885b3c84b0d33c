// Key Vault for the connector's secrets (Graph client secret, outbound webhook secret, later rotated
// credentials). RBAC authorization only, soft delete and purge protection on. Secret values are never
// part of a deployment: an administrator sets them (docs/deployment.md).

@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Days a deleted vault or secret can be recovered (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Tags applied to every resource.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // App Service resolves Key Vault references from the app's outbound addresses, which are not fixed on
      // Flex Consumption without VNet integration and are not a "trusted Microsoft service".
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
  //checkov:skip=CKV_AZURE_109:Key Vault references and the app's own secret reads come from the Functions host's non-fixed outbound addresses (no VNet on Flex Consumption by default); access is by Entra ID RBAC only. Close it with VNet integration and a private endpoint (Elastic Premium option).
  //checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109: the vault must be reachable from the Functions host without a private endpoint.
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
