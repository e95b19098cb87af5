"""Media workers on rq: validation, posters and renditions, and the sweeps that keep jobs moving."""
