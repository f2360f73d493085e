"""Evaluation protocols beyond a task's own test step: the few-label fusion table and its reports."""
