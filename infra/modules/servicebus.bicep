// Service Bus namespace (Standard: sessions and duplicate detection need it) with the connector's queues.
// Local (SAS) authentication is disabled: senders and receivers authenticate with Entra ID only.

@description('Service Bus namespace name.')
param name string

@description('Azure region.')
param location string

@description('Standard is the smallest tier with sessions and duplicate detection; Premium adds isolation and VNet.')
@allowed([
  'Standard'
  'Premium'
])
param skuName string = 'Standard'

@description('Queue names. Every queue gets the same session, de-duplication and dead-letter settings.')
param queueNames array = [
  'planning-events'
  'graph-notifications'
  'outbound-events'
]

@description('How long a receiver holds a message lock before it is renewed (the host renews it up to host.json maxAutoLockRenewalDuration).')
param lockDuration string = 'PT1M'

@description('Window in which a repeated MessageId is dropped as a duplicate.')
param duplicateDetectionWindow string = 'PT10M'

@description('How long an undelivered message lives before it is dead-lettered.')
param messageTimeToLive string = 'P14D'

@description('Tags applied to every resource.')
param tags object = {}

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for queueName in queueNames: {
  parent: namespace
  name: queueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    lockDuration: lockDuration
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}]

output id string = namespace.id
output name string = namespace.name
output queueNames array = queueNames
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (another suffix in sovereign clouds).
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
