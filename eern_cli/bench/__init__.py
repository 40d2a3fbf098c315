"""Measurement: challenge-style timing, quality on test sets, metrics, model cost, machine facts and reports."""
