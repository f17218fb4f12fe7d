#!/usr/bin/env bash
# Self-test of 0001_schema.sql (the PostgreSQL form of SQLite schema version 5): lays the schema
# into a fresh, uniquely named schema of database `test`, checks that the SQLite triggers'
# rules hold, and drops the schema again. Needs a PostgreSQL 15 on 127.0.0.1 that lets
# `postgres` in without a password. Exits non-zero when any check fails.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
schema_file="$here/../src/store/pg/0001_schema.sql"
schema="seliq_check_$$_$(date +%s)_${RANDOM}"
batch_schema="${schema}_batch"

PSQL=(psql -X -q -h 127.0.0.1 -U postgres -d test -v ON_ERROR_STOP=1 -v VERBOSITY=verbose)

cleanup() {
    "${PSQL[@]}" -c "DROP SCHEMA IF EXISTS \"$schema\" CASCADE; DROP SCHEMA IF EXISTS \"$batch_schema\" CASCADE;" >/dev/null 2>&1
}
trap cleanup EXIT

failures=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() {
    printf 'FAIL  %s\n' "$1"
    [ -n "${2:-}" ] && printf '      %s\n' "$2" | sed '2,$s/^/      /'
    failures=$((failures + 1))
}

# Run SQL in the test schema; stdout+stderr go to $out, the exit status is returned.
run() {
    out=$(PGOPTIONS="-c search_path=$schema" "${PSQL[@]}" -At -c "$1" 2>&1)
}

# The first ERROR line of $out, as "CODE: message".
error_of() { printf '%s\n' "$out" | sed -n 's/^ERROR:  //p' | head -n 1; }

# expect_ok NAME SQL
expect_ok() {
    if run "$2"; then pass "$1"; else fail "$1" "$out"; fi
}

# expect_message NAME SQL MESSAGE: fails with exactly MESSAGE, under any SQLSTATE but 23505.
expect_message() {
    local got
    if run "$2"; then fail "$1" "succeeded; expected: $3"; return; fi
    got=$(error_of)
    if [ "${got#*: }" = "$3" ] && [ "${got%%: *}" != "23505" ]; then
        pass "$1 [${got}]"
    else
        fail "$1" "expected: <not 23505>: $3, got: $got"
    fi
}

# expect_sqlstate NAME SQL CODE
expect_sqlstate() {
    local got
    if run "$2"; then fail "$1" "succeeded; expected SQLSTATE $3"; return; fi
    got=$(error_of)
    if [ "${got%%: *}" = "$3" ]; then pass "$1 [${got}]"; else fail "$1" "expected SQLSTATE $3, got: $got"; fi
}

# expect_value NAME SQL VALUE: the query succeeds and prints exactly VALUE.
expect_value() {
    if ! run "$2"; then fail "$1" "$out"; return; fi
    if [ "$out" = "$3" ]; then pass "$1"; else fail "$1" "expected: $3, got: $out"; fi
}

# --- Set-up: the schema file, run as psql runs files, stopping on the first error. ----------
if ! setup=$("${PSQL[@]}" -c "CREATE SCHEMA \"$schema\"" 2>&1); then
    echo "FAIL  create schema $schema: $setup"
    exit 1
fi
if setup=$(PGOPTIONS="-c search_path=$schema" "${PSQL[@]}" -f "$schema_file" 2>&1); then
    pass "schema file runs with ON_ERROR_STOP=1"
else
    fail "schema file runs with ON_ERROR_STOP=1" "$setup"
    exit 1
fi

# The gateway sends the file as one simple-query batch inside its migration transaction.
if setup=$("${PSQL[@]}" -c "CREATE SCHEMA \"$batch_schema\"" 2>&1) &&
    setup=$(PGOPTIONS="-c search_path=$batch_schema" "${PSQL[@]}" \
        -c "BEGIN; $(cat "$schema_file"); INSERT INTO seliq_schema (singleton, version) VALUES (TRUE, 5) ON CONFLICT (singleton) DO UPDATE SET version = excluded.version; COMMIT;" 2>&1); then
    pass "schema file runs as one simple-query batch in a transaction"
else
    fail "schema file runs as one simple-query batch in a transaction" "$setup"
fi

