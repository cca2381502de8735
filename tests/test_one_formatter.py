"""One formatter: no dollar formatting outside costlens/core/fmt.py (issue 20: money was
formatted six ways). A scan of the source, and a check that the scan catches the old forms."""

from __future__ import annotations

import re

from tests.conftest import REPO

FORMATTER = "costlens/core/fmt.py"
# Dollar formatting as it was written before the one formatter (each a real past line):
# f"${v:,.0f}", f"{sign}${abs(v):,.2f}", "${:,.0f}".format, "$" + text, d3's "%{y:$,.2f}" and
# "$%{y:,.3~g}" in Plotly hover templates, and "$%.2f" % v.
DOLLAR_FORMATTING = re.compile(
    r"""\$\{(?!TOKEN_ENV\})"""  # f"${value...}" (but "$TOKEN_ENV" names a variable)
    r"""|["']\$["']\s*\+|\+\s*["']\$["']"""  # "$" + text
    r"""|\$%\{|%\{[^}]*:\$"""  # Plotly/d3: $%{y} and %{y:$,.2f}
    r"""|\$%[-+ 0-9.,]*[dfge]"""  # "$%.2f" % value
)
# Lines where "${" is not money: an Excel absolute reference ('Summary'!$B$7).
NOT_MONEY = re.compile(r"!\$\{")


def dollar_formatting(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if DOLLAR_FORMATTING.search(line) and not NOT_MONEY.search(line)
    ]


def test_the_scan_catches_the_old_forms():
    old = [
        'return f"${value:,.0f}"',
        'return f"{sign}${abs(value):,.{_small_digits(value, digits)}f}"',
        'interval_text(r, "cost_usd", "${:,.0f}")',
        'hovertemplate="%{x}: %{y:$,.2f}<extra>expected</extra>"',
        'hovertemplate="%{x}<br>$%{y:,.3~g}<extra>"',
        'label = "$" + text',
        'text = "$%.2f" % value',
    ]
    assert [dollar_formatting(line) for line in old] == [[line] for line in old]
    assert not dollar_formatting("ref = f\"'Summary'!${get_column_letter(col)}${total_row}\"")
    assert not dollar_formatting('help=f"Default: ${TOKEN_ENV}."')


def test_no_dollar_formatting_outside_the_one_formatter():
    found = {}
    for folder in ("costlens", "dashboard"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == FORMATTER:
                continue
            hits = dollar_formatting(path.read_text())
            if hits:
                found[rel] = hits
    assert not found, f"dollar formatting outside {FORMATTER} (use costlens.core.fmt): {found}"
