"""avbench: Hydra-configured benchmarks for voice pipelines, tracked in MLflow."""

__version__ = "0.1.0"