# --- Shape. ------------------------------------------------------------------------------------
cols() {
    echo "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = '$1'"
}
expect_value "tables of schema version 5 (no alert_sla) plus leases and replicas" \
    "SELECT string_agg(table_name, ',' ORDER BY table_name COLLATE \"C\") FROM information_schema.tables WHERE table_schema = current_schema()" \
    "alert_first_seen_minutes,alert_ledger,api_tokens,audit_checkpoints,audit_entries,audit_segments,bindings,checkpoints,credentials,dead_letters,gateway_keys,integration_state,integrations,leases,replicas,seliq_schema,sinks,sla_policies,workspace_keys,workspaces"
expect_value "integrations columns in SQLite order" "$(cols integrations)" \
    "id,workspace_id,name,kind,settings,source,first_window_secs,created_at,poll_interval_secs"
expect_value "bindings columns in SQLite order" "$(cols bindings)" \
    "source,binding_key,source_json,workspace_id,integration_id,server_guid"
expect_value "checkpoints columns in SQLite order" "$(cols checkpoints)" \
    "integration_id,cursor,sink,sink_offset,updated_at,version"
expect_value "no INTEGER column narrower than BIGINT" \
    "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND data_type IN ('integer', 'smallint')" \
    "0"
expect_value "every text column collates as \"C\"" \
    "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND data_type = 'text' AND collation_name IS DISTINCT FROM 'C'" \
    "0"
expect_value "named indexes present" \
    "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN ('bindings_by_key','bindings_by_server_guid','credentials_one_current','credentials_one_pending','dead_letters_by_integration','api_tokens_by_workspace','sla_policies_by_workspace','alert_ledger_by_key','alert_ledger_by_created')" \
    "alert_ledger_by_created,alert_ledger_by_key,api_tokens_by_workspace,bindings_by_key,bindings_by_server_guid,credentials_one_current,credentials_one_pending,dead_letters_by_integration,sla_policies_by_workspace"

# --- Fixtures. ---------------------------------------------------------------------------------
if ! run "
INSERT INTO workspaces (id, slug, plan, created_at) VALUES ('w1', 'acme', 'pro', '2024-01-01T00:00:00Z');
INSERT INTO integrations (id, workspace_id, name, kind, settings, source, created_at)
    VALUES ('i1', 'w1', 'splunk', 'splunk', '{}', 'splunk:a', 't'),
           ('i2', 'w1', 'splunk2', 'splunk', '{}', 'splunk:b', 't');
INSERT INTO bindings (source, binding_key, source_json, workspace_id, integration_id)
    VALUES ('splunk:a', 'k', '{}', 'w1', 'i1');
INSERT INTO credentials (integration_id, version, state, blob, created_at)
    VALUES ('i1', 1, 'current', '\\x00', 't');
INSERT INTO audit_entries (workspace_id, seq, request_id, at, actor, action, target, outcome, details, prev_hash, hash)
    SELECT 'w1', g, 'r', 't', 'a', 'x', 'y', 'success', '{}', 'p', 'h' FROM generate_series(1, 5) g;
INSERT INTO audit_checkpoints (workspace_id, seq, hash, at, key_id, signature)
    VALUES ('w1', 3, 'h3', 't', 'k1', 'sig-original');
INSERT INTO gateway_keys (purpose, key_id, kek_id, wrapped, created_at) VALUES ('audit', 'k1', 'kek1', '\\x01', 't');
INSERT INTO api_tokens (id, name, workspace_id, scope, secret_mac, kek_id, created_at, created_by)
    VALUES ('tok1', 'ci', 'w1', 'read', 'mac', 'kek1', 't', 'admin');
INSERT INTO sla_policies (workspace_id, body, actor, created_at) VALUES (NULL, '{}', 'admin', 't');
"; then
    fail "fixtures" "$out"
    exit 1
fi

# --- Workspaces. -------------------------------------------------------------------------------
expect_message "workspace slug update is refused" \
    "UPDATE workspaces SET slug = 'other' WHERE id = 'w1'" "workspace slugs are immutable"
expect_ok "workspace tombstone (deleted_at) and same-value slug update are allowed" \
    "UPDATE workspaces SET deleted_at = 't2', slug = 'acme' WHERE id = 'w1'"
expect_message "workspace delete is refused" \
    "DELETE FROM workspaces WHERE id = 'w1'" "workspaces are tombstoned, never deleted"
expect_message "workspace truncate is refused" \
    "TRUNCATE workspaces CASCADE" "workspaces are tombstoned, never deleted"

