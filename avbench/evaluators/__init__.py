"""Evaluators: one figure family each, computed after timing (see avbench.phases.evaluate)."""
