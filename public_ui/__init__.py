"""The public site: pages anyone may read without an account (the campaign's landing page today; the
showcase and the results next), mounted as its own sub-app under /public."""
