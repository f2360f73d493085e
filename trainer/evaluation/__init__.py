"""Evaluation protocols beyond a task's own test step: the few-label fusion table and its reports,
cross-validated accuracy with intervals (``crossval``) and the choice of a prior's fusion exponent
(``prior_exponent``)."""
