"""IncidentWorkflow: one incident from its first alert to its closed response."""
