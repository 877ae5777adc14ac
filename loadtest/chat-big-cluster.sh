#!/usr/bin/env bash
# Used for issue 12 (loadtest/RESULTS.md): builds $OUT (default /tmp/sb-big): an embedded-cluster data dir (hub's schema, current migrations of BIN) holding
# 200,000 conversations of 2 members and 10,000,000 messages (50 each), vacuumed and analyzed.
set -u
BIN=$1 N=${2:-10000000} CONVS=${3:-200000}
W=${OUT:-/tmp/sb-big}; rm -rf $W; mkdir -p $W
export SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0
"$BIN/switchboard" serve --port 0 --ready-file $W/port --data-dir $W/data --log-level error >$W/hub.log 2>&1 &
h=$!; for _ in $(seq 600); do [ -s $W/port ] && break; sleep 0.1; done; kill -TERM $h; wait $h
PGD=$W/data/postgres
PGCTL="runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D $PGD/data"
$PGCTL status >/dev/null || $PGCTL -l $PGD/big.log -w -o "-k $PGD -c listen_addresses='' -p 5432 -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=4GB" start >/dev/null
C="host=$PGD port=5432 user=switchboard dbname=switchboard"
start=$(date +%s)
psql "$C" -v ON_ERROR_STOP=1 -q <<SQL
SET synchronous_commit = off;
INSERT INTO conversations (id, participants_key, created_by, last_seq, last_message_at)
  SELECT g, '["big-' || g || 'a","big-' || g || 'b"]', 'big-' || g || 'a', $N / $CONVS, now() FROM generate_series(1, $CONVS) g;
SELECT setval('conversations_id_seq', $CONVS);
INSERT INTO conversation_members (conversation_id, user_id, last_read_seq)
  SELECT g, 'big-' || g || s, $N / $CONVS FROM generate_series(1, $CONVS) g, (VALUES ('a'), ('b')) v(s);
INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, kind, body, created_at)
  SELECT 1 + (g - 1) % $CONVS, 1 + (g - 1) / $CONVS, 'big-' || (1 + (g - 1) % $CONVS) || (CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END),
         md5(g::text), 'text', jsonb_build_object('text', 'history message ' || g), now() - interval '1 second' * ($N - g)
  FROM generate_series(1, $N) g;
VACUUM ANALYZE;
SQL
echo "built in $(( $(date +%s) - start )) s"
psql "$C" -Atc "SELECT count(*), pg_size_pretty(pg_total_relation_size('messages')) FROM messages"
$PGCTL -m fast -w stop >/dev/null
du -sh $W
