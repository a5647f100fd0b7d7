"""Sweeps beyond one process: the cells of a sweep, where each cell runs, what it is.

Nothing here imports mlflow: the sweep's record lives in avbench.sweeps.store.
"""
