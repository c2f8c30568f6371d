"""Name and kana search over `Case.search_text` (the household's folded names and readings).

A search is a substring match on the folded text (`normalize_kana`): `いのうえ`, `イノウエ` and
`井上` each find 井上 和子 (read いのうえ かずこ), and `高橋` finds 髙橋 (variant kanji of family
names fold to their everyday form: `casework.models.NAME_VARIANTS`). On PostgreSQL two GIN
indexes serve it
(migration casework 0007, docs/performance.md):

- `case_search_trgm` (pg_trgm) for three characters or more;
- `case_search_grams`, over `otagai_grams(search_text)` — every character and every pair of
  adjacent characters — for one and two characters, which have no trigram: `井上`, `林`.
  A text contains a one- or two-character query exactly when its grams contain the query,
  so the gram test is exact there; the `LIKE` stays as the rule on every database.

SQLite needs neither: the embedded default holds a few hundred cases.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, Value

from casework.models import normalize_kana

# pg_trgm extracts no trigram from a shorter pattern; below this the gram index serves.
TRIGRAM_MIN = 3


class _Grams(Func):
    function = "otagai_grams"


class _QueryGrams(Func):
    function = "otagai_query_grams"


class _Contains(Func):
    """`lhs @> rhs` on text arrays: the operator the GIN index `case_search_grams` serves."""

    template = "%(expressions)s"
    arg_joiner = " @> "
    output_field = BooleanField()


def name_search_q(q: str, *, with_grams: bool = True) -> Q | None:
    """The condition for a name or kana search, or None when there is nothing to search.

    `with_grams=False`: the `LIKE` alone, when the matches come from elsewhere (under row-level
    security, `otagai_rls_case_search`): the gram test could not use its index there and would
    compute every candidate's grams again (~70 µs a row: 120 ms for 井上 at 100,000 cases)."""
    folded = normalize_kana(q)
    if not folded:
        return None
    condition = Q(search_text__contains=folded)
    if with_grams and len(folded) < TRIGRAM_MIN and connection.vendor == "postgresql":
        grams: Any = _Contains(_Grams(F("search_text")), _QueryGrams(Value(folded)))
        condition &= Q(grams)
    return condition
