"""The runbook: a step's gate (preview, decision) and its execution, one way for all."""
