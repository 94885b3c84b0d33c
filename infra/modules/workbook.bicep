// The connector's Azure Monitor workbook: every metric of docs/telemetry-names.md, charted from Application
// Insights customMetrics (events by outcome, dead letters, Graph requests, 429s and waits by mailbox bucket, queue
// lag and oldest age, subscriptions, credential days left, connections, breakers, drift). The workbook itself is
// infra/workbooks/connector.workbook.json (edit it in the portal's Advanced Editor and paste it back); it opens on
// the Application Insights component it is saved with.

@description('Display name of the workbook (unique in the resource group).')
param displayName string

@description('Azure region.')
param location string

@description('Resource id of the Application Insights component the workbook reads.')
param appInsightsId string

@description('Tags applied to every resource.')
param tags object = {}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name is a GUID; this one is stable per component, so a deployment updates it in place.
  name: guid(appInsightsId, 'connector-workbook')
  location: location
  tags: union(tags, {
    'hidden-title': displayName
  })
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: replace(loadTextContent('../workbooks/connector.workbook.json'), '__APP_INSIGHTS_ID__', appInsightsId)
  }
}

output id string = workbook.id
