#!/bin/sh
# The application role (docs/deploy.md, "Database roles"). Run by the postgres image on its
# first start, as POSTGRES_USER (the owner role, which runs migrations and owns the tables).
# Safe to run again on an existing database, e.g. to change the password:
#   docker-compose exec db sh /docker-entrypoint-initdb.d/10-app-role.sh
#
# The app role logs in, is not a superuser, cannot bypass row-level security and owns
# nothing; it reads and writes the owner's tables and uses its sequences, including tables
# that later migrations create (ALTER DEFAULT PRIVILEGES). The `rls` migration grants the
# same on tables that already exist and adds the policies.
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}"
: "${APP_DB_PASSWORD:?set APP_DB_PASSWORD: the application role's password}"
app_role="${DATABASE_APP_ROLE:-otagai_app}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=app_role="$app_role" --set=app_password="$APP_DB_PASSWORD" \
    --set=owner="$POSTGRES_USER" --set=db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
SELECT format(
    'ALTER ROLE %I WITH LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION '
    'PASSWORD %L', :'app_role', :'app_password') \gexec
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app_role";
GRANT USAGE ON SCHEMA public TO :"app_role";
REVOKE CREATE ON SCHEMA public FROM :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
-- Tables that exist already (a re-run on a migrated database).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
SQL
echo "application role $app_role ready (owner: $POSTGRES_USER)"
