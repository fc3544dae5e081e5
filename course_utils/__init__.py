"""Building blocks for the deep generative models course.

Each notebook imports what earlier notebooks taught from here: ``runtime`` (device, seeding,
``COURSE_MODE``), ``data``, ``losses``, ``models``, ``estimators``, ``training``, ``plotting``,
``widgets`` and ``checks`` (the students' self-checks, one module per notebook).
"""

from .runtime import by_mode, get_device, get_mode, is_lecture, print_setup, seed_everything

__all__ = ["by_mode", "get_device", "get_mode", "is_lecture", "print_setup", "seed_everything"]
__version__ = "0.1.0"
