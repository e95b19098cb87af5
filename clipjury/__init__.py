"""clipjury: public micro-video contests, from upload to awards."""

__version__ = "0.1.0"
