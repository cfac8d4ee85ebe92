"""yotsuba (四つ葉): an open testbed for four strategic ICT areas."""

__version__ = "0.1.0"