# --- Integrations. -----------------------------------------------------------------------------
expect_message "integration source change is refused" \
    "UPDATE integrations SET source = 'splunk:z' WHERE id = 'i1'" "an integration cannot move to another workspace or source"

# --- Audit entries. ----------------------------------------------------------------------------
expect_message "audit entry update is refused" \
    "UPDATE audit_entries SET details = 'x' WHERE workspace_id = 'w1' AND seq = 1" "audit entries are append-only"
expect_message "audit entry delete without a covering segment is refused" \
    "DELETE FROM audit_entries WHERE workspace_id = 'w1' AND seq = 1" "audit entries are append-only"
expect_message "audit entries truncate is refused" \
    "TRUNCATE audit_entries" "audit entries are append-only"
expect_ok "audit segment manifest insert" \
    "INSERT INTO audit_segments (workspace_id, first_seq, last_seq, last_hash, checkpoint, pruned_at) VALUES ('w1', 1, 3, 'h', 'c', 't')"
expect_message "audit delete reaching past the covered range is refused" \
    "DELETE FROM audit_entries WHERE workspace_id = 'w1' AND seq BETWEEN 1 AND 4" "audit entries are append-only"
expect_value "audit delete of a covered range succeeds" \
    "WITH d AS (DELETE FROM audit_entries WHERE workspace_id = 'w1' AND seq BETWEEN 1 AND 3 RETURNING seq)
     SELECT count(*) FROM d" "3"
expect_value "covered audit entries are gone afterwards" \
    "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM audit_entries" "4,5"
expect_message "audit segment update is refused" \
    "UPDATE audit_segments SET pruned_at = 'x'" "audit segment manifests are append-only"
expect_message "audit segment delete is refused" \
    "DELETE FROM audit_segments" "audit segment manifests are append-only"
expect_message "audit segments truncate is refused" \
    "TRUNCATE audit_segments" "audit segment manifests are append-only"

# --- Audit checkpoints. ------------------------------------------------------------------------
expect_value "checkpoint ON CONFLICT DO NOTHING at an existing seq succeeds and changes nothing" \
    "INSERT INTO audit_checkpoints (workspace_id, seq, hash, at, key_id, signature)
         VALUES ('w1', 3, 'h3-new', 't-new', 'k2', 'sig-new') ON CONFLICT (workspace_id, seq) DO NOTHING;
     SELECT count(*) || '|' || string_agg(hash || ',' || at || ',' || key_id || ',' || signature, ';') FROM audit_checkpoints" \
    "1|h3,t,k1,sig-original"
expect_message "audit checkpoint update is refused" \
    "UPDATE audit_checkpoints SET signature = 'x'" "audit checkpoints are append-only"
expect_message "audit checkpoint delete is refused" \
    "DELETE FROM audit_checkpoints" "audit checkpoints are append-only"
expect_message "audit checkpoints truncate is refused" \
    "TRUNCATE audit_checkpoints" "audit checkpoints are append-only"

# --- Bindings. ---------------------------------------------------------------------------------
expect_sqlstate "duplicate binding source is a unique violation" \
    "INSERT INTO bindings (source, binding_key, source_json, workspace_id, integration_id) VALUES ('splunk:a', 'k', '{}', 'w1', 'i2')" \
    "23505"

# --- Gateway keys. -----------------------------------------------------------------------------
expect_message "gateway key ON CONFLICT DO UPDATE changing key_id is refused" \
    "INSERT INTO gateway_keys (purpose, key_id, kek_id, wrapped, created_at) VALUES ('audit', 'k2', 'kek1', '\\x02', 't')
     ON CONFLICT (purpose) DO UPDATE SET key_id = excluded.key_id, wrapped = excluded.wrapped" \
    "gateway keys are never replaced, only rewrapped"
expect_value "gateway key rewrap through ON CONFLICT DO UPDATE (same key_id) is allowed" \
    "INSERT INTO gateway_keys (purpose, key_id, kek_id, wrapped, created_at) VALUES ('audit', 'k1', 'kek9', '\\x09', 't')
     ON CONFLICT (purpose) DO UPDATE SET key_id = excluded.key_id, kek_id = excluded.kek_id, wrapped = excluded.wrapped;
     SELECT key_id || ',' || kek_id FROM gateway_keys" "k1,kek9"
