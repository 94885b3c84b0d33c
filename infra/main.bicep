// Microsoft 365 Calendar Connector: the whole Azure footprint in one resource group.
//
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/parameters/<env>.json \
//     -p graphTenantId=<tenant guid> graphClientId=<app client id>
//
// Every deploy-time choice is a parameter and lives in infra/parameters/<env>.json (the CI deploy passes that file);
// a deployment changes only the app settings its parameters name (infra/modules/appsettings.bicep).
//
// Identity based throughout: one user-assigned managed identity, data-plane roles scoped to each resource,
// no storage keys, no Service Bus SAS, secrets only as Key Vault references. See docs/deployment.md.

targetScope = 'resourceGroup'

@description('Environment name, part of every resource name (e.g. dev, test, prod).')
@minLength(2)
@maxLength(8)
param environmentName string

@description('Azure region of every resource (Flex Consumption must be offered there).')
param location string = resourceGroup().location

@description('Short name of the workload, part of every resource name (lowercase letters and digits).')
@minLength(3)
@maxLength(10)
param baseName string = 'calconn'

@description('Directory (tenant) id of the Microsoft Entra app registration used for Microsoft Graph.')
@minLength(36)
@maxLength(36)
param graphTenantId string

@description('Application (client) id of the Microsoft Entra app registration used for Microsoft Graph.')
@minLength(36)
@maxLength(36)
param graphClientId string

@description('Accepted audiences (comma-separated) of an operator\'s access token for the operator API (/api/manage): the app registration that defines the app roles Connector.Operator and Connector.Reader (docs/deployment.md, "Operators"). Empty: the Graph app registration itself (its client id and api://<client id>).')
param operatorAudience string = ''

