#!/usr/bin/env bash
# Throwaway PostgreSQL and MariaDB servers on 127.0.0.1 for the storage tests.
#
#   eval "$(scripts/test-services.sh)"     start (installing from Debian if missing), print exports
#   source scripts/test-services.sh        the same, exporting into the current shell
#   scripts/test-services.sh status        exit 0 when both servers answer
#   scripts/test-services.sh stop          stop both servers (their data dirs stay, reused next start)
#
# Debian's own service units are not used: containers often have autostart disabled, and a
# cluster of our own in a scratch directory leaves the machine's databases alone. Both servers
# run with durability off (fsync) because the data is disposable. Settings, all optional:
#   LLMLEDGER_SERVICES_DIR (default /tmp/llmledger-services), LLMLEDGER_PG_PORT (55439),
#   LLMLEDGER_MYSQL_PORT (33079).
# The test user may create databases (PostgreSQL CREATEDB; MariaDB: any database named
# llmledger*), so each test can run in a database of its own.

_llmledger_services() {
    set -euo pipefail
    local dir=${LLMLEDGER_SERVICES_DIR:-/tmp/llmledger-services}
    local pg_port=${LLMLEDGER_PG_PORT:-55439}
    local my_port=${LLMLEDGER_MYSQL_PORT:-33079}
    local pg_dir=$dir/pg my_dir=$dir/my
    local pg_bin
    local pg_url="postgresql+psycopg://llmledger:llmledger@127.0.0.1:$pg_port/llmledger"
    local my_url="mysql+pymysql://llmledger:llmledger@127.0.0.1:$my_port/llmledger?charset=utf8mb4"

    _pg_bin() { find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1; }
    _pg_up() { "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; }
    _my_up() { mariadb-admin --no-defaults --socket="$my_dir/mysqld.sock" -u root ping >/dev/null 2>&1; }

    _install() {
        local missing=()
        [[ -n "$(_pg_bin)" ]] || missing+=(postgresql)
        command -v mariadbd-safe >/dev/null || missing+=(mariadb-server mariadb-client)
        if ((${#missing[@]})); then
            echo "installing ${missing[*]}" >&2
            apt-get update -q >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
        fi
    }

    _start_pg() {
        if _pg_up; then return; fi
        mkdir -p "$pg_dir"
        chown postgres:postgres "$pg_dir"
        if [[ ! -f $pg_dir/data/PG_VERSION ]]; then
            runuser -u postgres -- "$pg_bin/initdb" -D "$pg_dir/data" -U postgres \
                --auth-local=trust --auth-host=scram-sha-256 --no-sync >&2
        fi
        # Output to a log file, never to our stdout: CI waits for every holder of its pipe.
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off" start \
            </dev/null >&2
        local psql=("$pg_bin/psql" -h "$pg_dir" -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 -qtA)
        if [[ -z $("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'llmledger'") ]]; then
            "${psql[@]}" -c "CREATE ROLE llmledger LOGIN CREATEDB PASSWORD 'llmledger'" >&2
        fi
        if [[ -z $("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'llmledger'") ]]; then
            "${psql[@]}" -c "CREATE DATABASE llmledger OWNER llmledger" >&2
        fi
    }

    _start_my() {
        if _my_up; then return; fi
        mkdir -p "$my_dir"
        chown mysql:mysql "$my_dir"
        if [[ ! -d $my_dir/data/mysql ]]; then
            mariadb-install-db --no-defaults --datadir="$my_dir/data" --user=mysql \
                --skip-test-db --auth-root-authentication-method=socket >"$my_dir/install.log" 2>&1
        fi
        # setsid + redirections: the server must not hold the caller's terminal or pipes.
        setsid mariadbd-safe --no-defaults --datadir="$my_dir/data" --user=mysql \
            --port="$my_port" --bind-address=127.0.0.1 --socket="$my_dir/mysqld.sock" \
            --pid-file="$my_dir/mysqld.pid" --log-error="$my_dir/server.log" \
            --skip-name-resolve --character-set-server=utf8mb4 \
            --collation-server=utf8mb4_general_ci --innodb-flush-log-at-trx-commit=0 \
            --innodb-buffer-pool-size=128M </dev/null >/dev/null 2>&1 &
        local i
        for ((i = 0; i < 120; i++)); do
            if _my_up; then break; fi
            sleep 0.5
        done
        if ! _my_up; then
            echo "MariaDB did not start; see $my_dir/server.log" >&2
            return 1
        fi
        mariadb --no-defaults --socket="$my_dir/mysqld.sock" -u root >&2 <<'SQL'
CREATE USER IF NOT EXISTS 'llmledger'@'127.0.0.1' IDENTIFIED BY 'llmledger';
CREATE USER IF NOT EXISTS 'llmledger'@'localhost' IDENTIFIED BY 'llmledger';
GRANT ALL PRIVILEGES ON `llmledger%`.* TO 'llmledger'@'127.0.0.1';
GRANT ALL PRIVILEGES ON `llmledger%`.* TO 'llmledger'@'localhost';
CREATE DATABASE IF NOT EXISTS llmledger CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
SQL
    }

    _stop() {
        if [[ -n $pg_bin && -f $pg_dir/data/postmaster.pid ]]; then
            runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >&2 || true
        fi
        if _my_up; then
            mariadb-admin --no-defaults --socket="$my_dir/mysqld.sock" -u root shutdown >&2
        fi
    }

    case ${1:-start} in
    start)
        _install
        pg_bin=$(_pg_bin)
        _start_pg
        _start_my
        printf 'export LLMLEDGER_TEST_POSTGRES_URL=%q\n' "$pg_url"
        printf 'export LLMLEDGER_TEST_MYSQL_URL=%q\n' "$my_url"
        ;;
    status)
        pg_bin=$(_pg_bin)
        [[ -n $pg_bin ]] && _pg_up && _my_up
        ;;
    stop)
        pg_bin=$(_pg_bin)
        _stop
        ;;
    *)
        echo "usage: $0 [start|status|stop]" >&2
        return 2
        ;;
    esac
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
    # Sourced: run in a subshell so `set -e` stays out of the caller's shell, then export.
    eval "$(_llmledger_services "$@")"
else
    _llmledger_services "$@"
fi
