"""The REST face: routes, problem+json errors, and the self-hosted Swagger UI."""
