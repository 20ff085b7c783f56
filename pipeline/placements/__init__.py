"""Children's placements: history, the cost model, simulation, baselines and backtest, the annual DfE-count projection (aggregate)."""
