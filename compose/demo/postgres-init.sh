#!/bin/bash
# Demo profile: the sample catalog (scripts/demo-schema.sql) in database sdr_demo, and a crawler role
# that may connect and read the catalog but is granted no SELECT on any table.
set -euo pipefail
crawler_password=$(cat /demo/crawler-password)
psql -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d postgres -v pw="$crawler_password" <<'SQL'
CREATE DATABASE sdr_demo;
CREATE ROLE sdr_demo_crawler LOGIN PASSWORD :'pw';
GRANT CONNECT ON DATABASE sdr_demo TO sdr_demo_crawler;
SQL
psql -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d sdr_demo -f /demo-schema.sql >/dev/null
psql -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d sdr_demo -c 'GRANT USAGE ON SCHEMA shop, analytics TO sdr_demo_crawler' >/dev/null
echo "sdr demo: loaded the sample catalog into sdr_demo"
