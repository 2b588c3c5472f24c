-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d).
-- Creates the role and database that the Marquez image's marquez.dev.yml connects with (marquez/marquez@marquez),
-- as Marquez's own docker/init-db.sh does from its MARQUEZ_USER / MARQUEZ_PASSWORD / MARQUEZ_DB variables.
CREATE USER marquez WITH PASSWORD 'marquez';
CREATE DATABASE marquez OWNER marquez;
GRANT ALL PRIVILEGES ON DATABASE marquez TO marquez;
