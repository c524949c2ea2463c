"""Comparing the source and target copies of the plan's topics, partition by partition.

``engine`` runs a comparison window; ``windows`` works out the offset ranges, ``executor``
runs partitions in threads or processes, ``reader`` streams them from Kafka, ``align``
pairs records, ``resolve`` turns what is left into verdicts, ``model`` names the checks,
``schema`` asks the registries, ``view`` folds results into what the pane shows.
"""
