"""cspack: the quarterly Children's Services performance and budget pack.

All logic lives in this package; notebooks in ``notebooks/`` call it and tell the story.
"""

__version__ = "0.1.0"
