// The connector's Function App (Linux, Python 3.11): Flex Consumption by default, Elastic Premium on request
// (VNet integration, pre-warmed instances). All connections are identity based: no key, connection string
// or secret value is an app setting. Secrets are Key Vault references resolved with the user-assigned identity.

@description('Function App name (globally unique host name).')
param name string

@description('App Service plan name.')
param planName string

@description('Azure region.')
param location string

@description('FlexConsumption (default, scales to zero) or ElasticPremium (VNet, pre-warmed instances).')
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

@description('Flex Consumption: always-ready instances of the HTTP trigger group (webhooks answer Graph without a cold start); 0: none.')
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

@description('Elastic Premium: instances kept warm (always ready).')
@minValue(1)
@maxValue(20)
param elasticPremiumMinimumInstances int = 1

@description('Elastic Premium: most instances the plan bursts to.')
@minValue(1)
@maxValue(100)
param elasticPremiumMaximumBurst int = 20

@description('Spread the plan\'s instances over availability zones (where the region and plan support it).')
param zoneRedundant bool = false

@description('Resource id of the app\'s user-assigned managed identity.')
param identityId string

@description('Client id of the app\'s user-assigned managed identity.')
param identityClientId string

@description('Host storage account name (AzureWebJobsStorage, identity based).')
param storageAccountName string

@description('Blob container URL of the deployment package (Flex Consumption: the platform\'s; Elastic Premium: elasticPremiumPackageBlobName in it).')
param deploymentContainerUrl string

@description('Elastic Premium: blob (in the deployment container) the app runs from, read with the user-assigned identity.')
param elasticPremiumPackageBlobName string = 'connector.zip'

@description('Table service endpoint for the connector\'s tables, e.g. https://<account>.table.core.windows.net/.')
param tableEndpoint string

@description('Fully qualified Service Bus namespace, e.g. <name>.servicebus.windows.net.')
param serviceBusFullyQualifiedNamespace string

@description('Key Vault URI, e.g. https://<vault>.vault.azure.net/.')
param keyVaultUri string

@description('Application Insights connection string (an ingestion endpoint and key, not a data-access secret).')
param appInsightsConnectionString string

@description('Directory (tenant) id of the Graph app registration.')
param graphTenantId string

@description('Application (client) id of the Graph app registration.')
param graphClientId string

@description('Accepted audiences (comma-separated) of an operator\'s access token; empty: the Graph app registration (client id and api://<client id>).')
param operatorAudience string = ''

@description('Key Vault secret name of the Graph app registration\'s client secret.')
param graphClientSecretName string = 'graph-client-secret'

@description('Booking-system webhook that receives reservation events (Standard Webhooks); empty: none.')
param outboundWebhookUrl string = ''

@description('Key Vault secret name of the outbound webhook signing secret (whsec_...); referenced only when outboundWebhookUrl is set.')
param outboundWebhookSecretName string = 'outbound-webhook-secret'

@description('Key Vault secret name of the HMAC key that signs Graph subscription clientStates (32+ random characters; comma-separated while rotating).')
param clientStateKeySecretName string = 'connector-client-state-key'

@description('Key Vault secret name of the AES-256 key(s) that encrypt people\'s token caches and sign the connect state (32 random bytes in base64; comma-separated while rotating, the first encrypts).')
param tokenEncryptionKeySecretName string = 'connector-token-encryption-key'

@description('How the app proves itself to Entra: secret (in Key Vault, rotated by the app), certificate (in Key Vault, rolled by the app) or federated (the managed identity, nothing stored).')
@allowed([
  'secret'
  'certificate'
  'federated'
])
param graphCredentialKind string = 'secret'

@description('Key Vault secret name of the certificate (PEM or PKCS#12, with its private key) when graphCredentialKind is certificate.')
param graphCertificateName string = 'graph-client-certificate'

@description('How Graph delivers room change notifications: webhook (public HTTPS endpoint, the default) or eventGrid (an Event Grid partner topic feeding the Event Grid trigger; docs/operations.md).')
@allowed([
  'webhook'
  'eventGrid'
])
param graphNotificationDelivery string = 'webhook'

@description('With graphNotificationDelivery eventGrid: the partner topic Graph publishes to, as Graph\'s notificationUrl (EventGrid:?azuresubscriptionid=...&resourcegroup=...&partnertopic=...&location=...); empty for webhook.')
param graphEventGridNotificationUrl string = ''

@description('Connector settings that differ from the defaults below, e.g. {"CALENDAR_MSGRAPH_SYNCHRONIZE": "true"}.')
param settingOverrides object = {}

@description('Tags applied to every resource.')
param tags object = {}

var isFlex = hostingPlan == 'FlexConsumption'

