"""Training-input pipeline: corpus, features, feature cache, loaders, train-step probe, verdict.

Built on lhotse (manifests, per-file numpy storage, Shar, cut samplers); the memory-mapped
shard cache and the build around it are ours (see docs/data.md for why).
"""
