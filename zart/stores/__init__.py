"""The stores: one protocol (``protocol``), its rules stated once (``rules``),
and its translations: ``memory`` (the reference), ``sqlite``, ``postgres``
and ``mysql``, each with its SQL in named files beside it. ``connect``
picks one from a URL."""
