"""mkdocs hook: render Sphinx roles left in docstrings (``:func:`lmer```) as plain code.

lmerpy's docstrings are NumPy style and some use Sphinx cross-reference roles, which
mkdocstrings does not interpret; without this hook the site would show ``:func:lmer``. The
hook only removes the ``:role:`` prefix before an inline code span in the rendered HTML.
"""
import re

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|obj|exc|const|term|ref):(?=<code>)")


def on_page_content(html, **kwargs):
    return _ROLE.sub("", html)
