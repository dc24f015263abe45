"""Datasets: the two real sources (BBC News topics, VADER sentiment), user files, and the fixed splits."""

TASKS = ("task_a", "task_b")
SPLITS = ("train", "validation", "test")
