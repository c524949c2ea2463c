"""Talking to Kafka: client configs and error wording (client), the broker version probe
(probe), reading a cluster's inventory (inventory), and how shadow traffic is tagged
(provenance). Engine code: explicit timeouts, never on the UI thread, no Textual."""
