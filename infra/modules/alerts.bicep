// Alerts that let the connector run without babysitting: one log search alert per condition an operator must act on,
// over the metrics the app exports to Application Insights (customMetrics, names in docs/telemetry-names.md), plus
// Service Bus's own dead-letter count as a backstop. Each description says where to look and what to do; the
// operator endpoints (/api/manage/...) take the master key. docs/operations.md lists them with the fixes.
//
// A gauge is read as its latest value in the window (the app exports every minute while an instance runs); a
// counter as the sum of its exported increments. Every rule splits by tenant (and queue, kind or source), so each
// one names what is wrong. Rules resolve themselves once the condition clears (autoMitigate).

@description('Prefix of every alert name, e.g. calconn-dev.')
param namePrefix string

@description('Azure region of the log search alert rules (the Application Insights region).')
param location string

@description('Resource id of the Application Insights component the app exports its metrics to.')
param appInsightsId string

@description('Resource id of the Service Bus namespace (its DeadletteredMessages metric is the platform backstop).')
param serviceBusNamespaceId string

@description('Evaluate the rules (false: they stay deployed but disabled, and notify nobody).')
param enableAlerts bool = true

@description('Email addresses notified when an alert fires or resolves; empty: no action group (the alerts still show in Azure Monitor).')
param emailAddresses array = []

@description('Short name of the action group (at most 12 characters, shown in SMS and email subjects).')
@maxLength(12)
param actionGroupShortName string = 'connector'

@description('Alert when a Graph credential expires within this many days (the app rotates 30 days ahead by default).')
@minValue(1)
@maxValue(90)
param credentialDaysLeftThreshold int = 14

@description('Alert when more than this percentage of Graph requests were throttled (429/503/504 with Retry-After) over 15 minutes.')
@minValue(1)
@maxValue(100)
param throttledPercentThreshold int = 5

@description('Throttling rate is judged only with at least this many Graph requests in the 15-minute window (fewer is noise).')
@minValue(1)
param throttledMinimumRequests int = 50

@description('Alert when the oldest active message of a queue is older than this many seconds.')
@minValue(60)
param queueOldestAgeThresholdSeconds int = 900

@description('Tags applied to every resource.')
param tags object = {}

var manage = 'on https://<function app host>, with the master key'

// A gauge's latest value in the window, per dimension combination: the rule compares the measure column.
var deadLettersQuery = '''
customMetrics
| where name == "connector.deadletters.open"
| extend tenant = tostring(customDimensions.tenant)
| summarize arg_max(timestamp, value) by tenant
| project timestamp, tenant, open_dead_letters = value
'''

var subscriptionsQuery = '''
customMetrics
| where name == "connector.subscriptions" and tostring(customDimensions.state) == "failing"
| extend tenant = tostring(customDimensions.tenant)
| summarize arg_max(timestamp, value) by tenant
| project timestamp, tenant, failing_subscriptions = value
'''

var credentialQuery = '''
customMetrics
| where name == "connector.credential.days_left"
| extend tenant = tostring(customDimensions.tenant), kind = tostring(customDimensions.kind)
| summarize arg_max(timestamp, value) by tenant, kind
| project timestamp, tenant, kind, days_left = value
'''

var connectionsQuery = '''
customMetrics
| where name == "connector.connections.needs_reconnect"
| extend tenant = tostring(customDimensions.tenant)
| summarize arg_max(timestamp, value) by tenant
| project timestamp, tenant, needs_reconnect = value
'''

// Counters are exported as increments: their sum over the window is what happened in it.
var throttledQuery = format('''
customMetrics
| where name in ("connector.graph.requests", "connector.graph.throttled")
| extend tenant = tostring(customDimensions.tenant)
| summarize requests = sumif(valueSum, name == "connector.graph.requests"),
            throttled = sumif(valueSum, name == "connector.graph.throttled"),
            timestamp = max(timestamp) by tenant
| where requests >= {0}
| project timestamp, tenant, throttled_percent = 100.0 * throttled / requests
''', throttledMinimumRequests)

