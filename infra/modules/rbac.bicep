// Role assignments for the connector's managed identity: exactly what the app needs, scoped to the smallest
// resource the role allows (each queue, the one secret the app rotates). Nothing at resource-group or
// subscription scope.

@description('Principal (object) id of the app\'s user-assigned managed identity.')
param appPrincipalId string

@description('Storage account that holds host storage, the deployment container and the tables.')
param storageAccountName string

@description('Service Bus namespace of the connector\'s queues.')
param serviceBusNamespaceName string

@description('The connector\'s queues: the app sends to and receives from each (ingest, reschedules, replays).')
param queueNames array

@description('Key Vault that holds the connector\'s secrets.')
param keyVaultName string

@description('Key Vault secret the app writes new versions of when it rotates its Graph credential (graph-client-secret or graph-client-certificate); empty: no rotation, no write access. The secret must exist before it is named here.')
param rotatedSecretName string = ''

@description('Optional: object id of an administrator (user or group) who sets secret values; gets Key Vault Secrets Officer on this vault only.')
param secretsAdminPrincipalId string = ''

@description('Principal type of secretsAdminPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param secretsAdminPrincipalType string = 'User'

// Built-in role definition ids (identical in every Azure tenant).
var roles = {
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusNamespaceName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = [for queueName in queueNames: {
  parent: serviceBus
  name: queueName
}]

// Service Bus, per queue: send (HTTP ingest, throttling reschedules, replays) and receive (queue triggers).
resource sbSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, appPrincipalId, roles.serviceBusDataSender)
  scope: queues[i]
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
  }
}]

resource sbReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, appPrincipalId, roles.serviceBusDataReceiver)
  scope: queues[i]
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
  }
}]

// Host storage: the Functions host keeps leases, timer state and keys in blobs, and Flex Consumption
// reads the deployment package from a blob container. Storage Blob Data Owner is the documented role.
// No Storage Queue Data Contributor: the host needs storage queues only for blob triggers and Durable
// Functions, and the connector has neither (its queues are Service Bus).
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// Table Storage: mappings, subscriptions and dead-letter records (the app creates its tables).
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Key Vault: read secrets (Key Vault references and the app's own reads).
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource rotatedSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: empty(rotatedSecretName) ? 'none' : rotatedSecretName
}

// Key Vault: write new versions of the one secret the app rotates, and nothing else (it must not be able to
// overwrite the clientState key or the outbound webhook secret).
resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(rotatedSecretName)) {
  name: guid(vault.id, rotatedSecretName, appPrincipalId, roles.keyVaultSecretsOfficer)
  scope: rotatedSecret
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

// The administrator who puts the Graph client secret into the vault (RBAC vaults grant nobody data access by default).
resource adminSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsAdminPrincipalId)) {
  name: guid(vault.id, secretsAdminPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: secretsAdminPrincipalId
    principalType: secretsAdminPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}
