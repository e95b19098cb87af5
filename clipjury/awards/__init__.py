"""Awards: from the judges' rubric scores and the frozen likes snapshot to a ranking, award levels, versions,
organising-unit awards and certificates.

The modules here are pure computations (no database, no clock): the judging and awards services load the
rows, call them, and store what they return as a versioned snapshot. The README's "Awards: how the ranking
is computed" section documents every formula with a worked example.
"""
