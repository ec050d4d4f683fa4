#!/usr/bin/env bash
# Makes sure the servers the tests of the distributed mode talk to are up:
#
#   - PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`),
#   - RabbitMQ on 127.0.0.1:5672 (guest/guest),
#
# starting them (and installing them from Debian's packages, if they are
# missing) with the commands this kind of machine uses. Idempotent: servers
# already up are left alone. The tests find them at those addresses unless
# TRAWL_TEST_DATABASE_URL / TRAWL_TEST_AMQP_URL say otherwise.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    local name=$1 port=$2
    for _ in $(seq 1 120); do
        up "$port" && { echo "$name is up on 127.0.0.1:$port"; return 0; }
        sleep 0.5
    done
    echo "error: $name did not come up on 127.0.0.1:$port" >&2
    return 1
}

install() {
    command -v apt-get >/dev/null || { echo "error: $1 is not installed and apt-get is not here" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

if ! up 5432; then
    [ -d /etc/postgresql ] || install postgresql
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
wait_for PostgreSQL 5432
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null
fi

if ! up 5672; then
    command -v rabbitmq-server >/dev/null || install rabbitmq-server
    rabbitmq-server -detached
fi
wait_for RabbitMQ 5672
