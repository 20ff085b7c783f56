"""Many authorities' public-data packs in one batch on Dask distributed, and a roll-up of them.

``run.run_batch`` builds each named authority's pack as one Dask task (a ``LocalCluster`` with one worker
process per core by default, or an existing cluster), each in its own staging, work, runtime and
temporary folders; transient failures (a kernel that could not bind its ports or died) are retried,
any other failure is recorded and never stops the other authorities. ``rollup`` writes ``index.html``,
``tables.xlsx`` and ``manifest.json`` beside the packs; ``command`` is the ``cspack batch`` command.
Nothing is imported here, so ``cspack`` starts without importing Dask (seconds).
"""
