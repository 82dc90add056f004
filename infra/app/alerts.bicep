// What an operator is told about, by e-mail through one action group: the function app answering 5xx,
// a tenant's agent going offline, replies dead-lettered, keys near expiry, Key Vault throttling.

param location string
param tags object
param namePrefix string

@description('E-mail address of the operator who receives the alerts.')
param alertEmail string

param functionAppId string
param applicationInsightsId string
param serviceBusNamespaceId string
param repliesQueueName string
param keyVaultId string
param keyVaultName string

@description('HEARTBEAT_INTERVAL in minutes: an agent is offline after 2 x this + 1 minute without a heartbeat.')
param heartbeatIntervalMinutes int = 5

@description('5xx answers of the function app in 15 minutes that raise the alert.')
@minValue(1)
param http5xxThreshold int = 5

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'writeback'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource http5xx 'Microsoft.Insights/metricAlerts@2026-01-01' = {
  name: '${namePrefix}-http-5xx'
  location: 'global'
  tags: tags
  properties: {
    description: 'The function app answered 5xx (ServiceUnavailable, InternalError, WritebackOffline) more than the threshold allows.'
    severity: 2
    enabled: true
    scopes: [
      functionAppId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'Http5xx'
          metricNamespace: 'Microsoft.Web/sites'
          metricName: 'Http5xx'
          timeAggregation: 'Total'
          operator: 'GreaterThanOrEqual'
          threshold: http5xxThreshold
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// A tenant is offline when none of its agents has a recorded heartbeat fresher than the threshold, or
// the last one said going-offline (shared/heartbeats/monitor.ts). Signals, per tenant:
// - the replies function's log line for each heartbeat it records (shared/replies/processor.ts,
//   "Heartbeat recorded: tenant {t}, agent {id} {version}, {state}, signed at {time}"), which the
//   Functions host sends to Application Insights as a trace;
// - the app's event writeback.operation.refused with code WritebackOffline (a user was turned away).
// A tenant that sent no heartbeat for a day drops out of the first signal (disabled or gone).
var offlineQuery = '''
let freshness = {freshness};
let silent = traces
  | where message startswith "Heartbeat recorded: tenant "
  | parse message with "Heartbeat recorded: tenant " tenantId ", agent " agentId " " agentVersion ", " state ", signed at " *
  | summarize arg_max(timestamp, state) by tenantId, agentId
  | summarize online = countif(state == "online" and timestamp > ago(freshness)) by tenantId
  | where online == 0
  | project tenantId;
let refused = customEvents
  | where timestamp > ago(freshness)
  | where name == "writeback.operation.refused" and tostring(customDimensions.code) == "WritebackOffline"
  | project tenantId = tostring(customDimensions.tenantId);
union silent, refused
| where isnotempty(tenantId)
| summarize signals = count() by tenantId
'''

resource agentOffline 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: '${namePrefix}-agent-offline'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Writeback agent offline'
    description: 'A tenant\'s writeback agent stopped sending heartbeats, or password operations were refused as WritebackOffline.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'P1D'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: replace(offlineQuery, '{freshness}', '${2 * heartbeatIntervalMinutes + 1}m')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'tenantId'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource deadLettered 'Microsoft.Insights/metricAlerts@2026-01-01' = {
  name: '${namePrefix}-replies-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'Replies (results, heartbeats) were dead-lettered in ${repliesQueueName} after their last delivery failed.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                repliesQueueName
              ]
            }
          ]
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource keyVaultThrottled 'Microsoft.Insights/metricAlerts@2026-01-01' = {
  name: '${namePrefix}-key-vault-throttled'
  location: 'global'
  tags: tags
  properties: {
    description: 'Key Vault answered 429: enablement, rollover or reply verification is being throttled.'
    severity: 3
    enabled: true
    scopes: [
      keyVaultId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'Throttled'
          metricNamespace: 'Microsoft.KeyVault/vaults'
          metricName: 'ServiceApiResult'
          dimensions: [
            {
              name: 'StatusCode'
              operator: 'Include'
              values: [
                '429'
              ]
            }
          ]
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// Key Vault publishes KeyNearExpiry 30 days before a key version's expiry date; Event Grid turns each
// event into an alert of the action group.
resource keyVaultEvents 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: '${keyVaultName}-events'
  location: location
  tags: tags
  properties: {
    source: keyVaultId
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource keyNearExpiry 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: keyVaultEvents
  name: 'key-near-expiry'
  properties: {
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.KeyNearExpiry'
      ]
    }
    destination: {
      endpointType: 'MonitorAlert'
      properties: {
        severity: 'Sev2'
        description: 'A tenant key in ${keyVaultName} expires within 30 days: roll it (the key rollover timer, or DELETE and PUT the tenant\'s writeback).'
        actionGroups: [
          actionGroup.id
        ]
      }
    }
  }
}

output actionGroupId string = actionGroup.id
