"""Designs choose arms from factors; each is a registered class (designs/base.py). Importing this package
registers every built-in design; adding one = one file here + one import line below.

May import: ablate.errors, ablate.params, ablate.registry, ablate.study (free of torch and MLflow, as the
study is: commands that train nothing start in about a second).
"""

from ablate.designs import add_one, explicit, fractional, full_factorial, loco, plackett_burman  # noqa: F401
from ablate.designs.base import DESIGNS, Design

__all__ = ["DESIGNS", "Design"]
