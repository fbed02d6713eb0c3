-- One database per component (DESIGN.md §1: no component reads another's tables).
-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d).
-- Keep the list equal to shared.config.COMPONENTS: tests/deploy checks it.
CREATE DATABASE eyhub_gateway;
CREATE DATABASE eyhub_catalogue;
CREATE DATABASE eyhub_bookings;
CREATE DATABASE eyhub_mentoring;
CREATE DATABASE eyhub_budget;
