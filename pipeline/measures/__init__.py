"""Performance measures: the catalogue, ratings and DfE benchmarks."""
