"""Layer 7, reading results: aggregation over seeds, hole-map grids and curves, the report, step coverage,
the studies' claims judged (reproduce), a sweep's cost (plan)."""