// Versionless Key Vault references: the platform follows a new secret version (after its periodic refresh).
var graphClientSecretReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${graphClientSecretName}/)'
var outboundWebhookSecretReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${outboundWebhookSecretName}/)'
var clientStateKeyReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${clientStateKeySecretName}/)'
var tokenEncryptionKeyReference = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${tokenEncryptionKeySecretName}/)'

var flexSku = {
  name: 'FC1'
  tier: 'FlexConsumption'
}

var elasticPremiumPlanSku = {
  name: elasticPremiumSku
  tier: 'ElasticPremium'
  family: 'EP'
}

// Flex Consumption only: where the package lives, how far the app scales, and the runtime.
var flexFunctionAppConfig = {
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
  scaleAndConcurrency: {
    // "http" is the group of every HTTP trigger: the webhooks Graph validates (10 s) and notifies (3 s).
    alwaysReady: (flexAlwaysReadyHttpInstances > 0) ? [
      {
        name: 'http'
        instanceCount: flexAlwaysReadyHttpInstances
      }
    ] : []
    maximumInstanceCount: flexMaximumInstanceCount
    instanceMemoryMB: flexInstanceMemoryMB
  }
  runtime: {
    name: 'python'
    version: '3.11'
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? flexSku : elasticPremiumPlanSku
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
    maximumElasticWorkerCount: isFlex ? null : elasticPremiumMaximumBurst
  }
  //checkov:skip=CKV_AZURE_225:Zone redundancy depends on the region and plan; it is the zoneRedundant parameter (default off because not every region offers it for Flex Consumption).
}

resource site 'Microsoft.Web/sites@2023-12-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  //checkov:skip=CKV_AZURE_17:Callers (Graph change notifications, planning systems, booking systems) cannot present client certificates; HTTP endpoints use function keys and Graph clientState.
  //checkov:skip=CKV_AZURE_62:Microsoft Graph delivers change notifications from addresses that are not a fixed list, and planning systems call in from the internet; endpoints are key-protected.
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      linuxFxVersion: isFlex ? null : 'Python|3.11'
      minimumElasticInstanceCount: isFlex ? null : elasticPremiumMinimumInstances
    }
    functionAppConfig: isFlex ? flexFunctionAppConfig : null
  }
  //checkov:skip=CKV_AZURE_212:Flex Consumption keeps flexAlwaysReadyHttpInstances always ready for HTTP and scales the rest from zero; Elastic Premium keeps elasticPremiumMinimumInstances warm.
  //checkov:skip=CKV_AZURE_213:No anonymous health endpoint: health is read from /admin/host/status and /api/manage/ with keys and from Application Insights (docs/deployment.md).
  //checkov:skip=CKV_AZURE_222:Microsoft Graph must reach the webhook endpoints over the internet; access is controlled by function keys and clientState.
}

// Basic (user name and password) publishing is off: deployments authenticate with Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// ---------------------------------------------------------------------------------------------------------------
// App settings, merged into what the app already has (modules/appsettings.bicep):
//   connectorDefaults   every other setting the code reads, with its default from design.md sections 6 and 10;
//                       written only where the app has no value yet, so an operator's change survives a deployment.
//   the rest            named by the deployment's parameters or wired to the resources this template creates;
//                       every deployment sets them (settingOverrides last).
// Adding a setting is one line in one of them; tests/infra/test_settings_crosscheck.py compares them to the code.
// ---------------------------------------------------------------------------------------------------------------

var connectorDefaults = {
  CALENDAR_MSGRAPH_SYNCHRONIZE: 'false'
  CALENDAR_MSGRAPH_ROTATE_DAYS_BEFORE: '30'
  CALENDAR_MSGRAPH_CREDENTIAL_LIFETIME_DAYS: '180'
  CALENDAR_MSGRAPH_ROTATE_GRACE_HOURS: '24'
  CALENDAR_MSGRAPH_ROTATE_SCHEDULE: '0 30 3 * * *'
  CALENDAR_MSGRAPH_GRAPH_ENDPOINT: 'https://graph.microsoft.com/v1.0'
  CALENDAR_MSGRAPH_AUTH_ENDPOINT: 'https://login.microsoftonline.com'
  CALENDAR_MSGRAPH_SCOPES: 'https://graph.microsoft.com/.default'
  CALENDAR_MSGRAPH_LOOKUP_PRINCIPAL_NAME: 'false'
  CALENDAR_MSGRAPH_TIME_ZONE: 'Europe/Berlin'
  CALENDAR_MSGRAPH_DAYS_BACK: '365'
  CONNECTOR_TABLE_PREFIX: 'connector'
  CONNECTOR_PUBLIC_BASE_URL: 'https://${site.properties.defaultHostName}'
  CONNECTOR_ROOM_BOOKING_MODE: 'organizer'
  CONNECTOR_SUBSCRIPTION_RENEWAL_SCHEDULE: '0 */30 * * * *'
  CONNECTOR_USERS_DIRECTORY_SCHEDULE: '0 */15 * * * *'
  // console | otlp for local runs; deployed, telemetry goes to Application Insights (its connection string).
  CONNECTOR_OTEL_EXPORTER: ''
  CONNECTOR_BREAKER_MAX_DELETES: '200'
  CONNECTOR_BREAKER_WINDOW_MINUTES: '10'
  CONNECTOR_BREAKER_MAX_DELETES_PER_MAILBOX: '50'
  CONNECTOR_BREAKER_MAX_SHARE: '0.5'
  CONNECTOR_BREAKER_MIN_POPULATION: '50'
  CONNECTOR_DRIFT_MODE: 'restore'
  CONNECTOR_DRIFT_SCHEDULE: '0 30 2 * * *'
  CONNECTOR_DRIFT_DAYS_FORWARD: '365'
  // Whose token writes appointments: delegated (the organizer's connection), application, or auto.
  CONNECTOR_APPOINTMENT_AUTH: 'auto'
  // People (design.md section 11): where a connect flow may return the browser (comma-separated URL prefixes)
  // and the mailbox that asks a person to reconnect (empty: no mail).
  CONNECTOR_CONNECT_RETURN_URLS: ''
  CONNECTOR_RECONNECT_MAIL_FROM: ''
  // A burst of events for one task costs one Graph write: each waits this long for a newer one (0: off).
  CONNECTOR_COALESCE_WINDOW_MS: '500'
  CONNECTOR_COALESCE_MAX_MS: '5000'
}

