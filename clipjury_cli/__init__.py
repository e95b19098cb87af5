"""The ``clipjury`` command line: the one place that wires every part together (the API server, the
workers, the domains' commands), so it lives above them all and the domain package imports none of them.
"""
