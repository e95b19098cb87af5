"""Reports: the provincial activity report due June 1 and the exports of every review list."""