// Named by the deployment's parameters (tenant, client, credential kind, outbound webhook, notification delivery)
// or wired to the vault.
var deploymentSettings = {
  CALENDAR_MSGRAPH_TENANT_GUID: graphTenantId
  CALENDAR_MSGRAPH_CLIENT_ID: graphClientId
  CALENDAR_MSGRAPH_CLIENT_SECRET: graphClientSecretReference
  CALENDAR_MSGRAPH_CREDENTIAL: graphCredentialKind
  // The app reads the newest secret version itself (a Key Vault reference follows a rotation too late).
  CALENDAR_MSGRAPH_KEY_VAULT_URL: keyVaultUri
  CALENDAR_MSGRAPH_CLIENT_SECRET_NAME: graphClientSecretName
  CALENDAR_MSGRAPH_CERTIFICATE_NAME: graphCertificateName
  CONNECTOR_OUTBOUND_WEBHOOK_SECRET_NAME: outboundWebhookSecretName
  CONNECTOR_OUTBOUND_WEBHOOK_URL: outboundWebhookUrl
  CONNECTOR_OUTBOUND_WEBHOOK_SECRET: empty(outboundWebhookUrl) ? '' : outboundWebhookSecretReference
  CONNECTOR_CLIENT_STATE_KEY: clientStateKeyReference
  CONNECTOR_GRAPH_NOTIFICATION_DELIVERY: graphNotificationDelivery
  CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL: graphEventGridNotificationUrl
  // Operators sign in with Entra (app roles Connector.Operator / Connector.Reader); the tenant is the Graph one.
  CONNECTOR_OPERATOR_AUDIENCE: empty(operatorAudience) ? '${graphClientId},api://${graphClientId}' : operatorAudience
  // People's token caches are encrypted with this key (AES-GCM); the app never stores it.
  CONNECTOR_TOKEN_ENCRYPTION_KEY: tokenEncryptionKeyReference
}

// Identity-based connections: the Service Bus trigger/output binding connection "ServiceBusConnection",
// the connector's Table Storage client, and the identity azure-identity picks (DefaultAzureCredential).
var connectionSettings = {
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  TableStorage__endpoint: tableEndpoint
  AZURE_CLIENT_ID: identityClientId
}

// Platform settings of the Functions host.
var hostSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
}

// Flex Consumption takes runtime and version from functionAppConfig and rejects these settings. Elastic Premium
// runs without an Azure Files content share (it would need a storage key), as Microsoft documents it
// (learn.microsoft.com/azure/azure-functions/storage-considerations#create-an-app-without-azure-files): from a
// package in a blob container without anonymous access, read with the user-assigned identity. A deployment uploads
// the package there and restarts the app (docs/deployment.md section 12); there is no remote build.
var packageUrl = '${deploymentContainerUrl}/${elasticPremiumPackageBlobName}'
var elasticPremiumOnlySettings = {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'python'
  WEBSITE_RUN_FROM_PACKAGE: packageUrl
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identityId
}

module appSettings 'appsettings.bicep' = {
  name: 'functionapp-appsettings'
  params: {
    siteName: site.name
    defaults: connectorDefaults
    // Read in this deployment, before the module writes: what the app has now (operator changes included).
    current: list('${site.id}/config/appsettings', '2023-12-01').properties
    settings: union(hostSettings, isFlex ? {} : elasticPremiumOnlySettings, connectionSettings, deploymentSettings, settingOverrides)
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output packageUrl string = isFlex ? '' : packageUrl
