"""The readiness scorecard: six areas, each judged from stored evidence by a rule, never
averaged; the decisions people record on them (owners, waivers, judgements by hand);
and who may approve what (an approver is an OS login the plan names, not a typed name).

``rules`` holds the rule of every area (one table), ``card`` computes the scorecard as
of any audit entry, ``approvals`` establishes who is at the keyboard and what they have
approved, ``export`` writes the JSON and the Markdown for the pre-cutover meeting. Reads
the run database; it never talks to Kafka. Sits above the phases it reads evidence of
(shadow, compare, cutover) and below the runbook, whose gates it shuts.
"""
