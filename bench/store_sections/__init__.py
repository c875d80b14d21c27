"""The sections of ``bench/stores.py``, one module each (``a_baseline`` ...
``f_resume``, each with ``run(cx)``), over a shared harness: ``databases``
(the stores under test and their baselines), ``tracing`` (statements a
store sends) and ``harness`` (sizes, report, context, worker processes)."""
