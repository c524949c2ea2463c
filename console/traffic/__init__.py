"""Network and cost scope: which bytes cross which boundary, and what that costs.

``rates`` turns the sampled log sizes, copy positions and consumer positions into bytes
per second (pure); ``scope`` places those flows on the plan's ``[topology]`` and prices
each boundary crossing at the per-GB prices the plan states (pure; nothing is ever
fetched); ``load`` reads the samples from the run database. The result informs the
review beside the evidence it comes from; it is no verdict and never averages into a
scorecard area.
"""
