"""cspack: the quarterly Children's Services performance and budget pack.

All logic lives in this package; the notebooks in ``notebooks/`` each call one ``report/sections``
module and tell the story. The package is organised by concern, in layers (docs/architecture.md):

    core        paths, quarters, params (typed Settings), formatting, the table store   imports nothing else
    ingest      inputs, schemas, parsing, the ledger, SSDA903 (+ reference/ code lists), pseudonymisation
    finance     the budget position, forecasts and statements  |
    placements  history, model, simulation, baselines, backtest, aggregate  |  one layer: siblings
    measures    catalogue, ratings, DfE benchmarks, the measure table |
    quarter     QuarterContext (one declared cache), preparation, the per-quarter computations (budget
                view, placement bundle, performance measures, quality, freshness)
    report      render, disclosure, narrative, commentary, and sections/ (one module per notebook)
    build       runner, export, manifest, templates/
    public, batch  (issue 16)
    cli         the ``cspack`` command

The one-way dependency rule: a module imports only from its own subpackage and from layers below it,

    core <- ingest <- {finance, placements, measures} <- quarter <- report <- build <- public <- batch <- cli

never from a higher layer nor from a sibling of its layer, and no two modules import each other, even
inside a function (an import inside a function carries a comment saying why it cannot be at the top).
The synthetic-authority generator (``synthetic``, a developer tool) may import core, ingest and
placements; only cli, the benchmarks and the tests import it. No module is over 600 lines.
tests/test_architecture.py checks all of this by reading every module's imports.
"""

__version__ = "0.1.0"
