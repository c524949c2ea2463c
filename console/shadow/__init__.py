"""The shadow path: how traffic reaches the target and how far behind it is.

``mirror/`` is the built-in exactly-once mirror, ``mm2/`` MirrorMaker 2 on a Kafka
Connect cluster, ``external`` a copy the console only observes, and ``lag`` the sampler
and trend verdicts that work the same for all three.
"""
