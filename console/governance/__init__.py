"""The governance diff: who may do what, and how topics are set, on source and target.

For the plan's topics, groups and principals: ACLs (literal and prefixed; topic, group,
cluster, transactional id), SCRAM users, the topic configs that matter, partition
counts, client quotas, and schema subjects with their compatibility level when both
clusters name a registry. ``read`` reads one side, ``diff`` (pure) lists every
difference as an item, ``decisions`` folds the per-item decisions (accept, apply,
skip, with who decided) into the ``governance`` evidence, and ``apply`` makes the
selected ACLs and configs true on the **target**; nothing here ever changes the source.
"""
