"""Azure Functions entry points: the only package that imports azure.functions; one blueprint per capability."""
