"""Expert judging (issue 16 part A): the judging settings, judges' conflicts, the assignment of the frozen
snapshot's works to judges, and blind rubric scoring. The ranking and awards are ``clipjury.awards``."""
