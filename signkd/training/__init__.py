"""Trainer: stages, loss schedules, optimisation, checkpoints, DDP, evaluation and reports."""
