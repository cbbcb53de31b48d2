"""PlaybookWorkflow: the playbook interpreter (scheduler, steps, approvals, compensation)."""
