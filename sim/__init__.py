"""sim: the `sim` CLI and the pipeline (back ends, cross-check, sweeps); sim.accel is the accelerator model."""
