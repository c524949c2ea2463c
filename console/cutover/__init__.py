"""Consumer and producer cutover and rollback: moving one class at a time behind a gate.

Empty in this version. The next phases land here: translating a group's committed
offsets source to target and applying them when the group is empty, moving a producer
class, and holding the rollback window open. They sit beside the shadow path and the
comparison (they may use the store, Kafka and the shadow path's offset maps) and below
the runbook, whose runners call them.
"""
