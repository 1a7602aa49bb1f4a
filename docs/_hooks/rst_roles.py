"""mkdocs hook: render Sphinx roles left in docstrings (``:func:`lmer```) as plain code.

lmerpy's docstrings are NumPy style and some use Sphinx cross-reference roles, which
mkdocstrings does not interpret; without this hook the site would show ``:func:lmer``. The
hook removes the ``:role:`` prefix before an inline code span in the rendered HTML and, as
Sphinx does, shows ``~a.b.C`` as ``C``.
"""
import re

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|obj|exc|const|term|ref):"
                   r"<code>(?P<tilde>~?)(?P<name>[^<]*)</code>")


def _plain(match):
    name = match.group("name")
    if match.group("tilde"):
        name = name.rsplit(".", 1)[-1]
    return f"<code>{name}</code>"


def on_page_content(html, **kwargs):
    return _ROLE.sub(_plain, html)
