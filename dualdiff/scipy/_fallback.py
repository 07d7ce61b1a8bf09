"""What a ``dualdiff.scipy`` namespace does not serve is SciPy's own: the module-level
``__getattr__`` and ``__dir__`` of a drop-in namespace."""


def fallback(name, module):
    """``(__getattr__, __dir__)`` for the namespace ``name`` that defers to SciPy's ``module``.

    Examples
    --------
    >>> import scipy.linalg
    >>> getattr_, dir_ = fallback("mine", scipy.linalg)
    >>> getattr_("hankel") is scipy.linalg.hankel
    True
    """
    import sys

    def __getattr__(attr):
        try:
            return getattr(module, attr)
        except AttributeError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    def __dir__():
        own = vars(sys.modules[name]) if name in sys.modules else {}
        return sorted(set(own) | set(dir(module)))

    return __getattr__, __dir__
