"""Serving-layer differential testing: the same model behind several OpenAI-compatible servers,
compared request by request (``enginebugs difftest serve``).

``servers`` starts and stops the servers, ``client`` records exchanges, ``suite`` reads the request
suite, ``oracles`` judges recorded exchanges (pure functions), ``conventions`` is the table of
differences the OpenAI API leaves open, ``run`` ties them together and ``cli`` is the command.
"""
