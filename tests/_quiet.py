"""Calling lmerpy with its warnings silenced, where a test checks numbers, not warnings."""
import warnings


def quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with every warning ignored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)
