// Graph change notifications through Azure Event Grid (graphNotificationDelivery = eventGrid): authorise the
// Microsoft Graph API partner to create a partner topic in this resource group. Graph creates that topic itself
// when the connector makes its first subscription with an EventGrid: notificationUrl, so the topic, its activation
// and its event subscription to the Event Grid trigger cannot be declared here: docs/operations.md has the steps.
//
// learn.microsoft.com/azure/event-grid/subscribe-to-graph-api-events ("Authorize Microsoft Graph API (partner) to
// create a partner topic in your resource group"); learn.microsoft.com/azure/event-grid/subscribe-to-partner-events.

@description('Days the authorisation lasts from this deployment (1-365); every deployment renews it. Graph needs it to create (or re-create) the partner topic.')
@minValue(1)
@maxValue(365)
param authorizationDays int = 365

@description('Deployment time, the start of the authorisation (leave the default).')
param now string = utcNow()

@description('Tags applied to every resource.')
param tags object = {}

// One partner configuration per resource group, always named "default". A deployment writes its whole list of
// authorised partners: authorise other partners in this resource group here too, or in a resource group of their own.
resource partnerConfiguration 'Microsoft.EventGrid/partnerConfigurations@2025-02-15' = {
  name: 'default'
  location: 'global'
  tags: tags
  properties: {
    partnerAuthorization: {
      defaultMaximumExpirationTimeInDays: authorizationDays
      authorizedPartnersList: [
        {
          // The partner's name as Event Grid lists verified partners (az eventgrid partner verified-partner list).
          partnerName: 'MicrosoftGraphAPI'
          authorizationExpirationTimeInUtc: dateTimeAdd(now, 'P${authorizationDays}D')
        }
      ]
    }
  }
}

output partnerConfigurationId string = partnerConfiguration.id
