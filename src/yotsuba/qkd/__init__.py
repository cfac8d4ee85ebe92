"""Quantum key distribution: physics-based key rates for QKD links.

Public entry points (imported lazily by the CLI): :mod:`yotsuba.qkd.device` (the link config
and presets), :mod:`yotsuba.qkd.rates` (key rate, maximal distance, rate series over time).
"""
