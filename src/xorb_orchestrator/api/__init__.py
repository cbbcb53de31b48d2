"""The HTTP API: routing, auth, request/response mapping. No business logic."""