@description('FlexConsumption (default) or ElasticPremium (VNet integration, pre-warmed instances; runs from a package URL in blob storage, see docs/deployment.md section 12).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('Flex Consumption: most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param flexMaximumInstanceCount int = 100

@description('Flex Consumption: memory of one instance in MB.')
@allowed([
  512
  2048
  4096
])
param flexInstanceMemoryMB int = 2048

@description('Flex Consumption: always-ready instances for the HTTP trigger group, so Graph\'s validation handshake (10 s) and notification answers (3 s) never wait for a cold start. Each one bills the always-ready baseline while idle (docs/deployment.md section 12); 0: scale to zero.')
@minValue(0)
@maxValue(10)
param flexAlwaysReadyHttpInstances int = 1

@description('Elastic Premium: plan size.')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param elasticPremiumSku string = 'EP1'

@description('Elastic Premium: instances kept warm.')
@minValue(1)
@maxValue(20)
param elasticPremiumMinimumInstances int = 1

@description('Spread the plan over availability zones (where the region and plan support it).')
param zoneRedundant bool = false

@description('Storage replication (host storage and the connector\'s tables).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_ZRS'

@description('Service Bus tier: Standard or above (sessions, duplicate detection).')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSkuName string = 'Standard'

@description('Days Log Analytics and Application Insights keep data.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Booking-system webhook for reservation events (Standard Webhooks); empty: none. Its signing secret is the Key Vault secret "outbound-webhook-secret". No default: the parameter file names it, so a deployment never turns it off by omission.')
param outboundWebhookUrl string

@description('Connector app settings that differ from their defaults (infra/modules/functionapp.bicep), e.g. {"CALENDAR_MSGRAPH_SYNCHRONIZE": "true"}.')
param appSettingOverrides object = {}

@description('Automatic credential rotation: grant the app Key Vault Secrets Officer on the one secret it rotates (graph-client-secret or graph-client-certificate, by graphCredentialKind), which must exist first. No default: the parameter file names it.')
param enableSecretRotation bool

@description('Optional object id of the administrator (user or group) who sets secret values; gets Key Vault Secrets Officer on the vault.')
param secretsAdminPrincipalId string = ''

@description('Principal type of secretsAdminPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param secretsAdminPrincipalType string = 'User'

@description('How the app authenticates to Graph: secret, certificate or federated (see README, Credentials). No default: the parameter file names it, so a deployment never switches it back by omission.')
@allowed([
  'secret'
  'certificate'
  'federated'
])
param graphCredentialKind string

@description('How Graph delivers room change notifications: webhook (a public HTTPS endpoint of the app, the default) or eventGrid (Graph publishes to an Event Grid partner topic in this resource group that feeds the app\'s Event Grid trigger: no inbound endpoint for Graph; the partner topic needs activating once, docs/operations.md).')
@allowed([
  'webhook'
  'eventGrid'
])
param graphNotificationDelivery string = 'webhook'

@description('Evaluate the connector\'s alert rules (docs/operations.md); false leaves them deployed but disabled.')
param enableAlerts bool = true

@description('Email addresses notified when an alert fires or resolves; empty: no action group (alerts still show in Azure Monitor).')
param alertEmailAddresses array = []

@description('Alert when a Graph credential expires within this many days.')
@minValue(1)
@maxValue(90)
param alertCredentialDaysLeft int = 14

@description('Alert when more than this percentage of Graph requests is throttled over 15 minutes.')
@minValue(1)
@maxValue(100)
param alertThrottledPercent int = 5

@description('Alert when the oldest active message of a queue is older than this many seconds.')
@minValue(60)
param alertQueueOldestAgeSeconds int = 900

@description('Tags applied to every resource.')
param tags object = {}

var allTags = union({
  workload: 'm365-calendar-connector'
  environment: environmentName
}, tags)

var workloadName = toLower('${baseName}-${environmentName}')
var suffix = uniqueString(subscription().id, resourceGroup().id, baseName, environmentName)
var storageAccountName = take(toLower(replace('st${baseName}${environmentName}${suffix}', '-', '')), 24)
var keyVaultName = take('kv-${workloadName}-${suffix}', 24)
var deploymentContainerName = 'app-package'
// Event Grid delivery: the partner topic Graph creates on the first subscription (unique per region), and the
// notificationUrl that names it (learn.microsoft.com/azure/event-grid/subscribe-to-graph-api-events).
var graphPartnerTopicName = 'graph-${workloadName}'
var graphEventGridNotificationUrl = 'EventGrid:?azuresubscriptionid=${subscription().subscriptionId}&resourcegroup=${resourceGroup().name}&partnertopic=${graphPartnerTopicName}&location=${location}'
// Key Vault secret names, shared by the app settings (references, names the app reads) and the role assignments.
var secretNames = {
  graphClientSecret: 'graph-client-secret'
  graphCertificate: 'graph-client-certificate'
}
// The one secret the app writes new versions of: its own Graph credential, when rotation is on.
var rotatedSecretName = (!enableSecretRotation) ? '' : ((graphCredentialKind == 'secret') ? secretNames.graphClientSecret : ((graphCredentialKind == 'certificate') ? secretNames.graphCertificate : ''))

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-${workloadName}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: 'log-${workloadName}'
    appInsightsName: 'appi-${workloadName}'
    location: location
    retentionInDays: logRetentionInDays
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageAccountName
    location: location
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    tags: allTags
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: 'sb-${workloadName}-${suffix}'
    location: location
    skuName: serviceBusSkuName
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: keyVaultName
    location: location
    tags: allTags
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    appPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    queueNames: serviceBus.outputs.queueNames
    keyVaultName: keyVault.outputs.name
    rotatedSecretName: rotatedSecretName
    secretsAdminPrincipalId: secretsAdminPrincipalId
    secretsAdminPrincipalType: secretsAdminPrincipalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: 'func-${workloadName}-${take(suffix, 8)}'
    planName: 'plan-${workloadName}'
    location: location
    hostingPlan: hostingPlan
    flexMaximumInstanceCount: flexMaximumInstanceCount
    flexInstanceMemoryMB: flexInstanceMemoryMB
    flexAlwaysReadyHttpInstances: flexAlwaysReadyHttpInstances
    elasticPremiumSku: elasticPremiumSku
    elasticPremiumMinimumInstances: elasticPremiumMinimumInstances
    zoneRedundant: zoneRedundant
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    tableEndpoint: storage.outputs.tableEndpoint
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultUri: keyVault.outputs.uri
    appInsightsConnectionString: monitoring.outputs.connectionString
    graphTenantId: graphTenantId
    graphClientId: graphClientId
    operatorAudience: operatorAudience
    graphCredentialKind: graphCredentialKind
    graphClientSecretName: secretNames.graphClientSecret
    graphCertificateName: secretNames.graphCertificate
    outboundWebhookUrl: outboundWebhookUrl
    graphNotificationDelivery: graphNotificationDelivery
    graphEventGridNotificationUrl: (graphNotificationDelivery == 'eventGrid') ? graphEventGridNotificationUrl : ''
    settingOverrides: appSettingOverrides
    tags: allTags
  }
  // The host starts as soon as the site exists: give it its storage, queue and vault roles first.
  dependsOn: [
    rbac
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    namePrefix: workloadName
    location: location
    appInsightsId: monitoring.outputs.appInsightsId
    serviceBusNamespaceId: serviceBus.outputs.id
    enableAlerts: enableAlerts
    emailAddresses: alertEmailAddresses
    actionGroupShortName: take('${baseName}${environmentName}', 12)
    credentialDaysLeftThreshold: alertCredentialDaysLeft
    throttledPercentThreshold: alertThrottledPercent
    queueOldestAgeThresholdSeconds: alertQueueOldestAgeSeconds
    tags: allTags
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    displayName: 'Calendar connector (${environmentName})'
    location: location
    appInsightsId: monitoring.outputs.appInsightsId
    tags: allTags
  }
}

// Event Grid delivery: authorise the Microsoft Graph API partner to create the partner topic in this resource group.
// Graph creates the topic on the connector's first subscription; activating it and subscribing the Event Grid
// trigger follow (docs/operations.md, "Webhook or Event Grid").
module eventGrid 'modules/eventgrid.bicep' = if (graphNotificationDelivery == 'eventGrid') {
  name: 'eventgrid'
  params: {
    tags: allTags
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output storageAccountName string = storage.outputs.name
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output managedIdentityClientId string = identity.outputs.clientId
// Zero-secret federation (graphCredentialKind federated): run once, with rights on the app registration.
output federatedCredentialCommand string = 'az ad app federated-credential create --id ${graphClientId} --parameters \'{"name":"calendar-connector-${environmentName}","issuer":"${environment().authentication.loginEndpoint}${graphTenantId}/v2.0","subject":"${identity.outputs.principalId}","audiences":["api://AzureADTokenExchange"],"description":"Function App ${functionApp.outputs.name} (user-assigned managed identity)"}\''
output appInsightsName string = monitoring.outputs.appInsightsName
output hostingPlan string = hostingPlan
// Elastic Premium runs from this blob (WEBSITE_RUN_FROM_PACKAGE); a deployment uploads the package here.
output packageUrl string = functionApp.outputs.packageUrl
// Event Grid delivery: the notificationUrl (and lifecycleNotificationUrl) of the connector's Graph subscriptions.
output graphEventGridNotificationUrl string = (graphNotificationDelivery == 'eventGrid') ? graphEventGridNotificationUrl : ''
