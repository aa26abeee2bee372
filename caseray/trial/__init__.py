"""Layer 5, one trial as a plain function of a frozen TrialSpec, no Ray: run_trial (prepare -> fit ->
evaluate_and_write), per-cell results, metrics, the trial's figure."""
