"""azure-identity adapters: credential factory and the Graph token provider."""
