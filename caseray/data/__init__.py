"""Layer 2, the data: tasks (operand grids), formats (direct, scratchpad, rule-following; planted faults),
splits (Leave-Square-Out, random), tokenizers and datasets (pure functions of their spec, cached as parquet),
grid pictures."""
