"""Rich display in Jupyter (``_repr_html_``): R's printed text, escaped, in a ``<pre>`` block.

The notebook shows exactly what ``print()`` shows (lme4's layout, aligned columns), so a table
reads the same in a terminal, a notebook and R.
"""
import html


def pre_html(text: str) -> str:
    """``text`` HTML-escaped in a ``<pre class="lmerpy">`` block."""
    return f'<pre class="lmerpy">{html.escape(text)}</pre>'
