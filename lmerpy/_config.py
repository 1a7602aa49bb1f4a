"""Which numerical backends this installation uses (``lmerpy.show_config()``)."""
import importlib


def cholmod_available():
    """True when scikit-sparse's CHOLMOD wrapper imports."""
    try:
        importlib.import_module("sksparse.cholmod")
    except Exception:  # noqa: BLE001 - any failure to import means "not available"
        return False
    return True


def config():
    """Return a dict describing the installed backends and versions."""
    import lark
    import numpy
    import pandas
    import scipy

    from . import __version__
    out = {"lmerpy": __version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
           "pandas": pandas.__version__, "lark": lark.__version__}
    try:
        import nlopt
        out["nlopt"] = nlopt.__version__ if hasattr(nlopt, "__version__") else "yes"
    except ImportError:
        out["nlopt"] = None
    if cholmod_available():
        import sksparse
        out["sparse_cholesky"] = f"cholmod (scikit-sparse {getattr(sksparse, '__version__', '?')})"
    else:
        out["sparse_cholesky"] = "scipy (scikit-sparse not installed)"
    return out


def show_config():
    """Print the backends in use, like ``numpy.show_config()``."""
    for k, v in config().items():
        print(f"{k:>16}: {v}")
