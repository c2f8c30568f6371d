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
from django.db.models.expressions import RawSQL

from casework.models import normalize_kana
from permissions import rls
from permissions.policy import CaseScope, active_shares_for

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


def rls_list_matches(
    user: Any, scope: CaseScope, filters: dict[str, Any], *, limit: int
) -> list[int] | None:
    """Under row-level security, the ids of the first `limit` cases of a name search in list
    order (newest first), for the list's count and pages; None when this way does not apply.

    It applies to a name search alone (no other filter) by a reader whom only shares open
    cases to (`CaseScope.shares_only`: no break-glass, no declared disaster), the usual search.
    `otagai_rls_case_search_list` (permissions 0016) takes the index's matches, sorted, and
    keeps those an active share of the reader opens until it has `limit`; each id is checked
    here once more against the reader's active shares (`policy.active_shares_for`, the rule of
    `cases_visible_to` in that scope), read from the share table under its own policy.
    Otherwise every match was read again from the case table, through its policy and the
    application's filter, to be sorted (~20 ms of database CPU for 1,671 matches at 100,000
    cases; docs/performance.md). The page's rows are still read through `cases_visible_to`."""
    folded = normalize_kana(filters.get("q") or "")
    if (
        not folded
        or not scope.caps
        or not scope.shares_only
        or any(value for key, value in filters.items() if key != "q")
        or not rls.restricted()
    ):
        return None
    shares = active_shares_for(user).filter(case_id=RawSQL("x.id", ())).order_by().values("pk")
    shares_sql, shares_params = shares.query.sql_with_params()
    # The function in a sub-select: run once, when executed. Passed directly, the planner
    # would also run it while planning, to estimate how many ids it returns. The ORM's own
    # SQL is inserted; every value is a parameter.
    sql = (
        "SELECT x.id FROM unnest((SELECT otagai_rls_case_search_list(%s, %s)))"  # noqa: S608
        f" WITH ORDINALITY AS x(id, n) WHERE EXISTS ({shares_sql}) ORDER BY x.n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [folded, limit, *shares_params])
        return [row[0] for row in cursor.fetchall()]
