-- One role owning one database (deploy/postgres/init-roles.sh runs it as the superuser, once
-- per database). psql variables: role, password_variable (the environment variable holding
-- the role's password), database. Each statement stands alone (CREATE DATABASE cannot run in
-- a transaction); every one is idempotent.

-- Never write the password to the server's log, not even with a failing statement.
SET log_statement = 'none';
SET log_min_error_statement = 'panic';

\getenv password :password_variable
\if :{?password}
\else
  \echo 'roles.sql: the environment variable' :password_variable 'is not set'
  DO $$ BEGIN RAISE EXCEPTION 'no password for the role'; END $$;
\endif

SELECT format('CREATE ROLE %I', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'password';

SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
ALTER DATABASE :"database" OWNER TO :"role";
-- Only its owner connects: the other role (and any future one) is refused at the door.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