expect_value "gateway key rewrap (kek_id, wrapped) is allowed" \
    "UPDATE gateway_keys SET kek_id = 'kek2', wrapped = '\\x03' WHERE purpose = 'audit';
     SELECT key_id || ',' || kek_id FROM gateway_keys" "k1,kek2"
expect_message "gateway key delete is refused" \
    "DELETE FROM gateway_keys" "gateway keys are never deleted"
expect_message "gateway keys truncate is refused" \
    "TRUNCATE gateway_keys" "gateway keys are never deleted"

# --- API tokens. -------------------------------------------------------------------------------
expect_message "api token name update is refused" \
    "UPDATE api_tokens SET name = 'other' WHERE id = 'tok1'" "API tokens are immutable; revoke and create a new one"
expect_value "api token revocation (revoked_at) is allowed" \
    "UPDATE api_tokens SET revoked_at = 't2' WHERE id = 'tok1'; SELECT revoked_at FROM api_tokens" "t2"
expect_message "api token delete is refused" \
    "DELETE FROM api_tokens" "API tokens are revoked, never deleted"
expect_message "api tokens truncate is refused" \
    "TRUNCATE api_tokens" "API tokens are revoked, never deleted"

# --- SLA policies. -----------------------------------------------------------------------------
expect_message "sla policy update is refused" \
    "UPDATE sla_policies SET body = '{\"x\":1}'" "sla policies are append-only"
expect_message "sla policy delete is refused" \
    "DELETE FROM sla_policies" "sla policies are append-only"
expect_message "sla policies truncate is refused" \
    "TRUNCATE sla_policies" "sla policies are append-only"
expect_value "sla policy versions are generated, explicit ones accepted" \
    "INSERT INTO sla_policies (version, workspace_id, body, actor, created_at) VALUES (10, 'w1', '{}', 'a', 't');
     SELECT string_agg(version::text, ',' ORDER BY version) FROM sla_policies" "1,10"

# --- Alert ledger. -----------------------------------------------------------------------------
ledger_insert() {
    echo "INSERT INTO alert_ledger (key, workspace_id, source, alert_id, severity, created_at, policy_version, first_seen_at)
          VALUES (decode('$1', 'hex'), 'w1', 'splunk:a', 'a1', 'high', 't', 1, 't')"
}
expect_sqlstate "alert ledger key of 15 bytes is refused (check violation)" \
    "$(ledger_insert 000102030405060708090a0b0c0d0e)" "23514"
expect_ok "alert ledger key of 16 bytes is accepted" \
    "$(ledger_insert 000102030405060708090a0b0c0d0e0f)"
expect_sqlstate "alert ledger duplicate key is a unique violation" \
    "$(ledger_insert 000102030405060708090a0b0c0d0e0f)" "23505"

# --- Credentials. ------------------------------------------------------------------------------
expect_sqlstate "second current credential of one integration is a unique violation" \
    "INSERT INTO credentials (integration_id, version, state, blob, created_at) VALUES ('i1', 2, 'current', '\\x00', 't')" \
    "23505"
expect_ok "a pending credential beside the current one is accepted" \
    "INSERT INTO credentials (integration_id, version, state, blob, created_at) VALUES ('i1', 2, 'pending', '\\x00', 't')"
expect_value "deleting an integration cascades to its binding and credentials" \
    "DELETE FROM integrations WHERE id = 'i1';
     SELECT (SELECT count(*) FROM bindings) || ',' || (SELECT count(*) FROM credentials)" "0,0"

# --- Schema version table. ---------------------------------------------------------------------
expect_value "seliq_schema is created empty" "SELECT count(*) FROM seliq_schema" "0"
expect_value "seliq_schema upsert as the gateway does it" \
    "INSERT INTO seliq_schema (singleton, version) VALUES (TRUE, 5) ON CONFLICT (singleton) DO UPDATE SET version = excluded.version;
     INSERT INTO seliq_schema (singleton, version) VALUES (TRUE, 6) ON CONFLICT (singleton) DO UPDATE SET version = excluded.version;
     SELECT count(*) || ',' || max(version) FROM seliq_schema" "1,6"
expect_sqlstate "seliq_schema holds one row only" \
    "INSERT INTO seliq_schema (singleton, version) VALUES (FALSE, 7)" "23514"

echo
if [ "$failures" -eq 0 ]; then
    echo "all checks passed"
else
    echo "$failures check(s) FAILED"
    exit 1
fi
