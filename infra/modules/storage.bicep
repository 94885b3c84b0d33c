// One StorageV2 account for the Functions host (AzureWebJobsStorage), the Flex Consumption deployment
// container, and the connector's Table Storage (mappings, subscriptions, dead-letter records).
// Identity only: shared keys are disabled, so no connection string with a key exists anywhere.

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Replication. ZRS survives a zone outage; LRS is enough for a dev environment.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_ZRS'

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Tags applied to every resource.')
param tags object = {}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // The Functions host on Flex Consumption without VNet integration reaches storage over public
      // endpoints from addresses that are not fixed; access is by Entra ID role only (no keys).
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
  //checkov:skip=CKV_AZURE_35:Flex Consumption without VNet integration reaches host storage from non-fixed public addresses; shared keys are off, so only principals with data roles get in. Use the Elastic Premium option with VNet integration and private endpoints to close it.
  //checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: public endpoint stays reachable for the Functions host; anonymous blob access and shared keys are disabled.
  //checkov:skip=CKV_AZURE_206:Replication is the skuName parameter (ZRS by default). Geo-replication is a cost choice: the mapping tables can be rebuilt, since every calendar event carries its entity key in an extended property.
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
