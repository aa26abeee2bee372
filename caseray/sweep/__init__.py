"""Layer 6, many trials: SweepSpec (axes -> validated trial specs), the results store, MLflow (tracking/,
the only MLflow package), Ray Tune/Train (ray/, the only Ray package), reading finished trials back."""
