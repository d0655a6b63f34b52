"""Text pieces the dedup filters share."""

import re

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
"""A number as written (``1,200``, ``3.5``): two texts whose number sequences differ are never duplicates."""
