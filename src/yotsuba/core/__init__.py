"""Shared foundations: errors, units, configs, sweeps, run storage, reports."""
