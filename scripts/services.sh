#!/usr/bin/env bash
# Starts the machine's local services if they are down (same commands the machine uses at boot).
set -uo pipefail
up() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_port() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 1; done; echo "service on port $1 did not come up" >&2; return 1; }
if ! up 5432; then
  echo "starting PostgreSQL"; pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_port 5432 || exit 1
fi
if ! up 5672; then
  echo "starting RabbitMQ"; rabbitmq-server -detached
  wait_port 5672 || exit 1
fi
if ! up 6379; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 || exit 1
fi
if ! up 3306; then
  echo "starting MariaDB"; service mariadb start >/dev/null 2>&1 || (mysqld_safe >/dev/null 2>&1 &)
  wait_port 3306 || exit 1
fi
exit 0
