"""Run every chapter notebook in smoke mode unless the caller chose a mode.

`pytest` executes chapters/*.ipynb through nbmake; the kernels inherit this environment.
`GAPUTILS_MODE=standard pytest chapters` runs them in standard mode instead.
"""

import os

os.environ.setdefault("GAPUTILS_MODE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
