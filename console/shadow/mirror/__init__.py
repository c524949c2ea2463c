"""The built-in exactly-once mirror and its exact offset map."""
