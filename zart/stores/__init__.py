"""The stores: one protocol (``protocol``), its rules stated once (``rules``),
and its translations: ``memory`` (the reference), ``sqlite`` and
``postgres``, each SQL store with its statements in named files beside it. ``connect``
picks one from a URL."""
