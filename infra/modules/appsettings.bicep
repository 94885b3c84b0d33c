// The Function App's app settings, merged so that a deployment changes only what it names.
//
// A Microsoft.Web/sites/config "appsettings" resource replaces the whole list. The caller passes the app's
// current settings (list() of its config/appsettings, read during the deployment) and this module writes
//   union(defaults, current, settings):
// a default fills only a setting the app does not have; a setting the deployment names always wins; every other
// setting (an operator's change, a setting of a later feature) is kept as it is.

@description('Function App name.')
param siteName string

@description('Defaults, written only where the app has no value yet.')
param defaults object

@description('The app\'s current settings, as list() of its config/appsettings returns them (properties).')
param current object

@description('Settings this deployment names (parameters, wiring to the resources of the template): they win.')
param settings object

resource site 'Microsoft.Web/sites@2023-12-01' existing = {
  name: siteName
}

// checkov reads every Microsoft.Web/sites/config resource as the site's "web" configuration; this one is the
// app-settings list only. What those checks ask for is decided on the site, or does not apply to Functions.
resource appSettings 'Microsoft.Web/sites/config@2023-12-01' = {
  parent: site
  //checkov:skip=CKV_AZURE_13:App settings list, not auth config. Flex Consumption has no App Service Authentication; endpoints use function keys, operator tokens checked by the app (Entra app roles) and Graph clientState.
  //checkov:skip=CKV_AZURE_222:App settings list, not network config. Public network access is decided on the site (Graph must reach the webhooks).
  //checkov:skip=CKV_AZURE_88:App settings list. Azure Files would need a storage key; the app runs from a package in blob storage with identity access.
  name: 'appsettings'
  //checkov:skip=CKV_AZURE_63:App settings list. HTTP (web server) logs do not apply to Functions; requests and traces go to Application Insights.
  //checkov:skip=CKV_AZURE_65:App settings list. Detailed error pages do not apply to Functions; failures are logged to Application Insights.
  //checkov:skip=CKV_AZURE_66:App settings list. Failed request tracing is an IIS/Windows feature; Functions on Linux log to Application Insights.
  //checkov:skip=CKV_AZURE_80:App settings list. No .NET Framework in a Python app.
  properties: union(defaults, current, settings)
}
