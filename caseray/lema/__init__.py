"""Layer 4, learning from mistakes: LemaSpec, planted and sampled mistakes, the exact corrector, and a LEMA
trial's pooled CoT + correction rows (the CoT trial is run through a callable handed in by the trial
layer)."""
