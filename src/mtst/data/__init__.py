"""Datasets: the two real sources (BBC News topics, VADER sentiment), user files, and the fixed splits."""

SPLITS = ("train", "validation", "test")
SUMMARY = "summary.json"
"""The record each data step (fetch, prepare, augment) writes beside its files: what it made, counted."""
