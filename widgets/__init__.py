"""Textual widgets for Cutover Console.

Widgets render the state they are given. They never talk to Kafka or SQLite
themselves; the app's workers fetch data and hand it to them.
"""