var breakersQuery = '''
customMetrics
| where name == "connector.breakers.tripped"
| extend tenant = tostring(customDimensions.tenant), source = tostring(customDimensions.source)
| summarize arg_max(timestamp, value) by tenant, source
| project timestamp, tenant, source, tripped = value
'''

var queueAgeQuery = '''
customMetrics
| where name == "connector.queue.oldest_age_seconds"
| extend queue = tostring(customDimensions.queue)
| summarize arg_max(timestamp, value) by queue
| project timestamp, queue, oldest_age_seconds = value
'''

// One entry per alert. severity: 0 critical, 1 error, 2 warning, 3 informational.
var logAlerts = [
  {
    key: 'deadletters'
    displayName: 'Connector: dead letters waiting'
    description: 'The connector gave up on messages (a permanent error: an invalid event, a mailbox the app may not reach, a room it cannot write) and keeps them in its dead-letter list. What to do: list them with GET /api/manage/deadletters (${manage}); each one carries its reason. Fix the cause (the event at its source, the mailbox access policy or permission that GET /api/manage/doctor names), then POST /api/manage/deadletters/{id}/replay, or DELETE /api/manage/deadletters/{id} for one that must not be applied. The alert resolves when none is left open.'
    severity: 2
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    query: deadLettersQuery
    measure: 'open_dead_letters'
    dimensions: [
      'tenant'
    ]
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    key: 'subscriptions'
    displayName: 'Connector: room subscriptions failing'
    description: 'Graph refused or removed the change-notification subscription of one or more rooms, so bookings made in Outlook for them no longer reach the booking system. What to do: GET /api/manage/rooms (${manage}) lists each room with its subscription state and reason; GET /api/manage/doctor checks the token, permissions (Calendars.Read for rooms) and the notification endpoint. Fix the cause (consent, an application access policy that leaves the room out, an endpoint Graph cannot reach, or with Event Grid delivery a partner topic that is not activated), then PUT /api/manage/rooms/{email} to subscribe the room again.'
    severity: 2
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    query: subscriptionsQuery
    measure: 'failing_subscriptions'
    dimensions: [
      'tenant'
    ]
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    key: 'credential'
    displayName: 'Connector: Graph credential expires soon'
    description: 'A Graph client secret or certificate expires within ${credentialDaysLeftThreshold} days: automatic rotation did not happen or is off. When it expires every Graph call fails. What to do: GET /api/manage/credentials (${manage}) shows the kind, expiry, days left, the last rotation and its problem. Fix the cause (secret: Application.ReadWrite.OwnedBy and ownership of the app registration, enableSecretRotation and its Key Vault role; docs/deployment.md section 3, Which credential), then POST /api/manage/credentials/rotate; or add a new secret or certificate by hand and put it into Key Vault (docs/deployment.md step 6). Federated credentials do not expire.'
    severity: 1
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    query: credentialQuery
    measure: 'days_left'
    dimensions: [
      'tenant'
      'kind'
    ]
    operator: 'LessThan'
    threshold: credentialDaysLeftThreshold
  }
  {
    key: 'connections'
    displayName: 'Connector: people must reconnect'
    description: 'One or more delegated connections need the person to sign in again (Entra refused the refresh token: password changed, consent revoked, inactivity or MFA now required). Their pending work waits; nothing is lost. What to do: GET /api/manage/connections (${manage}) lists who; ask each person to reconnect through the booking system (the connection.needs-reconnect event told it too). The work resumes by itself after the reconnect.'
    severity: 3
    evaluationFrequency: 'PT1H'
    windowSize: 'PT2H'
    query: connectionsQuery
    measure: 'needs_reconnect'
    dimensions: [
      'tenant'
    ]
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    key: 'throttling'
    displayName: 'Connector: Graph throttling'
    description: 'More than ${throttledPercentThreshold} % of the Graph requests of the last 15 minutes were throttled (429, or 503/504 with Retry-After). The connector waits as told and reschedules the work, so nothing is lost, but calendars lag. What to do: open the connector workbook (Graph requests, 429s and wait by mailbox bucket) to see whether a few mailboxes or the whole tenant are throttled; GET /api/manage/doctor (${manage}) for the queue state. Lower the load (fewer instances: flexMaximumInstanceCount; fewer sessions at once: host.json maxConcurrentSessions; a large backfill can wait). The alert resolves when the rate falls.'
    severity: 2
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: throttledQuery
    measure: 'throttled_percent'
    dimensions: [
      'tenant'
    ]
    operator: 'GreaterThan'
    threshold: throttledPercentThreshold
  }
  {
    key: 'breakers'
    displayName: 'Connector: mass-deletion breaker tripped'
    description: 'A source asked to delete more appointments at once than the breaker allows, so the connector holds these deletes instead of emptying calendars. What to do: GET /api/manage/breakers (${manage}) shows the source, how many deletes are held and since when. Ask the planning system whether the deletions are intended: if they are, release them there; if not (a faulty export, a wrong filter), discard them and fix the source. Calendars are untouched until you decide.'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: breakersQuery
    measure: 'tripped'
    dimensions: [
      'tenant'
      'source'
    ]
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    key: 'queueage'
    displayName: 'Connector: queue falling behind'
    description: 'The oldest active message of a queue is older than ${queueOldestAgeThresholdSeconds} seconds: the workers are not keeping up or not running, and calendars lag. What to do: GET /api/manage/doctor (${manage}) checks Service Bus, storage and the token; https://<app>/admin/host/status that the host runs. Look for failing functions and exceptions in Application Insights, Graph throttling in the connector workbook, and the plan\'s scale limit (flexMaximumInstanceCount). The alert resolves when the queue catches up.'
    severity: 2
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: queueAgeQuery
    measure: 'oldest_age_seconds'
    dimensions: [
      'queue'
    ]
    operator: 'GreaterThan'
    threshold: queueOldestAgeThresholdSeconds
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(emailAddresses)) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: actionGroupShortName
    enabled: enableAlerts
    emailReceivers: [for (address, i) in emailAddresses: {
      name: 'email-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

var actionGroupIds = empty(emailAddresses) ? [] : [
  actionGroup.id
]

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for alert in logAlerts: {
  name: 'alert-${namePrefix}-${alert.key}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: alert.displayName
    description: alert.description
    severity: alert.severity
    enabled: enableAlerts
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: alert.evaluationFrequency
    windowSize: alert.windowSize
    criteria: {
      allOf: [
        {
          query: alert.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: alert.measure
          dimensions: [for dimension in alert.dimensions: {
            name: dimension
            operator: 'Include'
            values: [
              '*'
            ]
          }]
          operator: alert.operator
          threshold: alert.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}]

// Service Bus's own count: messages that failed maxDeliveryCount (10) deliveries in a row or expired. The connector
// records its permanent errors in its own list (above) and completes the message, so anything here is a crash,
// a timeout or an outage that outlasted ten deliveries.
resource serviceBusDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-servicebus-deadletters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Service Bus moved messages to a queue\'s dead-letter sub-queue (ten failed deliveries in a row, or expiry). These are not in the connector\'s own list: the function crashed or timed out on them. What to do: GET /api/manage/doctor (${manage}) and the exceptions in Application Insights for the cause; the count per queue is in docs/deployment.md step 9.5 (az servicebus queue show). After the fix, re-send the messages from the portal\'s Service Bus Explorer (queue, Dead-letter, Re-send) or delete them. The alert resolves when the dead-letter sub-queues are empty.'
    severity: 2
    enabled: enableAlerts
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'deadlettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: empty(emailAddresses) ? [] : [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output logAlertNames array = [for (alert, i) in logAlerts: logAlertRules[i].name]
output actionGroupId string = empty(emailAddresses) ? '' : actionGroup.id
