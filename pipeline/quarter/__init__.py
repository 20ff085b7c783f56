"""The quarter's context (QuarterContext) and the per-quarter computations the sections display."""
