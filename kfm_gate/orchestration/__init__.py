"""Dagster orchestration of the gate: partitions, assets, checks, sensors, resources.

Only this package imports dagster, and only in its Dagster modules (``partitions``, ``assets``,
``checks``, ``sensors``, ``resources``, ``translator``, ``definitions``, ``runner``). The
modules ``areas``, ``survey``, ``sources``, ``processing`` and ``publication`` are plain Python
(the benchmark and the demo generator use them without Dagster), and ``commands`` imports
Dagster only inside its command functions so that the CLI starts fast.

Load the definitions with ``dagster dev -m kfm_gate.orchestration.definitions``.
"""
