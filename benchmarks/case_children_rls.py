"""Planning and execution time of the case child tables' statements under row-level security.

As the application role, with a reader of the largest non-council agency set as
`otagai.user_id`, runs `EXPLAIN (ANALYZE, FORMAT JSON)` of the reads the case detail page makes
on each child table (one visible case) and prints the median planning and execution time per
table (docs/performance.md, "Case child tables under RLS"). Needs a built dataset
(benchmarks/case_list.py) and PostgreSQL: `DATABASE_URL=postgres://... python
benchmarks/case_children_rls.py [--reps N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

TABLES = (
    "casework_householdmember",
    "casework_case_need_categories",
    "casework_chronologyentry",
    "casework_watchassignment",
    "casework_visitlog",
    "casework_evacuationplan",
    "casework_safetymark",
    "casework_concern",
)

READER = """
SELECT m.user_id, s.case_id FROM permissions_share s
JOIN permissions_membership m ON m.agency_id = s.agency_id
WHERE s.agency_id = (SELECT agency_id FROM permissions_share GROUP BY agency_id
                     ORDER BY count(*) DESC OFFSET 1 LIMIT 1)
  AND (s.expires_at IS NULL OR s.expires_at > now()) AND s.basis <> 'consent'
  AND EXISTS (SELECT 1 FROM casework_householdmember h WHERE h.case_id = s.case_id)
ORDER BY s.case_id, m.user_id LIMIT 1
"""


def measure(cur, table: str, case_id: int, reps: int) -> dict[str, float]:
    planning, execution = [], []
    for _ in range(reps):
        cur.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM {table} WHERE case_id = %s",
            [case_id],
        )
        plan = cur.fetchone()[0][0]
        planning.append(plan["Planning Time"])
        execution.append(plan["Execution Time"])
    return {
        "planning_ms": round(statistics.median(planning), 3),
        "execution_ms": round(statistics.median(execution), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM django_migrations WHERE app = 'permissions' "
                    "ORDER BY id DESC LIMIT 1")  # fmt: skip
        migration = cur.fetchone()[0]
        cur.execute(READER)
        user_id, case_id = cur.fetchone()
        print(f"permissions at {migration}; reader {user_id}, case {case_id}; "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")  # fmt: skip
        cur.execute("BEGIN")
        cur.execute(f"SET LOCAL ROLE {settings.DATABASE_APP_ROLE}")
        cur.execute("SELECT set_config('otagai.user_id', %s, true)", [str(user_id)])
        results = {}
        for table in TABLES:
            measure(cur, table, case_id, 3)  # warm the connection's plan caches
            results[table] = measure(cur, table, case_id, args.reps)
            print(f"{table:34} planning {results[table]['planning_ms']:6.3f} ms  "
                  f"execution {results[table]['execution_ms']:6.3f} ms")  # fmt: skip
        cur.execute("ROLLBACK")
    print(json.dumps({"migration": migration, "load_average": os.getloadavg()[0], **results}))


if __name__ == "__main__":
    main()
