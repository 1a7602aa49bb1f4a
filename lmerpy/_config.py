"""Which numerical backends this installation uses (``lmerpy.show_config()``), and lmerpy's
version (``lmerpy.__version__``, defined here so this report needs nothing of the package)."""
from __future__ import annotations

from typing import Dict, Optional

__version__ = "0.1.0"


def config() -> Dict[str, Optional[str]]:
    """Return a dict describing the installed backends and versions."""
    import lark
    import numpy
    import pandas
    import scipy

    out = {"lmerpy": __version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
           "pandas": pandas.__version__, "lark": lark.__version__}
    try:
        import nlopt
        out["nlopt"] = nlopt.__version__ if hasattr(nlopt, "__version__") else "yes"
    except ImportError:
        out["nlopt"] = None
    from .pls.factor.cholmod import cholmod_status
    usable, what = cholmod_status()
    out["sparse_cholesky"] = f"cholmod ({what})" if usable else f"scipy ({what})"
    return out


def show_config() -> None:
    """Print the backends in use, like ``numpy.show_config()``."""
    for k, v in config().items():
        print(f"{k:>16}: {v}")
